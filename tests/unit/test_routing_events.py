"""A decision's events made from kept parts are the events the models' constructors make (hypothesis).

`domain.decision_events` keeps, per nearest opening (`Near.made`), its `NearestOpening`, its
skills-gap comparison (copied with another referral's missing preferred skills) and, on the
first, the decision's skills-gap observation, and gives the next referral of that profile a
copy with its own ids; the catalogue keeps a profile's nearest openings for every batch
against the same index. The reference here is every event built by its model's constructor
from the decision, as before; the published values and the JSON bytes must be equal.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import events
from services.routing import domain
from services.routing.catalogue import Catalogue, Index, decide_in
from tests.unit.test_routing_catalogue import NOW, gap_observations_as_before, scenarios

pytestmark = pytest.mark.unit


def events_as_before(candidate: domain.Candidate, decision: domain.Routed | domain.Unmatched) -> list[bytes]:
    """`decision_events` as it was: each model made by its constructor, nothing kept."""
    (first, *_) = domain.decision_events(candidate, decision, "cand", [], attempt=1)
    if isinstance(decision, domain.Unmatched):
        first = events.ReferralUnmatchedV1(
            referral_id=candidate.referral_id, partner_id=candidate.partner_id, candidate_id="cand",
            reason=decision.reason, missing_skills=decision.missing_skills,
            nearest=[events.NearestOpening(opening_id=n.opening.opening_id, employer_id=n.opening.employer_id,
                                           missing_skills=n.missing_required,
                                           missing_requirements=n.missing_requirements) for n in decision.nearest],
            attempt=1)
    gaps = [events.SkillsGapObservedV2(**g) for g in gap_observations_as_before(candidate, decision)]
    return [type(e).__pydantic_serializer__.to_json(e) for e in (first, *gaps)]


def written(payloads: list[events.Payload]) -> list[bytes]:
    return [type(e).__pydantic_serializer__.to_json(e) for e in payloads]


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.integers(1, 4))
def test_kept_and_copied_events_are_the_constructed_ones(scenario, batches):  # type: ignore[no-untyped-def]
    """Several batches against one index: the repeated profiles' events come from kept parts."""
    openings, people = scenario
    index = Index({o.opening_id: o for o in openings})
    remaining = {o.opening_id: o.remaining for o in openings}
    taken_by = {o.opening_id: o.taken_by for o in openings}
    size = max(1, len(people) // batches)
    for start in range(0, len(people), size):
        catalogue = Catalogue.of(index, dict(remaining), dict(taken_by))
        for candidate in people[start:start + size]:
            decision = decide_in(catalogue, candidate, NOW)
            got = domain.decision_events(candidate, decision, "cand", [], attempt=1)
            assert written(got) == events_as_before(candidate, decision)
            assert [e.model_dump(mode="json") for e in got[1:]] == gap_observations_as_before(candidate, decision)
            for e in got:  # what validation would say of each, copied ones too
                assert type(e).model_validate(e.model_dump()) == e
        remaining = {i: catalogue.remaining[i] for i in remaining}
        taken_by = {i: catalogue.taken_by.get(i, {}) for i in remaining}


def test_an_id_the_contract_refuses_is_refused_as_before():
    """A copied observation checks the ids it did not take from its template: an id the
    contract's Id refuses raises the model's error, as the constructor did."""
    opening = domain.Opening("o1", "e1", "t", "15-1252.00", frozenset({"python", "sql"}), frozenset(), 1, 1)
    index = Index({"o1": opening})
    catalogue = Catalogue.of(index, {"o1": 1}, {})
    first = domain.Candidate("r1", frozenset({"python"}), partner_id="p1")
    decision = decide_in(catalogue, first, NOW)
    assert isinstance(decision, domain.Unmatched) and decision.nearest
    domain.decision_events(first, decision, "cand", [], 1)  # keeps the template
    for bad in ("r\x00", "r" * 101):
        again = dataclasses.replace(first, referral_id=bad)
        with pytest.raises(ValidationError):
            domain.gap_observations(again, decide_in(catalogue, again, NOW))
    copied = domain.gap_observations(dataclasses.replace(first, referral_id="r2", partner_id=""), decision)
    assert [(g.referral_id, g.partner_id) for g in copied] == [("r2", "")]


def test_a_kept_observation_is_for_the_same_skills_only():
    """A `Near` shared by decisions of candidates with other skills (the catalogue shares one
    per profile; nothing stops another caller) gives each its own observation."""
    opening = domain.Opening("o1", "e1", "t", "15-1252.00", frozenset({"python", "sql", "linux"}), frozenset({"git"}), 1, 1)
    near = domain.Near(opening, ["linux", "sql"])
    decision = domain.Unmatched("missing required skills or requirements for every open opening", [near])
    for n, skills in enumerate([{"python"}, {"python", "git"}, {"python"}, {"go"}]):
        candidate = domain.Candidate(f"r{n}", frozenset(skills), partner_id=f"p{n}")
        (got,) = domain.gap_observations(candidate, decision)
        assert got == events.SkillsGapObservedV2(
            referral_id=f"r{n}", partner_id=f"p{n}", outcome=events.GapOutcome.unmatched, held=sorted(skills),
            comparisons=[events.GapComparison(
                onet_soc_code="15-1252.00", opening_id="o1", missing_required=["linux", "sql"],
                missing_preferred=sorted({"git"} - skills), missing_requirements=[])])


def test_values_the_contract_refuses_are_refused_as_before_by_the_copies():
    """The kept referral.unmatched and skills-gap observation are copied only with values
    their models' validation takes as they are: a candidate id or attempt out of bounds, or
    a held skill the SkillList refuses, goes through the constructor and raises its error."""
    opening = domain.Opening("o1", "e1", "t", "15-1252.00", frozenset({"python", "sql"}), frozenset({"git"}), 1, 1)
    catalogue = Catalogue.of(Index({"o1": opening}), {"o1": 1}, {})
    first = domain.Candidate("r1", frozenset({"python"}), partner_id="p1")
    decision = decide_in(catalogue, first, NOW)
    assert isinstance(decision, domain.Unmatched) and decision.nearest
    domain.decision_events(first, decision, "cand", [], 1)  # keeps both
    for candidate_id, attempt in (("c\x01", 1), ("c" * 101, 1), ("cand", 0), ("cand", 2**31)):
        with pytest.raises(ValidationError):
            domain.decision_events(first, decision, candidate_id, [], attempt)
    for skill in ("bad\x02skill", "s" * 201):
        with pytest.raises(ValidationError):
            domain.gap_observations(dataclasses.replace(first, skills=frozenset({"python", skill})), decision)
    other = dataclasses.replace(first, referral_id="r2", skills=frozenset({"python", "git", "welding"}))
    got = domain.decision_events(other, decision, "cand-2", [], 3)
    assert written(got) == events_as_before_with(other, decision, "cand-2", 3)


def events_as_before_with(candidate: domain.Candidate, decision: domain.Unmatched, candidate_id: str,
                          attempt: int) -> list[bytes]:
    unmatched = events.ReferralUnmatchedV1(
        referral_id=candidate.referral_id, partner_id=candidate.partner_id, candidate_id=candidate_id,
        reason=decision.reason, missing_skills=decision.missing_skills,
        nearest=[events.NearestOpening(opening_id=n.opening.opening_id, employer_id=n.opening.employer_id,
                                       missing_skills=n.missing_required,
                                       missing_requirements=n.missing_requirements) for n in decision.nearest],
        attempt=attempt)
    gaps = [events.SkillsGapObservedV2(**g) for g in gap_observations_as_before(candidate, decision)]
    return written([unmatched, *gaps])
