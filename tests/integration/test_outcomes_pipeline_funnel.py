"""`GET /v1/funnel`'s `pipeline` on real PostgreSQL (issue 15 slice 6): people from training,
joined with their referrals by person; an operator sees every enrollment, a training provider
its own, an employer none. Events applied by the consumer's handlers, as live."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import Envelope, build, events
from plumbing.auth import Principal
from services.outcomes.app import DEFINITION as OUTCOMES
from tests.integration.test_outcomes_ledger import apply, envelopes, outcomes_app
from tests.integration.test_withdraw_update_erase import T0, consumer_for, make_pool  # noqa: F401
from tests.support import training_events as t

pytestmark = pytest.mark.integration


def training(payload: events.Payload, hours: int) -> Envelope:
    return build(payload, source="/test", correlation_id="c", time=T0 + timedelta(hours=hours))


async def test_the_funnel_starts_at_training_for_operators_and_each_provider(make_pool):  # noqa: F811
    consumer = await consumer_for(make_pool, OUTCOMES)
    placed_person = "cand_ref_p"  # the lifecycle's candidate of ref_p: referred and placed
    story = [
        training(t.program(), 0),
        training(t.enrolled("enr_1", placed_person, share_outcomes=True), 1),
        training(t.completed("enr_1", placed_person), 2),
        training(t.earned("enr_1", placed_person), 3),
        training(t.program("prog_2", partner="trainer2"), 0),
        training(t.enrolled("enr_2", "cand_other", "prog_2", "trainer2"), 1),
        training(t.exited("enr_2", "cand_other", pid="prog_2", partner="trainer2"), 2),
        # The placed person also trained with trainer3, without letting it hear what came of them.
        training(t.program("prog_3", partner="trainer3"), 0),
        training(t.enrolled("enr_3", placed_person, "prog_3", "trainer3"), 1),
    ]
    for env in story + envelopes("ref_p") + envelopes("ref_untrained"):
        await apply(consumer, env)

    async with outcomes_app(consumer.pool, Principal("operator", "ops")) as ops:
        doc = (await ops.get("/v1/funnel")).json()
    people = doc["pipeline"]["people"]
    assert doc["pipeline"]["enrollments"] == 3
    assert people["training"] == {"enrolled": 2, "completed_training": 1, "credential_earned": 1}
    # ref_untrained's person never enrolled: in the referral funnel, not in this one.
    assert doc["total"]["people"]["stages"]["referred"] == 2 and people["jobs"]["referred"] == 1
    assert people["jobs"]["placed"] == 1 and people["placed_by_type"]["full_time"] == 1
    assert doc["pipeline"]["training_stages"] == ["enrolled", "completed_training", "credential_earned"]

    async with outcomes_app(consumer.pool, Principal("partner", "trainer")) as trainer:
        mine = (await trainer.get("/v1/funnel")).json()["pipeline"]["people"]
    assert mine["training"]["enrolled"] == 1 and mine["jobs"]["placed"] == 1
    async with outcomes_app(consumer.pool, Principal("partner", "trainer2")) as other:
        theirs = (await other.get("/v1/funnel")).json()["pipeline"]["people"]
    assert theirs["training"] == {"enrolled": 1, "completed_training": 0, "credential_earned": 0}
    assert theirs["jobs"]["referred"] == 0
    # Another partner (p1) referred and placed the person: trainer3 has no consent to hear it.
    async with outcomes_app(consumer.pool, Principal("partner", "trainer3")) as third:
        silent = (await third.get("/v1/funnel")).json()["pipeline"]["people"]
    assert silent["training"]["enrolled"] == 1
    assert silent["jobs"]["referred"] == 0 and silent["jobs"]["placed"] == 0 and silent["placed_by_type"]["full_time"] == 0
    async with outcomes_app(consumer.pool, Principal("employer", "emp1")) as employer:
        assert "pipeline" not in (await employer.get("/v1/funnel")).json()
