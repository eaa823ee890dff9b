"""The batch's in-memory catalogue decides as `domain.decide` does (hypothesis).

`catalogue.decide_in` ranks each candidate profile once per batch and keeps per referral only
what slots, partners and exclusions change; the reference here is the definition it
replaces: `decide` over every covering opening as the slots now are, then, unmatched, over
the nearest ones, taking the slot of each routed decision. Decisions in order, on the same
catalogue, must publish the same events and take the same slots.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from contracts import events
from contracts.upcasting import skills_gap_observed_v1_to_v2
from services.routing import catalogue as catalogue_module
from services.routing import domain
from services.routing.catalogue import NEAREST_POOL, Catalogue, Index, decide_in
from services.routing.domain import Candidate, Opening, Routed

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SKILLS = ["python", "sql", "javascript", "linux", "networking", "excel", "docker", "testing"]
PLACES = ["Bronx, NY", "bronx,  ny", "Denver", None]
A_PLUS = events.CredentialRequirement(name="CompTIA A+")
SEC = events.CredentialRequirement(name="Security+", ctdl_id="ce-1")
SOCS = ["15-1252.00", "15-1211.00"]


def reference(openings: dict[str, Opening], candidate: Candidate, now: datetime) -> domain.Routed | domain.Unmatched:
    """What `decide_in` did before it ranked profiles once: `decide` over the covering
    openings, then over the nearest; taking the chosen slot in `openings`."""
    def in_target(o: Opening) -> bool:
        code = candidate.target_onet_soc_code
        return code is None or o.onet_soc_code[:7] == code[:7]

    covering = [o for o in openings.values() if o.required <= candidate.skills and in_target(o)]
    decision = domain.decide(candidate, covering, now)
    if not isinstance(decision, Routed):
        shared = {i: len(o.required & candidate.skills) for i, o in openings.items()
                  if o.required & candidate.skills and in_target(o)}
        near = sorted(shared, key=lambda i: (-shared[i], len(openings[i].required), i))[:NEAREST_POOL]
        wider = domain.decide(candidate, [openings[i] for i in near], now)
        return dataclasses.replace(wider, reason=decision.reason) if covering else wider
    o = decision.opening
    taken_by = dict(o.taken_by)
    taken_by[candidate.partner_id] = taken_by.get(candidate.partner_id, 0) + 1
    openings[o.opening_id] = dataclasses.replace(o, remaining=o.remaining - 1, taken_by=taken_by)
    return decision


skill_sets = st.frozensets(st.sampled_from(SKILLS), max_size=5)


@st.composite
def postings(draw: st.DrawFn) -> Opening:
    capacity = draw(st.integers(1, 4))
    return Opening(
        opening_id="",  # numbered below
        employer_id=draw(st.sampled_from(["e1", "e2", "e3"])),
        title="t",
        onet_soc_code=draw(st.sampled_from(SOCS)),
        required=draw(st.frozensets(st.sampled_from(SKILLS), max_size=3)),
        preferred=draw(st.frozensets(st.sampled_from(SKILLS), max_size=3)),
        remaining=capacity - draw(st.integers(0, capacity)),
        capacity=capacity,
        location=draw(st.sampled_from(["Bronx, NY", "Denver"])),
        remote=draw(st.booleans()),
        credentials=tuple(draw(st.lists(st.sampled_from([A_PLUS, SEC]), max_size=2, unique=True))),
        degree=draw(st.sampled_from([None, None, events.DegreeLevel.associate, events.DegreeLevel.bachelor])),
        posted_at=NOW - timedelta(days=draw(st.sampled_from([1, 2, 10]))),
        taken_by=draw(st.sampled_from([{}, {"p1": 1}, {"p2": 2}])),
    )


@st.composite
def candidates(draw: st.DrawFn, n_openings: int) -> Candidate:
    return Candidate(
        referral_id="r",
        skills=draw(skill_sets),
        target_onet_soc_code=draw(st.sampled_from([None, None, *SOCS])),
        target_opening_id=draw(st.sampled_from([None, None, *(f"o{i}" for i in range(min(3, n_openings)))])),
        partner_id=draw(st.sampled_from(["p1", "p2", "p3"])),
        credentials=draw(st.frozensets(st.sampled_from(["comptia a+", "ce-1"]), max_size=2)),
        degree=draw(st.sampled_from([None, events.DegreeLevel.associate, events.DegreeLevel.bachelor])),
        location=draw(st.sampled_from(PLACES)),
        excluded=draw(st.sampled_from([frozenset(), frozenset(), frozenset({"o0", "o1"})])),
        excluded_employers=draw(st.sampled_from([frozenset(), frozenset(), frozenset({"e2"})])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Opening], list[Candidate]]:
    found = draw(st.lists(postings(), min_size=0, max_size=12))
    openings = [dataclasses.replace(o, opening_id=f"o{i}") for i, o in enumerate(found)]
    # Repeated profiles are the point: the ranking is shared, the slots are not.
    pool = draw(st.lists(candidates(len(openings)), min_size=1, max_size=6))
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=20))
    people = [dataclasses.replace(c, referral_id=f"r{n}", partner_id=draw(st.sampled_from(["p1", "p2", c.partner_id])))
              for n, c in enumerate(chosen)]
    return openings, people


def published(candidate: Candidate, decision: domain.Routed | domain.Unmatched) -> list[dict]:
    return [(type(e).__name__, e.model_dump(mode="json"))
            for e in domain.decision_events(candidate, decision, "cand", [], attempt=1)]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_decide_in_decides_in_order_as_decide_does(scenario):  # type: ignore[no-untyped-def]
    openings, people = scenario
    tables = {o.opening_id: o for o in openings}
    catalogue = Catalogue(Index({o.opening_id: dataclasses.replace(o, remaining=0, taken_by={}) for o in openings}),
                          {o.opening_id: (o.remaining, o.taken_by) for o in openings})
    for candidate in people:
        expected = reference(tables, candidate, NOW)
        got = decide_in(catalogue, candidate, NOW)
        assert published(candidate, got) == published(candidate, expected)
        assert type(got) is type(expected) and getattr(got, "score", None) == getattr(expected, "score", None)
    assert {i: catalogue.remaining[i] for i in tables} == {i: o.remaining for i, o in tables.items()}
    assert {i: dict(catalogue.taken_by.get(i, {})) for i in tables} == {i: dict(o.taken_by) for i, o in tables.items()}


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.integers(1, 4))
def test_batches_against_one_index_decide_in_order_as_decide_does(scenario, batches):  # type: ignore[no-untyped-def]
    """The index keeps each profile's ranking and nearest openings for every batch after (a
    snapshot of the slots per batch, as `store.Postings` reads it): still `decide` in order."""
    openings, people = scenario
    tables = {o.opening_id: o for o in openings}
    index = Index({o.opening_id: dataclasses.replace(o, remaining=0, taken_by={}) for o in openings})
    size = max(1, len(people) // batches)
    for start in range(0, len(people), size):
        catalogue = Catalogue.of(index, {i: o.remaining for i, o in tables.items()},
                                 {i: o.taken_by for i, o in tables.items() if o.taken_by})
        for candidate in people[start:start + size]:
            expected = reference(tables, candidate, NOW)
            got = decide_in(catalogue, candidate, NOW)
            assert published(candidate, got) == published(candidate, expected)
            assert type(got) is type(expected) and getattr(got, "score", None) == getattr(expected, "score", None)


@settings(max_examples=200, deadline=None)
@given(st.lists(postings(), min_size=1, max_size=12), candidates(3))
def test_a_ranked_score_is_the_score_decide_gives(found, candidate):  # type: ignore[no-untyped-def]
    openings = [dataclasses.replace(o, opening_id=f"o{i}") for i, o in enumerate(found)]
    catalogue = Catalogue(Index({o.opening_id: o for o in openings}), {o.opening_id: (o.remaining, {}) for o in openings})
    by_id = {o.opening_id: o for o in openings}
    for negative, opening_id in catalogue.ranking(candidate).fits:
        assert -negative == domain.score(candidate, by_id[opening_id])
        assert domain.meets_mandatory(candidate, by_id[opening_id])


def test_openings_the_snapshot_did_not_see_open_are_left_out():
    a = Opening("a", "e1", "t", SOCS[0], frozenset({"python"}), frozenset(), 1, 1)
    b = dataclasses.replace(a, opening_id="b")
    catalogue = Catalogue(Index({"a": a, "b": b}), {"b": (1, {})})  # "a" closed since the index was built
    decision = decide_in(catalogue, Candidate("r", frozenset({"python"})), NOW)
    assert isinstance(decision, Routed) and decision.opening.opening_id == "b"
    assert decide_in(catalogue, Candidate("r2", frozenset({"python"})), NOW).reason == "openings that fit are full"


# --- the parts made faster for a backlog of unmatched referrals (docs/routing.md, "Speed") ---


def nearest_by_counting(index: Index, skills: frozenset[str], among: set[int] | None, limit: int) -> list[tuple[int, int]]:
    """What `Index.nearest` replaced: count the shared required skills of every opening sharing
    one, then sort them all by (most shared, position)."""
    shared: dict[int, int] = {}
    for skill in skills:
        for k in index.requiring_at.get(skill, ()):
            shared[k] = shared.get(k, 0) + 1
    ranked = sorted((-n, k) for k, n in shared.items() if among is None or k in among)
    return [(k, -n) for n, k in ranked[:limit]]


WIDE_SKILLS = [*SKILLS, "go", "rust", "aws", "react"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.frozensets(st.sampled_from(WIDE_SKILLS), min_size=1, max_size=5), min_size=1, max_size=30),
    st.frozensets(st.sampled_from([*WIDE_SKILLS, "unknown text"]), max_size=8),
    st.integers(1, 12),
    st.one_of(st.none(), st.frozensets(st.integers(0, 29))),
)
def test_nearest_by_pairs_is_nearest_by_counting(required, skills, limit, among):  # type: ignore[no-untyped-def]
    base = Opening("", "e1", "t", SOCS[0], frozenset(), frozenset(), 1, 1)
    index = Index({f"o{i:02d}": dataclasses.replace(base, opening_id=f"o{i:02d}", required=r)
                   for i, r in enumerate(required)})
    expected = nearest_by_counting(index, skills, among, limit)
    assert index.nearest(skills, among, limit) == expected
    assert index.nearest(skills, among, limit) == expected  # the pairs cached by the first call give the same


@settings(max_examples=50, deadline=None)
@given(scenarios(), st.integers(1, 4))
def test_decide_in_with_a_small_nearest_pool_decides_as_decide_does(scenario, pool):  # type: ignore[no-untyped-def]
    """The pool of openings weighed for "nearest" cut short (as 50 is among thousands), so the
    pairs' path and the one-skill path of `Index.nearest` both decide."""
    openings, people = scenario
    with patch.object(catalogue_module, "NEAREST_POOL", pool), patch(f"{__name__}.NEAREST_POOL", pool):
        tables = {o.opening_id: o for o in openings}
        catalogue = Catalogue(Index({o.opening_id: o for o in openings}),
                              {o.opening_id: (o.remaining, o.taken_by) for o in openings})
        for candidate in people:
            assert published(candidate, decide_in(catalogue, candidate, NOW)) == published(
                candidate, reference(tables, candidate, NOW))


