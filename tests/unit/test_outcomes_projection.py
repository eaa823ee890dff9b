"""The projection's compact form (services/outcomes/projection.py): `project` reads only the data
keys it keeps, so a projection from compact events equals the one from whole ledger events;
the cheaper order is the old order; what survives the ledger's jsonb is told apart."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bench.outcomes_ledger import make_stream
from contracts import Envelope, events
from services.outcomes import domain, projection
from services.outcomes.projection import INPUT_KEYS, LedgerEvent


def stored(env: Envelope) -> LedgerEvent:
    """The event as the ledger gives it back: data through JSON (as jsonb would), time in UTC."""
    data = json.loads(env.model_dump_json(exclude_none=True))["data"]
    return LedgerEvent(env.type, env.time.astimezone(UTC), env.employerid, data, env.partnerid)


@pytest.fixture(scope="module")
def referrals() -> dict[str, list[LedgerEvent]]:
    """Every event type of the benchmark's lifecycle (submitted, routed or unmatched, declined
    and routed again, interviews, offers turned down, placements, retention, separation) for
    400 referrals, plus one updated, withdrawn, erased and one with an old v1 submission."""
    by_referral: dict[str, list[LedgerEvent]] = {}
    for _, _, value in make_stream(3, 400).records:
        env = Envelope.from_bytes(value)
        rid = env.data.get("referral_id")
        if rid:
            by_referral.setdefault(rid, []).append(stored(env))
    extra = by_referral["bench-ref-0000001"]
    t = max(e.occurred_at for e in extra)
    for n, (event_type, data) in enumerate([
        ("referral.updated.v1", {**extra[0].data, "changed": ["skills"], "skills": [{"id": None, "text": "Welding"}]}),
        ("referral.withdrawn.v1", {"referral_id": "bench-ref-0000001", "reason": "found_employment"}),
    ]):
        extra.append(LedgerEvent(event_type, t + timedelta(hours=n + 1), None, data, extra[0].partner_id))
    hired = next(found for found in by_referral.values() if any(e.family == "placement.reported" for e in found))
    placed = next(e for e in hired if e.family == "placement.reported")
    hired.append(LedgerEvent("separation.reported.v1", placed.occurred_at + timedelta(days=40), placed.employer_id,
                             {"referral_id": placed.data["referral_id"], "separated_on": "2026-03-01",
                              "reason": "laid_off"}, None))
    by_referral["erased"] = [LedgerEvent(e.event_type, e.occurred_at, e.employer_id, domain.redact(e.data), e.partner_id)
                             for e in by_referral["bench-ref-0000002"]]
    v1 = {"referral_id": "old", "partner_id": "p1", "candidate_id": "c", "skills": ["python", "sql"]}
    by_referral["old"] = [LedgerEvent("referral.submitted.v1", datetime(2025, 1, 1, tzinfo=UTC), None, v1, "p1")]
    return by_referral


class Reads(dict):  # type: ignore[type-arg]
    """A dict that records the keys read from it."""

    def __init__(self, data: dict[str, Any], seen: set[str]) -> None:
        super().__init__(data)
        self.seen = seen

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.seen.add(str(key))
        return super().__contains__(key)


def test_project_reads_only_the_keys_the_compact_form_keeps(referrals) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    types = set()
    for rid, found in referrals.items():
        assert not projection.has_ties(found)  # (only ties make the order read the whole data)
        projection.project(rid, [LedgerEvent(e.event_type, e.occurred_at, e.employer_id, Reads(e.data, seen),
                                             e.partner_id) for e in found])
        types |= {e.event_type for e in found}
    assert seen <= INPUT_KEYS, seen - INPUT_KEYS
    assert len(types) >= 17, types  # every family the projection looks at, and more
    assert {"wage", "hours_per_week", "milestone_days", "still_employed", "consent", "skills", "opening_id"} <= seen


def test_the_compact_events_give_the_same_projection(referrals) -> None:  # type: ignore[no-untyped-def]
    for rid, found in referrals.items():
        compact = [projection.compact(e) for e in found]
        assert projection.project(rid, compact) == projection.project(rid, found), rid
        back = projection.load_inputs(projection.dump_inputs(compact))
        assert back == compact and all(e.occurred_at.tzinfo is UTC for e in back)
        assert projection.project(rid, back) == projection.project(rid, found)
    routed = next(e for e in referrals["bench-ref-0000003"] if e.event_type.startswith("referral.routed"))
    assert "candidate_skills" in routed.data and "candidate_skills" not in projection.compact(routed).data


def old_ordered(events: list[LedgerEvent]) -> list[LedgerEvent]:
    return sorted(events, key=lambda e: (e.occurred_at, e.event_type, repr(sorted(e.data.items()))))


def test_the_order_is_the_old_one_with_ties_in_time_type_and_content() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    same_instant = t.astimezone(timezone(timedelta(hours=2)))
    found = [
        LedgerEvent("retention.checked.v1", t, "e1", {"milestone_days": 90, "still_employed": True}),
        LedgerEvent("retention.checked.v1", same_instant, "e1", {"milestone_days": 30, "still_employed": False}),
        LedgerEvent("retention.checked.v1", t, "e2", {"milestone_days": 30, "still_employed": False}),  # same content
        LedgerEvent("placement.reported.v1", t, "e1", {"job_title": "a"}),
        LedgerEvent("referral.routed.v1", t - timedelta(days=1), "e1", {"attempt": 1}),
        LedgerEvent("referral.routed.v1", t - timedelta(days=1), "e2", {"attempt": 2}),
    ]
    assert projection.has_ties(found) and not projection.has_ties(found[3:5])
    for order in itertools.permutations(found):
        assert projection._ordered(order) == old_ordered(list(order))  # noqa: SLF001
    rng = random.Random(5)
    for _ in range(200):
        many = [rng.choice(found) for _ in range(rng.randint(0, 12))]
        assert projection._ordered(many) == old_ordered(many)  # noqa: SLF001


@pytest.mark.parametrize(("value", "exact"), [
    (40.0, True), (0.5, True), (0.0001, True), (123456789012.25, True), (0.0, True), (7, True), (10**30, True),
    ("1e-7", True), (None, True), (True, True),
    (1e-7, False), (1e16, False), (-0.0, False), ({"wage": {"amount": 2e20}}, False), ([1.0, [1e-9]], False),
])
def test_what_comes_back_from_jsonb_as_it_went_in(value: Any, exact: bool) -> None:
    assert projection.jsonb_exact(value) is exact


def test_a_placement_with_a_float_jsonb_would_change_is_not_exact() -> None:
    placement = events.PlacementReportedV1.model_validate({
        "referral_id": "r", "employer_id": "e", "opening_id": "o", "job_title": "Dev", "onet_soc_code": "15-1252.00",
        "wage": {"amount": "30", "unit": "hour"}, "hours_per_week": 1e-7, "employment_type": "full_time",
        "start_date": "2027-01-04", "benefits": {"health": True},
    })
    assert not projection.jsonb_exact(placement.model_dump(mode="json"))
