"""bench/lean_http.py, the benchmarks' load client: a body sent as given, and a pool whose
connections each carry one request at a time and come back after an answer or a failure."""

from __future__ import annotations

import asyncio

import pytest

from bench import lean_http


async def _server(seen: list[tuple[int, bytes]], hold: asyncio.Event | None = None) -> asyncio.Server:
    """Answers every request with 200 and the body it got; notes (connection number, body).
    With `hold`, an answer waits for it (requests pile up on their connections)."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
                )
                body = await reader.readexactly(length)
                seen.append((number, body))
                if hold is not None:
                    await hold.wait()
                if body == b"close":
                    writer.close()
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def _base(server: asyncio.Server) -> str:
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def test_content_is_sent_as_given_and_a_pool_uses_a_connection_a_request_in_flight() -> None:
    async def run() -> None:
        seen: list[tuple[int, bytes]] = []
        hold = asyncio.Event()
        server = await _server(seen, hold)
        async with server, lean_http.Pool(_base(server), size=3) as pool:
            requests = [
                asyncio.create_task(pool.request("POST", "/x", content=b'{"n": %d}' % i, headers={"Content-Type": "application/json"}))
                for i in range(3)
            ]
            while len(seen) < 3:  # all three out at once, before any answer
                await asyncio.sleep(0.001)
            assert sorted(number for number, _ in seen) == [1, 2, 3]  # each on a connection of its own
            hold.set()
            answers = await asyncio.gather(*requests)
            assert sorted(r.content for r in answers) == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
            assert all(r.status_code == 200 for r in answers)
            # later requests reuse the three connections (kept alive), none opened anew
            for i in range(6):
                await pool.request("POST", "/x", content=b"again %d" % i)
            assert {number for number, _ in seen} == {1, 2, 3}

    asyncio.run(run())


def test_a_pool_gives_a_failed_connection_back_and_it_reconnects() -> None:
    async def run() -> None:
        seen: list[tuple[int, bytes]] = []
        server = await _server(seen)
        async with server, lean_http.Pool(_base(server), size=1, timeout=5.0) as pool:
            with pytest.raises(lean_http.HttpError):
                await pool.request("POST", "/x", content=b"close")  # the server hangs up unanswered
            answer = await pool.request("POST", "/x", content=b"after")  # the one connection, again
            assert answer.content == b"after"
            assert [number for number, _ in seen] == [1, 2]  # a new connection for the second

    asyncio.run(run())