@settings(max_examples=50, deadline=None)
@given(scenarios())
def test_holds_of_full_openings_are_not_needed(scenario):  # type: ignore[no-untyped-def]
    """The store reads partners' held slots only for openings with a slot left: decisions with
    those alone are the decisions with every opening's."""
    openings, people = scenario
    every = Catalogue(Index({o.opening_id: o for o in openings}),
                      {o.opening_id: (o.remaining, o.taken_by) for o in openings})
    with_slot = Catalogue(Index({o.opening_id: o for o in openings}),
                          {o.opening_id: (o.remaining, o.taken_by if o.remaining > 0 else {}) for o in openings})
    for candidate in people:
        assert published(candidate, decide_in(with_slot, candidate, NOW)) == published(
            candidate, decide_in(every, candidate, NOW))
    assert with_slot.remaining == every.remaining


def gap_observations_v1(candidate: Candidate, decision: domain.Routed | domain.Unmatched) -> list[dict]:
    """`domain.gap_observations` as it was (skills.gap_observed.v1, one event per opening compared
    with): missing skills and requirements worked out again for each opening, not taken from the
    decision's `Near`."""
    def seen(opening: Opening | None, code: str, outcome: events.GapOutcome) -> dict:
        return events.SkillsGapObservedV1(
            referral_id=candidate.referral_id, partner_id=candidate.partner_id, onet_soc_code=code,
            opening_id=opening.opening_id if opening else None, outcome=outcome, held=sorted(candidate.skills),
            demanded_required=sorted(opening.required) if opening else [],
            demanded_preferred=sorted(opening.preferred) if opening else [],
            missing_required=sorted(opening.required - candidate.skills) if opening else [],
            missing_preferred=sorted(opening.preferred - candidate.skills) if opening else [],
            missing_requirements=domain.missing_requirements(candidate, opening) if opening else [],
        ).model_dump(mode="json")

    if isinstance(decision, Routed):
        return [seen(decision.opening, decision.opening.onet_soc_code, events.GapOutcome.routed)]
    if decision.nearest:
        return [seen(n.opening, n.opening.onet_soc_code, events.GapOutcome.unmatched) for n in decision.nearest]
    if candidate.target_onet_soc_code:
        return [seen(None, candidate.target_onet_soc_code, events.GapOutcome.unmatched)]
    return []


