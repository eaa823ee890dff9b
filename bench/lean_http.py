"""A lean HTTP/1.1 client for load generation: one keep-alive connection, JSON in and out.

On the 2-core machine the benchmark's clients share the CPUs with the server they measure.
httpx spends about 3 ms of CPU per request (more than the gateway itself spent), so with it
the load generator, not the server, set the ceiling. This client does only what the load
needs (a request line, a few headers, a body with Content-Length; a response with
Content-Length or chunked) and costs a small fraction of that. It speaks to a server on
this machine only: the benchmarks start the servers they measure.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any
from urllib.parse import urlencode, urlsplit


class HttpError(Exception):
    """The connection failed, timed out or the answer was not HTTP/1.1 we can read."""


class Response:
    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # names lowercased
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class _Headers(dict):
    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())


class Client:
    """One keep-alive connection to `base` (http://host:port), reopened when the server closes it."""

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, not {base!r}")
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.authority = f"{parts.hostname}:{parts.port}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Response:
        """`url` is the base plus a path (as httpx takes it) or a path alone; the body is `json`
        (encoded here) or `content` (bytes sent as they are, their Content-Type in `headers`)."""
        if url.startswith("http://"):
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        else:
            path = url
        if params:
            path += "?" + urlencode(params)
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
        else:
            body = content or b""
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.authority]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}".encode())
        if json is not None:
            head.append(b"Content-Type: application/json")
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: " + str(len(body)).encode())
        message = b"\r\n".join(head) + b"\r\n\r\n" + body
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(message)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            await self.aclose()
            raise HttpError(f"{method} {path}: {exc!r}") from exc

    async def _exchange(self, message: bytes) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(message)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = _Headers()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            content = await self._chunked()
        else:  # the body runs to the end of the connection
            content = await self._reader.read()
            await self.aclose()
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return Response(status, headers, content)

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while (await self._reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)


class Pool:
    """`size` keep-alive connections to `base`, each carrying one request at a time: a request
    takes an idle connection (waiting for one when all are out) and gives it back after its
    answer. What an open-loop load needs from httpx's pool, without its cost (httpcore scans
    every connection and queued request on each change)."""

    def __init__(self, base: str, size: int, timeout: float = 30.0) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self._idle: asyncio.LifoQueue[Client] = asyncio.LifoQueue()
        self._clients = [Client(base, timeout) for _ in range(size)]
        for client in self._clients:
            self._idle.put_nowait(client)

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        """As `Client.request`, on whichever connection is idle."""
        client = await self._idle.get()
        try:
            return await client.request(method, url, **kwargs)
        finally:
            self._idle.put_nowait(client)
