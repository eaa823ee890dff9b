"""The fast writers of a stored projection write exactly what the generic ones wrote
(services/outcomes/records_json.py, store.py): the record's JSON, the scoped facts' JSON and
the remembered `isoformat`, character for character, on the benchmark's projections and on
generated values (other time zones, unicode, odd types that take the generic path); and
`projection.jsonb_exact` answers as the recursion it replaced."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.outcomes_ledger import make_stream
from contracts import Envelope
from services.outcomes import domain, projection, records_json, store
from services.outcomes.records import Credential, Demographics, Placement, ReferralRecord


def generic(record: ReferralRecord) -> str:
    return json.dumps(records_json.dump(record))


def test_the_benchmarks_projections_are_written_as_before() -> None:
    by_referral: dict[str, list[projection.LedgerEvent]] = {}
    for _, _, value in make_stream(5, 300).records:
        env = Envelope.from_bytes(value)
        rid = env.data.get("referral_id")
        if rid:
            by_referral.setdefault(rid, []).append(store.compact_event(env))
    placed = 0
    for rid, found in by_referral.items():
        p = projection.project(rid, found)
        placed += p.record.placement is not None
        assert records_json.dumps_referral(p.record) == generic(p.record)
        assert store._scoped_facts_json(p.facts) == json.dumps([[f.name, f.employer_id, f.attempt] for f in p.facts])
        for e in found:  # the kept form: its time through the remembered isoformat
            assert projection.dump_input(e) == json.dumps(
                [e.event_type, e.occurred_at.isoformat(), e.employer_id, e.partner_id, e.data], separators=(",", ":"))
    assert placed, "the stream has placements (their fast path is covered)"


zones = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30)), None])
times = st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), zones)
days = st.dates()
text = st.text(max_size=12)
maybe_text = st.none() | text
# Values of the types project makes, and others (an int for a str, a float, a datetime as a
# date) that must take the generic path and come out as it writes them.
odd = st.integers() | st.floats(allow_nan=False) | st.booleans()

placements = st.builds(
    Placement, employer_id=text, job_title=text | odd, onet_soc_code=text, wage_amount=st.decimals(
        allow_nan=False, allow_infinity=False, places=2) | st.just(Decimal("1E+3")),
    wage_unit=text, currency=text, hours_per_week=st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    employment_type=text, health=st.booleans(), retirement=st.booleans() | st.integers(0, 1), paid_leave=st.booleans(),
    start_date=days | times,
)
credentials = st.builds(Credential, name=text | odd, status=text, awarded_on=st.none() | days | times)
records = st.builds(
    ReferralRecord,
    referral_id=text, partner_id=text | odd, referred_at=times | days,
    program=maybe_text | odd, provider=maybe_text, training_completed_on=st.none() | days | times,
    occupation=maybe_text, employer_id=maybe_text,
    reached=st.dictionaries(st.sampled_from(domain.FUNNEL) | text, times | days, max_size=4),
    status=text, exit=maybe_text, placement=st.none() | placements,
    retention=st.dictionaries(st.integers(-5, 400) | text, st.booleans() | st.integers(0, 1), max_size=3),
    separated_on=st.none() | days | times, highest_degree=maybe_text,
    credentials=st.lists(credentials, max_size=3).map(tuple), skills_added=st.integers() | st.booleans(),
    aggregate_consent=st.booleans() | st.integers(0, 1),
    demographics=st.none() | st.just(Demographics(("asian",), "female", True)),
)


@settings(max_examples=400, deadline=None)
@given(records)
def test_a_record_is_written_as_the_generic_dump_writes_it(record: ReferralRecord) -> None:
    assert records_json.dumps_referral(record) == generic(record)


facts = st.builds(domain.Fact, name=text | st.integers(), employer_id=maybe_text | st.integers(),
                  attempt=st.none() | st.integers() | st.booleans() | st.floats(allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(facts, max_size=6))
def test_scoped_facts_are_written_as_json_dumps_writes_them(found: list[domain.Fact]) -> None:
    assert store._scoped_facts_json(found) == json.dumps([[f.name, f.employer_id, f.attempt] for f in found])


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


utc_times = st.datetimes().map(lambda d: d.replace(tzinfo=UTC))
proper_records = st.builds(
    ReferralRecord,
    referral_id=text, partner_id=text, referred_at=utc_times, program=maybe_text, provider=maybe_text,
    training_completed_on=st.none() | days, occupation=maybe_text, employer_id=maybe_text,
    reached=st.dictionaries(st.sampled_from(domain.FUNNEL), utc_times, max_size=7), status=text, exit=maybe_text,
    placement=st.none() | st.builds(
        Placement, employer_id=text, job_title=text, onet_soc_code=text,
        wage_amount=st.decimals(allow_nan=False, allow_infinity=False, places=2), wage_unit=text, currency=text,
        hours_per_week=st.floats(allow_nan=False, allow_infinity=False), employment_type=text, health=st.booleans(),
        retirement=st.booleans(), paid_leave=st.booleans(), start_date=days),
    retention=st.dictionaries(st.sampled_from([30, 90, 180]), st.booleans()), separated_on=st.none() | days,
    highest_degree=maybe_text,
    credentials=st.lists(st.builds(Credential, name=text, status=text, awarded_on=st.none() | days), max_size=3).map(tuple),
    skills_added=st.integers(), aggregate_consent=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(proper_records)
def test_a_record_of_the_types_project_makes_is_written_as_before(record: ReferralRecord) -> None:
    """These take the fast path (unicode and control characters in every text)."""
    assert records_json.dumps_referral(record) == generic(record)


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