def gap_observations_as_before(candidate: Candidate, decision: domain.Routed | domain.Unmatched) -> list[dict]:
    """The v1 observations above as one v2 event, built by its constructor: each v1 one upcast
    (one comparison), their comparisons in the same order. So the v2 event says what they said
    (but what the openings asked, which their postings say)."""
    v1 = gap_observations_v1(candidate, decision)
    if not v1:
        return []
    upcast = [skills_gap_observed_v1_to_v2(g) for g in v1]
    return [events.SkillsGapObservedV2(**{**upcast[0], "comparisons": [c for u in upcast for c in u["comparisons"]]})
            .model_dump(mode="json")]


@settings(max_examples=50, deadline=None)
@given(scenarios())
def test_gap_observations_are_what_they_were(scenario):  # type: ignore[no-untyped-def]
    openings, people = scenario
    for candidate in people:
        decision = domain.decide(candidate, openings, NOW)
        got = [e.model_dump(mode="json") for e in domain.gap_observations(candidate, decision)]
        assert got == gap_observations_as_before(candidate, decision)


# --- the seventh session's shortcuts: times in any zone, a partner held out, nearest per key ---

TIMES = [NOW - timedelta(days=1), NOW, NOW + timedelta(days=1), NOW + timedelta(days=2), NOW + timedelta(days=8)]
ZONES = [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))]


