"""Deciding again when an opening's fair-share hold ends: no event marks that moment.

While an opening is young, the fair-share rule may keep a partner's candidates waiting
unmatched (see domain.py). When the hold ends, those referrals may now take the remaining
slots; the sweeper finds each opening whose hold ended, once, and re-routes the referrals
waiting for it (`application.release_ended_holds`), in one transaction per batch, through
the same use case as an opening event. "Now" is the clock of the service's dependencies, so
a test sweeps at the moment it chooses.
"""

from __future__ import annotations

import asyncio

import asyncpg

from plumbing.context import Deps
from plumbing.logging import get_logger
from services.routing import application

log = get_logger(__name__)
BATCH = 50


async def sweep_once(pool: asyncpg.Pool, deps: Deps) -> int:
    """Re-route for every opening whose hold has ended since the last sweep; returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        return await application.release_ended_holds(deps.bind(conn), BATCH)


async def run(pool: asyncpg.Pool, deps: Deps, every_s: float) -> None:
    while True:
        try:
            # Read before the sweep: its transactions read the clock again, at this time or
            # later, so /health's `swept_at` never claims a later moment than was swept.
            now = deps.clock()
            while await sweep_once(pool, deps) == BATCH:
                pass
            deps.sweeps.swept("holds", now)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("routing.sweep_failed", error=repr(exc))  # the database is away: next round
        await asyncio.sleep(every_s)
