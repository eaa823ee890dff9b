"""Outcomes' shortcuts answer as what they replaced: the remembered `isoformat`
(services/outcomes/records_json.py) character for character, on the benchmark's kept events
and on generated times (other time zones too), remembered facts kept apart by type,
`projection.jsonb_exact` as the recursion it replaced, and kept events written by
pydantic_core's encoder read back as json.dumps' were (every value, its type and float bits).
And report records (placements with issue 15's terms, check-ins) come back as they were
stored, and a record stored before those fields still loads."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.outcomes_ledger import make_stream
from contracts import Envelope
from services.outcomes import domain, projection, records, records_json, store


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


# --- issue 15 slice 1: the records' new fields -------------------------------------------------

money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
hours = st.none() | st.floats(min_value=0.5, max_value=80, allow_nan=False)
maybe_bool = st.none() | st.booleans()
placements = st.builds(
    records.Placement,
    employer_id=st.text(max_size=8), job_title=st.text(max_size=8), onet_soc_code=st.just("15-1252.00"),
    wage_amount=money, wage_unit=st.sampled_from(["hour", "week", "month", "year"]),
    currency=st.sampled_from(["USD", "EUR"]), hours_per_week=hours,
    employment_type=st.sampled_from(["full_time", "part_time", "internship", "micro_internship", "apprenticeship"]),
    health=st.booleans(), retirement=st.booleans(), paid_leave=st.booleans(), start_date=st.dates(),
    pay_basis=st.none() | st.sampled_from(["hourly", "salary", "stipend", "project_fee", "unpaid"]),
    paid=st.booleans(), apprenticeship_registered=maybe_bool,
    engagement_hours=st.none() | st.integers(1, 2000), end_date=st.none() | st.dates(),
    dental=st.booleans(), vision=st.booleans(), tuition=st.booleans(), childcare=st.booleans(),
    other_benefits=st.lists(st.text(max_size=6), max_size=3).map(tuple),
    predictable_schedule=maybe_bool, advance_notice_days=st.none() | st.integers(0, 365), variable_hours=maybe_bool,
    min_hours_per_week=hours, max_hours_per_week=hours,
)
checkins = st.builds(
    records.Checkin,
    milestone_days=st.sampled_from([30, 90, 180]), still_employed=st.booleans(), checked_on=st.dates(),
    wage_amount=st.none() | money, wage_unit=st.none() | st.sampled_from(["hour", "year"]),
    currency=st.none() | st.just("USD"), hours_per_week=hours, job_title=st.none() | st.text(max_size=8),
    promoted=maybe_bool, pay_basis=st.none() | st.sampled_from(["hourly", "unpaid"]), health=maybe_bool,
    paid_leave=maybe_bool, retirement=maybe_bool, predictable_schedule=maybe_bool,
    advance_notice_days=st.none() | st.integers(0, 365), variable_hours=maybe_bool,
)
referral_records = st.builds(
    records.ReferralRecord,
    referral_id=st.text(max_size=8), partner_id=st.text(max_size=8),
    referred_at=st.datetimes(timezones=st.just(UTC)), placement=st.none() | placements,
    retention=st.dictionaries(st.sampled_from([30, 90, 180]), st.booleans()),
    checkins=st.lists(checkins, max_size=3).map(tuple),
    conversion=st.none() | st.builds(
        records.Conversion, converted_on=st.dates(),
        from_employment_type=st.sampled_from(["internship", "micro_internship", "apprenticeship"]),
        to_employment_type=st.sampled_from(["full_time", "part_time"]), terms=placements),
)


def stored_and_loaded(record: records.ReferralRecord) -> records.ReferralRecord:
    """As the store writes a record (pydantic_core's JSON of `dump`) and reads it (json.loads, `load`)."""
    return records_json.load(records.ReferralRecord, json.loads(store._json(records_json.dump(record))))  # noqa: SLF001


@settings(max_examples=200, deadline=None)
@given(referral_records)
def test_records_with_placements_and_check_ins_come_back_as_they_were_stored(record: records.ReferralRecord) -> None:
    back = stored_and_loaded(record)
    assert back == record
    assert type(back.checkins) is tuple and all(type(c.wage_amount) in (Decimal, type(None)) for c in back.checkins)
    if back.placement is not None:
        assert type(back.placement.other_benefits) is tuple and type(back.placement.wage_amount) is Decimal



def plain_dump(value: object) -> object:
    """`records_json.dump` as it was before its fields of plain types were taken as they are."""
    import dataclasses
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            x = getattr(value, f.name)
            if f.metadata.get(records.OMITTED_WHEN_EMPTY) and (x is None or x == ()):
                continue
            out[f.name] = plain_dump(x)
        return out
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain_dump(x) for x in value]
    if isinstance(value, dict):
        return {str(k): plain_dump(x) for k, x in value.items()}
    return value