def as_an_event_time(moment: datetime) -> datetime:
    """The instant as an envelope's time is read (pydantic's own UTC object, not datetime.UTC)."""
    return TypeAdapter(datetime).validate_json(f'"{moment.astimezone(UTC).isoformat()}"')


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.data())
def test_decisions_at_times_in_any_zone_are_decide_s(scenario, data):  # type: ignore[no-untyped-def]
    """Each referral decided at its own time, before, across and after the openings' holds,
    with the postings' times and the decisions' in other zone objects than datetime.UTC:
    `decide_in` compares instants as `decide` does, and a partner found held out of every
    fitting opening (`Catalogue.blocked`) is held out again only while that is still true."""
    openings, people = scenario
    zone = data.draw(st.sampled_from(ZONES))
    openings = [dataclasses.replace(o, posted_at=o.posted_at.astimezone(zone)) for o in openings]
    times = data.draw(st.lists(st.sampled_from(TIMES), min_size=len(people), max_size=len(people)))
    tables = {o.opening_id: o for o in openings}
    catalogue = Catalogue(Index({o.opening_id: dataclasses.replace(o, remaining=0, taken_by={}) for o in openings}),
                          {o.opening_id: (o.remaining, o.taken_by) for o in openings})
    for candidate, at in zip(people, times, strict=True):
        expected = reference(tables, candidate, at)
        got = decide_in(catalogue, candidate, as_an_event_time(at))
        assert published(candidate, got) == published(candidate, expected)
    assert {i: catalogue.remaining[i] for i in tables} == {i: o.remaining for i, o in tables.items()}


