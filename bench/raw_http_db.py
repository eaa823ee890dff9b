"""The raw limit beside the gateway: the least an HTTP request that touches PostgreSQL can cost.

    python bench/raw_http_db.py PORT DATABASE_URL

A bare ASGI app (no framework, no middleware) under uvicorn with the gateway's own server
settings, and an asyncpg pool of the gateway's size: every request reads its body, runs
`SELECT 1` on a pooled connection and answers a small JSON document. uvicorn picks uvloop
and httptools when they can be imported, as it does for the gateway, so the two are
measured with the same event loop and HTTP parser (bench/gateway_load.py starts both).
"""

from __future__ import annotations

import contextlib
import json
import sys

import asyncpg
import uvicorn

BODY = json.dumps({"ok": True}).encode()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


def app_for(database_url: str):  # type: ignore[no-untyped-def]
    pool: asyncpg.Pool | None = None

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal pool
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10)  # as db.create_pool
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if pool is not None:
                        with contextlib.suppress(Exception):
                            await pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:  # the whole body, as a JSON route reads it
            message = await receive()
            more = message.get("more_body", False)
        assert pool is not None
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})

    return app


def main() -> None:
    port, database_url = int(sys.argv[1]), sys.argv[2]
    # The settings plumbing/service.py's `run` gives every service.
    uvicorn.run(
        app_for(database_url), host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_keep_alive=75
    )


if __name__ == "__main__":
    main()
