"""The outcomes projection under concurrent consumers (one per topic) on real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contracts import build, events
from plumbing import db
from services.outcomes import store
from services.outcomes.handlers import HANDLERS
from tests.integration.test_withdraw_update_erase import PLACEMENT, T0, routed, submitted

pytestmark = pytest.mark.integration
MIGRATIONS = Path(store.__file__).parent / "migrations"


def lifecycle(ref: str) -> list[events.Payload]:
    ids = {"referral_id": ref, "employer_id": "emp1", "opening_id": "opn1"}
    return [
        submitted(ref, "python", cand=f"cand_{ref}"),
        routed(ref, cand=f"cand_{ref}"),
        events.ReferralAcknowledgedV1(**ids),
        events.InterviewScheduledV1(**ids, interview_id="i1", scheduled_for=T0, mode=events.InterviewMode.video),
        events.InterviewCompletedV1(**ids, interview_id="i1", outcome=events.InterviewOutcome.advanced),
        events.PlacementReportedV1.model_validate({**ids, **PLACEMENT, "benefits": {"health": True}}),
    ]


async def test_events_applied_concurrently_for_a_new_referral_are_all_projected(pool):
    await db.migrate(pool, MIGRATIONS)
    for attempt in range(10):  # a race: give it several chances to show
        referral_id = f"ref_race_{attempt}"

        async def apply(payload: events.Payload) -> None:
            env = build(payload, source="/test", correlation_id="c", partner_id="p1")
            async with pool.acquire() as conn, conn.transaction():
                await HANDLERS[env.type](conn, env, payload)

        await asyncio.gather(*(apply(p) for p in lifecycle(referral_id)))
        row = await pool.fetchrow("SELECT facts, stages, status FROM referral_facts WHERE referral_id = $1", referral_id)
        assert row["stages"] == ["referred", "routed", "acknowledged", "interviewed", "offered", "placed"]
        assert row["status"] == "hired" and len(row["facts"]) == 6