def test_a_partner_held_out_is_judged_again_once_a_hold_ends_or_a_slot_is_taken():
    young = Opening("a", "e1", "t", SOCS[0], frozenset({"python"}), frozenset(), 2, 4, posted_at=NOW,
                    taken_by={"p1": 2})
    catalogue = Catalogue(Index({"a": young}), {"a": (2, {"p1": 2})})
    held_out = "the openings that fit are held for other partners' candidates for now (fair share)"
    assert decide_in(catalogue, Candidate("r1", frozenset({"python"}), partner_id="p1"), NOW).reason == held_out
    assert catalogue.blocked  # what the next referral of the profile reads
    assert decide_in(catalogue, Candidate("r2", frozenset({"python"}), partner_id="p1"), NOW).reason == held_out
    after_hold = NOW + domain.FAIR_SHARE_HOLD
    assert isinstance(decide_in(catalogue, Candidate("r3", frozenset({"python"}), partner_id="p1"), after_hold), Routed)
    assert isinstance(decide_in(catalogue, Candidate("r4", frozenset({"python"}), partner_id="p2"), NOW), Routed)
    # The last slot is gone: full now, not held.
    assert decide_in(catalogue, Candidate("r5", frozenset({"python"}), partner_id="p1"), NOW).reason == (
        "openings that fit are full")


