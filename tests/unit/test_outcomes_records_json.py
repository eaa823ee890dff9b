"""Outcomes' shortcuts answer as what they replaced: the remembered `isoformat`
(services/outcomes/records_json.py) character for character, on the benchmark's kept events
and on generated times (other time zones too), remembered facts kept apart by type,
`projection.jsonb_exact` as the recursion it replaced, and kept events written by
pydantic_core's encoder read back as json.dumps' were (every value, its type and float bits)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.outcomes_ledger import make_stream
from contracts import Envelope
from services.outcomes import domain, projection, records_json, store


def test_the_benchmarks_kept_events_are_written_as_before() -> None:
    by_referral: dict[str, list[projection.LedgerEvent]] = {}
    for _, _, value in make_stream(5, 300).records:
        env = Envelope.from_bytes(value)
        rid = env.data.get("referral_id")
        if rid:
            by_referral.setdefault(rid, []).append(store.compact_event(env))
    assert by_referral
    for found in by_referral.values():
        for e in found:  # the kept form: its time through the remembered isoformat
            written = projection.dump_input(e)
            before = json.dumps([e.event_type, e.occurred_at.isoformat(), e.employer_id, e.partner_id, e.data])
            assert json.loads(written) == json.loads(before)
            assert projection.load_inputs(f"[{written}]") == projection.load_inputs(f"[{before}]") == [e]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def typed(value: object) -> object:
    """`value` with each scalar's type and a float's bits, so that 1 != 1.0 != True and 0.0 != -0.0."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value.hex() if isinstance(value, float) else value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6), st.datetimes())
def test_kept_events_come_back_exactly_as_they_went_in(data: dict, at: datetime) -> None:
    at = at.replace(tzinfo=UTC)
    e = projection.LedgerEvent("referral.updated.v1", at, "emp_1", data, "partner_1")
    (back,) = projection.load_inputs(projection.dump_inputs([e]))
    assert back == e and typed(back.data) == typed(data)
    # and rows json.dumps wrote before read back the same
    (old,) = projection.load_inputs(json.dumps([[e.event_type, at.isoformat(), "emp_1", "partner_1", data]]))
    assert typed(old.data) == typed(data)


zones = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30)), None])
times = st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), zones)
days = st.dates()


@settings(max_examples=300, deadline=None)
@given(st.lists(times | days, max_size=8))
def test_isoformat_remembered_is_isoformat(values: list[datetime | date]) -> None:
    for value in values + values:  # the second time from memory
        assert records_json.isoformat(value) == value.isoformat()


def test_equal_instants_in_other_zones_are_not_confused() -> None:
    at = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=1)))
    assert at == elsewhere
    assert records_json.isoformat(at) == "2026-03-01T10:00:00+00:00"
    assert records_json.isoformat(elsewhere) == "2026-03-01T11:00:00+01:00"
    assert records_json.isoformat(datetime(2026, 3, 1)) == "2026-03-01T00:00:00"
    assert records_json.isoformat(date(2026, 3, 1)) == "2026-03-01"


def test_scoped_facts_are_remembered_by_type() -> None:
    assert domain.scoped("routed", "e1", 2) is domain.scoped("routed", "e1", 2)
    assert domain.scoped("routed", "e1", True).attempt is True  # not the int 1 of an earlier call
    assert domain.scoped("routed", "e1", 1).attempt == 1 and type(domain.scoped("routed", "e1", 1).attempt) is int
    assert domain.scoped("placed", ["unhashable"], None) == domain.Fact("placed", ["unhashable"], None)  # type: ignore[arg-type]


def jsonb_exact_before(value: object) -> bool:
    """`projection.jsonb_exact` as it was (a recursion of generators)."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value) and (  # type: ignore[arg-type]
            1e-4 <= abs(value) < 1e15 or (value == 0.0 and math.copysign(1.0, value) > 0))  # type: ignore[arg-type]
    if kind is dict:
        return all(type(v) is str or jsonb_exact_before(v) for v in value.values())  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return all(type(v) is str or jsonb_exact_before(v) for v in value)  # type: ignore[attr-defined]
    return True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)
    | st.sampled_from([0.0, -0.0, 1e-7, 1e-4, 1e16, 3.5, float("nan"), float("inf")]) | st.decimals(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_jsonb_exact_walks_as_the_recursion_did(value: object) -> None:
    assert projection.jsonb_exact(value) is jsonb_exact_before(value)
