"""The outcomes projection under concurrent consumers (one per topic) on real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import Envelope
from plumbing import db
from services.outcomes import domain, store

pytestmark = pytest.mark.integration
MIGRATIONS = Path(store.__file__).parent / "migrations"
FACTS = ["submitted", "routed", "acknowledged", "interview_scheduled", "interview_completed", "placed"]


def envelope(referral_id: str) -> Envelope:
    return Envelope(
        id=uuid.uuid4(), source="/test", type="referral.routed.v1", time=datetime.now(UTC), subject=referral_id,
        correlationid="c", partnerid="p1", employerid="e1", data={},
    )


async def test_facts_recorded_concurrently_for_a_new_referral_are_all_kept(pool):
    await db.migrate(pool, MIGRATIONS)
    for attempt in range(10):  # a race: give it several chances to show
        referral_id = f"ref_race_{attempt}"

        async def record(fact: str, referral_id: str = referral_id) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await store.record_fact(conn, envelope(referral_id), domain.Fact(fact))

        await asyncio.gather(*(record(f) for f in FACTS))
        row = await pool.fetchrow("SELECT facts, stages FROM referral_facts WHERE referral_id = $1", referral_id)
        assert sorted(row["facts"]) == sorted(FACTS)
        assert row["stages"] == ["referred", "routed", "acknowledged", "interviewed", "placed"]