@settings(max_examples=40, deadline=None)
@given(scenarios(), st.integers(1, 4), st.data())
def test_profiles_that_share_their_nearest_openings_decide_as_decide_does(scenario, batches, data):  # type: ignore[no-untyped-def]
    """Referrals that differ only in location, in skills no opening requires or prefers, in
    credentials no opening requires or in a degree none requires share one search for their
    nearest openings (`nearest_key`), and those not differing in location one ranking
    (`profile_of`), kept across batches: still `decide`."""
    openings, people = scenario
    # "git": preferred by some openings, required by none (it changes scores, not fits).
    prefer_git = data.draw(st.lists(st.booleans(), min_size=len(openings), max_size=len(openings)))
    openings = [dataclasses.replace(o, preferred=o.preferred | {"git"}) if git else o
                for o, git in zip(openings, prefer_git, strict=True)]
    # A credential no opening requires; a degree, when no opening requires one.
    degrees = [None, events.DegreeLevel.bachelor] if not any(o.degree for o in openings) else [None]
    other = st.tuples(st.sampled_from(PLACES),
                      st.frozensets(st.sampled_from(["welding", "forklift", "git"]), max_size=2),
                      st.frozensets(st.just("ce-9")), st.sampled_from(degrees))
    variants = data.draw(st.lists(other, min_size=len(people), max_size=len(people)))
    people = [dataclasses.replace(c, location=place, skills=c.skills | more, credentials=c.credentials | cred,
                                  degree=degree or c.degree)
              for c, (place, more, cred, degree) in zip(people, variants, strict=True)]
    tables = {o.opening_id: o for o in openings}
    index = Index({o.opening_id: dataclasses.replace(o, remaining=0, taken_by={}) for o in openings})
    size = max(1, len(people) // batches)
    for start in range(0, len(people), size):
        catalogue = Catalogue.of(index, {i: o.remaining for i, o in tables.items()},
                                 {i: o.taken_by for i, o in tables.items() if o.taken_by})
        for candidate in people[start:start + size]:
            expected = reference(tables, candidate, NOW)
            assert published(candidate, decide_in(catalogue, candidate, NOW)) == published(candidate, expected)


def test_a_skill_an_opening_prefers_makes_another_profile():
    """Skills no opening requires or prefers are left out of a profile, a preferred one is not:
    with "git" the second opening scores higher, without it the first one wins on slots."""
    o1 = Opening("o1", "e1", "t", SOCS[0], frozenset({"python"}), frozenset({"sql"}), 10, 10)
    o2 = Opening("o2", "e2", "t", SOCS[0], frozenset({"python"}), frozenset({"git"}), 2, 2)
    index = Index({"o1": o1, "o2": o2})
    people = [("r1", {"python", "welding"}), ("r2", {"python", "git"}), ("r3", {"python", "forklift"})]
    for _ in range(2):  # the second batch reads the rankings the index kept
        catalogue = Catalogue(index, {"o1": (10, {}), "o2": (2, {})})
        chosen = [decide_in(catalogue, Candidate(r, frozenset(skills)), NOW) for r, skills in people]
        assert [d.opening.opening_id for d in chosen] == ["o1", "o2", "o1"]  # type: ignore[union-attr]


@pytest.mark.parametrize("requirement", [{"credentials": (A_PLUS,)}, {"credentials": (SEC,)},
                                         {"degree": events.DegreeLevel.bachelor}])
def test_a_credential_or_degree_an_opening_requires_makes_another_profile(requirement):  # type: ignore[no-untyped-def]
    """Credentials no opening requires, and the degree while none requires one, are left out
    of a profile; what an opening requires is not: holding it, the candidate fits the opening
    with more slots too (the same score), without it only the other."""
    o1 = Opening("o1", "e1", "t", SOCS[0], frozenset({"python"}), frozenset(), 10, 10, **requirement)
    o2 = Opening("o2", "e2", "t", SOCS[0], frozenset({"python"}), frozenset(), 2, 2)
    index = Index({"o1": o1, "o2": o2})
    plain = Candidate("r1", frozenset({"python"}), credentials=frozenset({"ce-9"}))
    holding = Candidate("r2", frozenset({"python"}), credentials=frozenset({"comptia a+", "ce-1"}),
                        degree=events.DegreeLevel.master)
    for _ in range(2):  # the second batch reads the rankings the index kept
        catalogue = Catalogue(index, {"o1": (10, {}), "o2": (2, {})})
        chosen = [decide_in(catalogue, c, NOW) for c in (plain, holding)]
        assert [d.opening.opening_id for d in chosen] == ["o2", "o1"]  # type: ignore[union-attr]


@pytest.mark.parametrize("requirement", [{"credentials": (A_PLUS,)}, {"degree": events.DegreeLevel.bachelor}])
def test_nearest_openings_are_kept_per_credential_and_degree_an_opening_requires(requirement):  # type: ignore[no-untyped-def]
    o1 = Opening("o1", "e1", "t", SOCS[0], frozenset({"python", "sql"}), frozenset(), 1, 1, **requirement)
    index = Index({"o1": o1})
    plain = Candidate("r1", frozenset({"python"}))
    holding = Candidate("r2", frozenset({"python"}), credentials=frozenset({"comptia a+"}),
                        degree=events.DegreeLevel.doctorate)
    for _ in range(2):
        catalogue = Catalogue(index, {"o1": (1, {})})
        lacks = [decide_in(catalogue, c, NOW).nearest[0].missing_requirements for c in (plain, holding)]  # type: ignore[union-attr]
        assert lacks[0] and lacks[1] == []
