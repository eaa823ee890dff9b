"""The Idempotency-Key header on POSTs (IETF httpapi-idempotency-key-header draft).

Same key and same payload replays the stored response; same key with another payload is
422; the same key while its first request is still running is 409. Keys are scoped to the
calling principal, and a request that fails releases its key so it can be retried. A
claim left "in progress" by a process that died mid-request expires after
`IN_FLIGHT_EXPIRY_S` so the client's retry is not refused forever; a request's effect is
cut off (rolled back, its claim released, 503) after `EFFECT_DEADLINE_S`, well before
that, so a claim never expires while its request still runs (a retry would run the effect
a second time).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Header
from fastapi.responses import JSONResponse

from plumbing.auth import Principal
from plumbing.problems import Problem

Effect = Callable[[asyncpg.Connection], Awaitable[tuple[int, dict[str, Any]]]]
IN_FLIGHT_EXPIRY_S = 60
EFFECT_DEADLINE_S = 40.0  # the effect's transaction ends before its claim could expire

# The header as every POST that honours it declares it (the schema says what run_once checks).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Repeat a request safely: the same key with the same body gets the same answer.",
    ),
]

# Claim the key in one statement: a new row, or one left in progress longer than the expiry
# by a process that died (taken over as if new); nothing if the key is otherwise taken.
CLAIM = f"""
INSERT INTO idempotency_keys AS k (principal, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, created_at = now()
  WHERE k.status_code IS NULL AND k.created_at < now() - interval '{IN_FLIGHT_EXPIRY_S} seconds'
RETURNING 1
"""

# `CLAIM` for several keys in one statement (plumbing/group_commit.py): the pairs claimed.
# Each (principal, key) at most once per statement (ON CONFLICT DO UPDATE cannot touch a row
# twice), in one order, so two groups claiming the same keys never wait on each other crosswise.
CLAIM_MANY = f"""
INSERT INTO idempotency_keys AS k (principal, key, request_hash)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT (principal, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, created_at = now()
  WHERE k.status_code IS NULL AND k.created_at < now() - interval '{IN_FLIGHT_EXPIRY_S} seconds'
RETURNING principal, key
"""


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def run_once(
    pool: asyncpg.Pool,
    who: Principal,
    key: str | None,
    payload: Any,
    effect: Effect,
) -> JSONResponse:
    """Run `effect` in one transaction, at most once per (principal, key)."""
    if key is None:
        async with pool.acquire() as conn, conn.transaction():
            status, body = await effect(conn)
        return JSONResponse(body, status_code=status)
    if not 1 <= len(key) <= 255:
        raise Problem(400, "bad-idempotency-key", "Idempotency-Key must be 1 to 255 characters")

    digest = fingerprint(payload)
    claimed = False
    try:
        # One pooled connection for the whole request: the claim (committed on its own, so a
        # concurrent request with the key sees it at once), then the effect's transaction.
        async with pool.acquire() as conn:
            claimed = bool(await conn.fetchval(CLAIM, who.ref, key, digest))
            if not claimed:
                return await answered(conn, who, key, digest)
            async with asyncio.timeout(EFFECT_DEADLINE_S), conn.transaction():
                status, body = await effect(conn)
                await conn.execute(
                    "UPDATE idempotency_keys SET status_code = $3, response = $4 WHERE principal = $1 AND key = $2",
                    who.ref,
                    key,
                    status,
                    json.dumps(body, default=str),
                )
    except BaseException:
        if claimed:  # release the key, so the request can be retried
            await pool.execute("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2", who.ref, key)
        raise
    return JSONResponse(body, status_code=status)


async def answered(conn: asyncpg.Connection, who: Principal, key: str, digest: str) -> JSONResponse:
    """The key is taken: replay its stored answer, or the problem why not."""
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE principal = $1 AND key = $2",
        who.ref,
        key,
    )
    if row is None:  # released by a failed first attempt between our two statements
        raise Problem(409, "idempotency-key-in-use", "Retry", "the first request with this key just failed; retry")
    if row["request_hash"] != digest:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key reused with a different payload")
    if row["status_code"] is None:
        raise Problem(409, "idempotency-key-in-use", "A request with this Idempotency-Key is still in progress")
    return JSONResponse(json.loads(row["response"]), status_code=row["status_code"], headers={"Idempotent-Replayed": "true"})

