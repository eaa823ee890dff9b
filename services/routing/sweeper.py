"""Deciding again when an opening's fair-share hold ends: no event marks that moment.

While an opening is young, the fair-share rule may keep a partner's candidates waiting
unmatched (see domain.py). When the hold ends, those referrals may now take the remaining
slots; the sweeper finds each opening whose hold ended, once, and re-routes the referrals
waiting for it, in one transaction per batch, through the same code as an opening event.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from plumbing.logging import get_logger
from services.routing import domain, handlers, store

log = get_logger(__name__)
BATCH = 50


async def sweep_once(pool: asyncpg.Pool, now: datetime | None = None) -> int:
    """Re-route for every opening whose hold has ended since the last sweep; returns how many."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        ended = await store.holds_ended(conn, now, domain.FAIR_SHARE_HOLD, BATCH)
        for row in ended:
            cause = handlers.Cause(now, f"fair-share-hold-ended:{row['opening_id']}")
            await handlers.reroute_waiting(conn, cause, row["opening_id"], row["capacity"])
    return len(ended)


async def run(pool: asyncpg.Pool, every_s: float) -> None:
    while True:
        try:
            while await sweep_once(pool) == BATCH:
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("routing.sweep_failed", error=repr(exc))  # the database is away: next round
        await asyncio.sleep(every_s)
