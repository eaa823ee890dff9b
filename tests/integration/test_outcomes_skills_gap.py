"""skills.gap_observed v1 and v2 in the outcomes ledger, on real PostgreSQL: the same decisions
published as routing published them before (v1, one event per opening compared with) and as it
publishes them now (v2, one event per decision) give the same skills-gap records, report and
projections. A ledger of v1 events (an old log, or a rebuild of one) keeps them as they came,
read through the v1 -> v2 upcaster, and its report is the one a v2 ledger gives.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from contracts import Envelope, build, events
from services.outcomes import store
from services.outcomes.app import DEFINITION as OUTCOMES
from services.outcomes.reports.skills_gap import skills_gap
from services.routing import domain
from tests.integration.test_outcomes_ledger import apply, projection
from tests.integration.test_withdraw_update_erase import T0, consumer_for, erased, make_pool, submitted  # noqa: F401
from tests.unit.test_routing_catalogue import gap_observations_v1

pytestmark = pytest.mark.integration

DEV, DATA = "15-1252.00", "15-2051.00"
OPENINGS = [
    domain.Opening("o_dev1", "emp1", "Developer", DEV, frozenset({"python", "sql"}), frozenset({"git"}), 3, 3),
    domain.Opening("o_dev2", "emp2", "Developer", DEV, frozenset({"python", "java"}), frozenset(), 3, 3),
    domain.Opening("o_data", "emp3", "Analyst", DATA, frozenset({"python", "statistics"}), frozenset({"tableau"}), 3, 3),
]
# referral -> (skills, target occupation): unmatched with three nearest openings (two lacking
# other preferred skills), unmatched with none near in its target, routed (then declined),
# routed, and unmatched then erased.
PEOPLE = {
    "ref_u1": (("python",), None),
    "ref_u2": (("python", "git", "tableau"), None),
    "ref_t": (("cobol",), "15-1299.08"),
    "ref_r": (("python", "sql"), None),
    "ref_r2": (("python", "java"), None),
    "ref_e": (("python",), None),
}


def histories() -> tuple[list[Envelope], list[Envelope]]:
    """Each referral's submission and decision, with its observations as v1 events (the first
    list) or as one v2 event (the second); the routed one declined afterwards."""
    as_v1, as_v2 = [], []
    for n, (ref, (skills, soc)) in enumerate(PEOPLE.items()):
        at = T0 + timedelta(hours=n)
        cand = f"cand_{ref}"
        candidate = domain.Candidate(ref, frozenset(skills), soc, partner_id="p1")
        decision = domain.decide(candidate, OPENINGS, at)
        first, *gaps = domain.decision_events(candidate, decision, cand, [], 1)
        v1 = [events.SkillsGapObservedV1(**g) for g in gap_observations_v1(candidate, decision)]
        assert len(gaps) == 1 and len(v1) == len(gaps[0].comparisons)

        def env(payload: events.Payload, minutes: int, at=at) -> Envelope:  # type: ignore[no-untyped-def]
            return build(payload, source="/test", correlation_id="c", partner_id="p1", time=at + timedelta(minutes=minutes))

        common = [env(submitted(ref, *skills, cand=cand, soc=soc), 0), env(first, 1)]
        if ref == "ref_r":
            common.append(env(events.ReferralDeclinedV1(
                referral_id=ref, employer_id=decision.opening.employer_id, opening_id=decision.opening.opening_id,
                reason=events.DeclineReason.requirements_not_met), 30))
        as_v1 += common + [env(g, 1) for g in v1]
        as_v2 += common + [env(g, 1) for g in gaps]
    erasure = build(erased("cand_ref_e", "ref_e"), source="/test", correlation_id="c", time=T0 + timedelta(days=1))
    return as_v1 + [erasure], as_v2 + [erasure]


async def test_v1_and_v2_observations_give_the_same_skills_gap_report(make_pool):  # noqa: F811
    as_v1, as_v2 = histories()
    ledgers = []
    for stream in (as_v1, as_v2):
        consumer = await consumer_for(make_pool, OUTCOMES)
        for e in stream:
            await apply(consumer, e)
        ledgers.append(consumer.pool)
    old, new = ledgers
    # The ledger keeps each as it came: three, one and one v1 rows against one v2 row a decision.
    kinds = [dict(await p.fetch("SELECT event_type, count(*) FROM ledger WHERE event_type LIKE 'skills.gap%'"
                                " GROUP BY event_type")) for p in ledgers]
    assert kinds == [{"skills.gap_observed.v1": 3 + 3 + 1 + 1 + 1 + 3}, {"skills.gap_observed.v2": 6}]

    gaps_old, gaps_new = await store.gap_records(old), await store.gap_records(new)
    assert gaps_old == gaps_new and len(gaps_new) == 12
    assert [g.declined for g in gaps_new if g.referral_id == "ref_r"] == [True]
    # The erased referral's observation keeps what it lacked (not what it held), as v1's did.
    erased_gaps = [g for g in gaps_new if g.referral_id == "ref_e"]
    assert [g.held for g in erased_gaps] == [()] * 3 and all(g.missing_required for g in erased_gaps)
    report = skills_gap(gaps_new, [], 10)
    assert report == skills_gap(gaps_old, [], 10)
    missing = {o["occupation"]: o["missing"] for o in report["occupations"]}
    assert {s["skill"]: s["missing_required"] for s in missing[DEV]}["sql"] == 3  # u1, u2 and e: r got through
    # The routed referral's occupation comes from its observation, in either version.
    for ref in PEOPLE:
        assert await projection(old, ref) == await projection(new, ref), ref
    assert json.loads((await projection(new, "ref_r2"))["record"])["occupation"] == DEV
