"""Routing's rules, example by example and as properties (hypothesis)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import events
from services.routing import domain
from services.routing.domain import Candidate, Opening, Routed, Unmatched, decide

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SKILLS = ["python", "sql", "javascript", "linux", "networking", "excel", "docker", "testing"]
PARTNERS = ["p1", "p2", "p3"]
A_PLUS = events.CredentialRequirement(name="CompTIA A+")


def opening(oid: str, required, preferred=(), *, capacity=5, taken=0, credentials=(), degree=None, location="Bronx, NY",
            remote=False, posted=NOW - timedelta(days=10), taken_by=None, employer=None) -> Opening:  # type: ignore[no-untyped-def]
    return Opening(oid, employer or f"emp-{oid}", f"title {oid}", "15-1252.00", frozenset(required), frozenset(preferred),
                   capacity - taken, capacity, location, remote, tuple(credentials), degree, posted, taken_by or {})


def cand(*skills, partner="p1", credentials=(), degree=None, location=None, soc=None, target=None) -> Candidate:  # type: ignore[no-untyped-def]
    return Candidate("ref", frozenset(skills), soc, target, partner, frozenset(credentials), degree, location)


def test_a_missing_mandatory_credential_or_degree_is_never_outweighed():
    openings = [
        opening("a", ["python"], ["sql", "docker"], credentials=[A_PLUS]),
        opening("b", ["python"], ["sql", "docker"], degree=events.DegreeLevel.bachelor),
    ]
    d = decide(cand("python", "sql", "docker", degree=events.DegreeLevel.associate), openings, NOW)
    assert isinstance(d, Unmatched)
    assert {n.opening.opening_id: n.missing_requirements for n in d.nearest} == {
        "a": ["credential: CompTIA A+"], "b": ["degree: bachelor or higher"]}
    d = decide(cand("python", credentials=["comptia a+"], degree=events.DegreeLevel.master), openings, NOW)
    assert isinstance(d, Routed) and d.details.credentials_matched in (["CompTIA A+"], [])


def test_credentials_match_by_ctdl_id_when_the_opening_gives_one():
    by_id = events.CredentialRequirement(name="Security+", ctdl_id="ce-123")
    held = domain.held_credentials([events.Credential(name="CompTIA Security+ ce", ctdl_id="ce-123"),
                                    events.Credential(name="CompTIA A+", status="in_progress")])
    assert held == frozenset({"ce-123", "comptia security+ ce"})  # in-progress credentials do not count
    d = decide(cand("linux", credentials=held), [opening("a", ["linux"], credentials=[by_id, A_PLUS])], NOW)
    assert isinstance(d, Unmatched) and d.nearest[0].missing_requirements == ["credential: CompTIA A+"]


def test_location_counts_in_the_score_and_the_explanation_says_why():
    here, remote = opening("a", ["python"], location="Bronx, NY"), opening("b", ["python"], location="Denver", remote=True)
    far = opening("c", ["python"], location="Denver")
    d = decide(cand("python", location="bronx,  ny"), [far, here], NOW)
    assert d.opening.opening_id == "a" and d.details.location == "same_location"
    assert decide(cand("python", location="Chicago"), [far, remote], NOW).opening.opening_id == "b"
    d = decide(cand("python", location="Chicago"), [far], NOW)
    assert d.details.score_parts["location"] == 0.0 and "works elsewhere" in d.explanation


def test_fair_share_keeps_one_partner_from_filling_a_young_scarce_opening():
    young = opening("a", ["python"], capacity=4, taken=2, posted=NOW - timedelta(days=1), taken_by={"p1": 2})
    other = opening("b", ["python"], capacity=4, posted=NOW - timedelta(days=1), location="elsewhere")
    d = decide(cand("python", partner="p1", location="Bronx, NY"), [young, other], NOW)
    assert d.opening.opening_id == "b" and "fair share" in d.details.fairness
    assert decide(cand("python", partner="p2", location="Bronx, NY"), [young, other], NOW).opening.opening_id == "a"
    held = decide(cand("python", partner="p1"), [young], NOW)
    assert isinstance(held, Unmatched) and "fair share" in held.reason
    # After the hold, the rest of the slots are open to everyone.
    assert decide(cand("python", partner="p1"), [young], NOW + timedelta(days=3)).opening.opening_id == "a"


def test_a_routed_event_explains_itself_to_both_sides():
    d = decide(cand("python", "sql", location="Bronx, NY"), [opening("a", ["python"], ["sql", "docker"]),
                                                             opening("b", ["python"], ["excel"])], NOW)
    assert d.details.required_matched == ["python"] and d.details.preferred_missing == ["docker"]
    assert d.details.alternatives == 1 and sum(d.details.score_parts.values()) == pytest.approx(d.score)
    assert "1 of 2 preferred; lacks preferred: docker" in d.explanation and "1 other opening(s) also fit" in d.explanation


# --- properties ------------------------------------------------------------------------------

skill_sets = st.frozensets(st.sampled_from(SKILLS), max_size=5)


@st.composite
def openings(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 8))
    found = []
    for i in range(n):
        capacity = draw(st.integers(1, 4))
        taken_by = {p: draw(st.integers(0, capacity)) for p in PARTNERS}
        taken = min(capacity, sum(taken_by.values()))
        found.append(opening(
            f"o{i}", draw(st.frozensets(st.sampled_from(SKILLS), min_size=1, max_size=3)), draw(skill_sets),
            capacity=capacity, taken=taken,
            credentials=[A_PLUS] if draw(st.booleans()) else [],
            degree=draw(st.sampled_from([None, *events.DegreeLevel])),
            location=draw(st.sampled_from(["Bronx, NY", "Denver"])), remote=draw(st.booleans()),
            posted=NOW - timedelta(days=draw(st.integers(0, 6))), taken_by=taken_by,
        ))
    return found


candidates = st.builds(
    lambda skills, partner, cred, degree, loc: cand(*skills, partner=partner, credentials=["comptia a+"] if cred else [],
                                                    degree=degree, location=loc),
    skill_sets, st.sampled_from(PARTNERS), st.booleans(), st.sampled_from([None, *events.DegreeLevel]),
    st.sampled_from([None, "Bronx, NY", "Denver"]),
)


@settings(max_examples=300, deadline=None)
@given(candidates, openings())
def test_decisions_are_deterministic_and_ignore_the_order_of_openings(c, found):
    first = decide(c, found, NOW)
    again = decide(c, list(reversed(found)), NOW)
    assert first == again


@settings(max_examples=300, deadline=None)
@given(candidates, openings())
def test_a_routed_candidate_meets_every_mandatory_requirement_and_takes_a_free_slot(c, found):
    d = decide(c, found, NOW)
    if isinstance(d, Routed):
        o = d.opening
        assert o.required <= c.skills
        assert not domain.missing_requirements(c, o)
        assert o.remaining > 0
        assert 0.7 <= d.score <= 1.0
    else:
        assert all(not domain.meets_mandatory(c, o) or o.remaining <= 0 or domain.held_back(c, o, NOW) for o in found)


@settings(max_examples=200, deadline=None)
@given(st.lists(candidates, min_size=1, max_size=40), openings())
def test_routing_many_never_exceeds_capacity_nor_a_partners_fair_share(stream, found):
    """Route a stream of candidates one by one, taking slots as the store does."""
    state = {o.opening_id: o for o in found}
    start = {o.opening_id: dict(o.taken_by) for o in found}
    for c in stream:
        d = decide(c, list(state.values()), NOW)
        if isinstance(d, Routed):
            o = state[d.opening.opening_id]
            taken_by = {**o.taken_by, c.partner_id: o.taken_by.get(c.partner_id, 0) + 1}
            state[o.opening_id] = Opening(**{**o.__dict__, "remaining": o.remaining - 1, "taken_by": taken_by})
    for o in state.values():
        assert o.remaining >= 0
        young = NOW < o.posted_at + domain.FAIR_SHARE_HOLD
        for partner in PARTNERS:
            added = o.taken_by.get(partner, 0) - start[o.opening_id].get(partner, 0)
            if young and added:
                # New slots go to a partner only while it holds no more than its fair share.
                assert o.taken_by[partner] <= max(domain.fair_share(o), start[o.opening_id].get(partner, 0))


def test_outcomes_count_a_rerouted_referral_as_routed_without_an_anomaly():
    from services.outcomes import domain as outcomes

    Fact = outcomes.Fact
    facts = [Fact("submitted"), Fact("unmatched", attempt=1), Fact("routed", "emp1", 2)]
    assert "unmatched" not in outcomes.stages_reached(facts) and "routed" in outcomes.stages_reached(facts)
    assert outcomes.anomalies(facts) == []
    # The same attempt both routed and unmatched (no update between) is a conflict.
    assert outcomes.anomalies(["submitted", "unmatched", "routed"]) == ["referral both routed and unmatched"]


def test_each_decision_is_one_skills_gap_observation_with_a_comparison_per_opening():
    data = opening("d", ["python", "statistics"], ["tableau"])
    d = decide(cand("python", "sql", soc="15-1252.00"), [data], NOW)
    [seen] = domain.gap_observations(cand("python", "sql"), d)
    [c] = seen.comparisons
    assert (c.onet_soc_code, seen.outcome, c.missing_required, c.missing_preferred) == (
        "15-1252.00", "unmatched", ["statistics"], ["tableau"])
    assert seen.held == ["python", "sql"] and c.opening_id == "d"
    routed = decide(cand("python", "statistics"), [data], NOW)
    assert [g.outcome for g in domain.gap_observations(cand("python", "statistics"), routed)] == ["routed"]
    nothing_near = decide(cand("cobol", soc="15-1299.08"), [data], NOW)
    [alone] = domain.gap_observations(cand("cobol", soc="15-1299.08"), nothing_near)
    assert [(c.onet_soc_code, c.opening_id) for c in alone.comparisons] == [("15-1299.08", None)]
    # Three nearest openings: one event, three comparisons, nearest first.
    three = [opening(x, ["python", "go"]) for x in ("e", "f", "g")]
    [one] = domain.gap_observations(cand("python"), decide(cand("python"), three, NOW))
    assert [c.opening_id for c in one.comparisons] == ["e", "f", "g"]


def test_a_referral_never_goes_back_to_an_employer_that_declined_it():
    first = opening("a", ["python"], employer="emp1")
    other = opening("b", ["python"], employer="emp2")
    assert decide(cand("python"), [first, other], NOW).opening.opening_id == "a"
    again = dataclasses.replace(cand("python"), excluded_employers=frozenset({"emp1"}))
    assert decide(again, [first, other], NOW).opening.opening_id == "b"
    assert isinstance(decide(again, [first], NOW), domain.Unmatched)


def test_a_decline_applies_only_to_the_current_routing_and_uses_an_attempt():
    assert domain.after_decline("routed", False, "opn_a", "opn_a", 1, 3) == domain.AfterDecline(True, True, True)
    assert domain.after_decline("routed", False, "opn_a", "opn_a", 3, 3) == domain.AfterDecline(True, True, False)
    for outcome, withdrawn, current in [("routed", False, "opn_b"), ("routed", True, "opn_a"),
                                        ("declined", False, "opn_a"), ("unmatched", False, None)]:
        assert not domain.after_decline(outcome, withdrawn, current, "opn_a", 1, 3).applies
