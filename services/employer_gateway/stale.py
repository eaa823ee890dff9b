"""Stale referrals: routed to an employer and not acknowledged within N business days.

No event marks that moment, so a sweeper looks for them (every TALENTLOOP_STALE_SWEEP_S)
and publishes `referral.stale` once per referral and employer, so the loop never silently
stays open: the partner learns the employer has not answered, the employer gets a reminder
(its webhook), and outcomes records it.

Business days are the network's (plumbing/business_days.py, shared with the support service's
stale requests): Monday to Friday in the business time zone, without the configured holidays.
A referral routed at a given moment of a business day is stale N business days later at the
same time of day; one routed on a weekend or holiday counts from the start of the next
business day (routed Friday 15:00 with N = 2: stale Tuesday 15:00).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from plumbing.business_days import BusinessDays, earliest_since
from plumbing.context import Deps
from plumbing.logging import get_logger
from plumbing.settings import Settings
from services.employer_gateway.application import notify_employer
from services.employer_gateway.domain import Referral

log = get_logger(__name__)
BATCH = 500


@dataclass(frozen=True)
class BusinessCalendar:
    """The referrals' limit (`days`) on the network's business calendar (plumbing/business_days.py)."""

    days: int
    tz: ZoneInfo
    holidays: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessCalendar:
        calendar = BusinessDays.from_settings(settings)
        return cls(settings.stale_business_days, calendar.tz, calendar.holidays)

    @property
    def calendar(self) -> BusinessDays:
        return BusinessDays(self.tz, self.holidays)

    def is_business_day(self, day: date) -> bool:
        return self.calendar.is_business_day(day)

    def stale_at(self, routed_at: datetime) -> datetime:
        """When a referral routed at `routed_at` becomes stale (unless acknowledged before)."""
        return self.calendar.after(routed_at, self.days)

    def earliest_routed_at(self, now: datetime) -> datetime:
        """No referral routed after this can be stale at `now`."""
        return earliest_since(now, self.days)


def due(rows: Iterable[asyncpg.Record], calendar: BusinessCalendar, now: datetime) -> list[asyncpg.Record]:
    return [r for r in rows if calendar.stale_at(r["routed_at"]) <= now]


async def sweep_once(pool: asyncpg.Pool, deps: Deps, calendar: BusinessCalendar, now: datetime | None = None) -> int:
    """Publish referral.stale for the referrals due by `now` (default: the clock of `deps`),
    at most BATCH; returns how many.

    The oldest come first and the moment a referral is due grows with its routing time, so
    a batch that stops short of BATCH leaves none due behind it."""
    now = now or deps.clock()
    async with pool.acquire() as conn, conn.transaction():
        ctx = deps.bind(conn)
        candidates = await conn.fetch(
            "SELECT referral_id, employer_id, opening_id, partner_id, routed_at FROM referrals"
            " WHERE state = 'routed' AND stale_at IS NULL AND routed_at <= $1"
            " ORDER BY routed_at, referral_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            calendar.earliest_routed_at(now),
            BATCH,
        )
        stale = due(candidates, calendar, now)
        for r in stale:
            event = Referral(r["referral_id"], r["employer_id"], r["opening_id"]).stale(r["routed_at"], calendar.days)
            envelope = await ctx.emit(event, correlation_id=f"stale:{r['referral_id']}", partner_id=r["partner_id"])
            await notify_employer(ctx, envelope, "referral.stale", r["employer_id"], {
                "referral_id": r["referral_id"], "opening_id": r["opening_id"], "state": "routed",
                "routed_at": r["routed_at"].isoformat(), "business_days": calendar.days,
            })
        await conn.execute(
            "UPDATE referrals SET stale_at = $3 FROM unnest($1::text[], $2::text[]) AS s(referral_id, employer_id)"
            " WHERE referrals.referral_id = s.referral_id AND referrals.employer_id = s.employer_id",
            [r["referral_id"] for r in stale],
            [r["employer_id"] for r in stale],
            now,
        )
    return len(stale)


async def run(pool: asyncpg.Pool, deps: Deps, calendar: BusinessCalendar, every_s: float) -> None:
    while True:
        try:
            # One `now` for the whole sweep, shown in /health once swept (`swept_at`).
            now = deps.clock()
            while await sweep_once(pool, deps, calendar, now) == BATCH:
                pass
            deps.sweeps.swept("stale", now)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("gateway.stale_sweep_failed", error=repr(exc))  # the database is away: next round
        await asyncio.sleep(every_s)
