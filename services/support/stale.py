"""The stale sweeper: requests waiting too long (domain.StaleRule) flagged with service.stale.

No event marks that moment, so a sweeper looks (every TALENTLOOP_STALE_SWEEP_S, as the gateway's
stale referrals) on the service's clock (`Deps.clock`: the system's, or a demo's simulated one),
so the requester learns the provider has not answered or delivered, and outcomes records it.
Instances share the work: rows are claimed with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from plumbing.context import Deps
from plumbing.logging import get_logger
from services.support import application
from services.support.domain import StaleRule

log = get_logger(__name__)
BATCH = 500


async def sweep_once(pool: asyncpg.Pool, deps: Deps, rule: StaleRule, now: datetime | None = None) -> int:
    """Flag the requests due by `now` (default: the clock of `deps`), at most BATCH of each
    waiting state; returns how many."""
    now = now or deps.clock()
    async with pool.acquire() as conn, conn.transaction():
        return await application.flag_stale(deps.bind(conn), rule, now, BATCH)


async def run(pool: asyncpg.Pool, deps: Deps, rule: StaleRule, every_s: float) -> None:
    while True:
        try:
            now = deps.clock()  # one `now` for the whole sweep, shown in /health (`swept_at`)
            while await sweep_once(pool, deps, rule, now) >= BATCH:
                pass
            deps.sweeps.swept("stale", now)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("support.stale_sweep_failed", error=repr(exc))  # the database is away: next round
        await asyncio.sleep(every_s)