@settings(max_examples=200, deadline=None)
@given(referral_records)
def test_dump_writes_what_the_plain_recursion_writes(record: records.ReferralRecord) -> None:
    # the stored JSON text, so key order and every value's type count
    assert store._json(records_json.dump(record)) == store._json(plain_dump(record))  # noqa: SLF001

# A record as the store held it before issue 15: no pay basis, schedule, extra benefits or check-ins.
OLD_STORED = {
    "referral_id": "r1", "partner_id": "p1", "referred_at": "2026-01-05T10:00:00+00:00", "program": None,
    "provider": None, "training_completed_on": None, "occupation": "15-1252.00", "employer_id": "e1",
    "reached": {"referred": "2026-01-05T10:00:00+00:00", "placed": "2026-02-01T09:00:00+00:00"}, "status": "hired",
    "exit": None, "placement": {
        "employer_id": "e1", "job_title": "Dev", "onet_soc_code": "15-1252.00", "wage_amount": "58760.00",
        "wage_unit": "year", "currency": "USD", "hours_per_week": 40.0, "employment_type": "full_time",
        "health": True, "retirement": False, "paid_leave": True, "start_date": "2026-02-09"},
    "retention": {"30": True}, "separated_on": None, "highest_degree": None, "credentials": [], "skills_added": 0,
    "aggregate_consent": False, "demographics": None,
}


def test_a_record_stored_before_the_new_fields_still_loads() -> None:
    record = records_json.load(records.ReferralRecord, json.loads(json.dumps(OLD_STORED)))
    p = record.placement
    assert (p.wage_amount, p.hours_per_week, p.hourly_wage) == (Decimal("58760.00"), 40.0, Decimal("28.25"))
    assert (p.pay_basis, p.paid, p.predictable_schedule, p.other_benefits, p.dental) == (None, True, None, (), False)
    assert record.checkins == () and record.retention == {30: True}
    # Written again, it keeps every old field as it was; only the new ones are added.
    again = records_json.dump(record)
    assert {k: v for k, v in again.items() if k in OLD_STORED} == {**OLD_STORED, "placement": again["placement"]}
    assert {k: v for k, v in again["placement"].items() if k in OLD_STORED["placement"]} == OLD_STORED["placement"]


# --- issue 15 slice 2: a conversion --------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(referral_records)
def test_a_record_without_a_conversion_is_written_as_before_it_existed(record: records.ReferralRecord) -> None:
    """`conversion` is left out while None and `checkins` while empty, so a record without them
    is written with the fields it had before they existed; with one, it is written and comes back."""
    written = records_json.dump(record)
    assert ("conversion" in written) is (record.conversion is not None)
    assert ("checkins" in written) is bool(record.checkins)
    left_out = {"conversion"} if record.conversion is None else set()
    left_out |= set() if record.checkins else {"checkins"}
    # issue 15 slice 3's funnel fields, left out while empty too (a projection sets the outcome)
    left_out |= {f for f in ("outcome", "declined_by", "flags", "person_key") if not getattr(record, f)}
    assert list(written) == [f for f in records.ReferralRecord.__dataclass_fields__ if f not in left_out]
    if record.conversion is not None:
        assert written["conversion"]["terms"]["start_date"] == record.conversion.terms.start_date.isoformat()
    assert record.current_placement == (record.conversion.terms if record.conversion else record.placement)


# The record's fields at ee0512b, before issue 15: a referral never placed is stored with exactly these.
BEFORE_ISSUE_15 = ["referral_id", "partner_id", "referred_at", "program", "provider", "training_completed_on",
                   "occupation", "employer_id", "reached", "status", "exit", "placement", "retention", "separated_on",
                   "highest_degree", "credentials", "skills_added", "aggregate_consent", "demographics"]


@settings(max_examples=100, deadline=None)
@given(referral_records)
def test_a_record_never_placed_is_written_with_the_fields_it_had_before_issue_15(record: records.ReferralRecord) -> None:
    if record.placement is None and not record.checkins and record.conversion is None:
        assert list(records_json.dump(record)) == BEFORE_ISSUE_15
