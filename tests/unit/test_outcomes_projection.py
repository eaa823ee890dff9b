"""The projection's compact form (services/outcomes/projection.py): `project` reads only the data
keys it keeps, so a projection from compact events equals the one from whole ledger events;
the cheaper order is the old order; what survives the ledger's jsonb is told apart."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from bench.outcomes_ledger import make_stream
from contracts import Envelope, events, upcasting
from services.outcomes import domain, projection, records_json
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
    # A work-based learning hire: a v2 placement (an apprenticeship with a schedule) and 1.2
    # check-ins (title, promotion, pay basis, benefits, schedule), beside the v1 history.
    wbl = [e for e in by_referral["bench-ref-0000004"] if e.family not in ("placement.reported", "retention.checked")]
    t, employer = max(e.occurred_at for e in wbl), "emp_wbl"
    wbl += [
        LedgerEvent("placement.reported.v2", t + timedelta(days=1), employer, V2_TERMS, None),
        LedgerEvent("retention.checked.v1", t + timedelta(days=91), employer, CHECKIN_1_2, None),
    ]
    by_referral["wbl"] = wbl
    return by_referral


V2_TERMS = {
    "referral_id": "wbl", "employer_id": "emp_wbl", "opening_id": "opn_wbl", "job_title": "Electrician Apprentice",
    "onet_soc_code": "47-2111.00", "employment_type": "apprenticeship", "apprenticeship_registered": True,
    "pay_basis": "hourly", "wage": {"amount": "21.50", "unit": "hour", "currency": "USD"}, "hours_per_week": 40.0,
    "engagement_hours": None, "end_date": "2028-12-31",
    "benefits": {"health": True, "paid_leave": True, "retirement": False, "dental": True, "vision": False,
                 "tuition": True, "childcare": False, "other": ["tools allowance"]},
    "schedule": {"predictable": True, "advance_notice_days": 14, "variable_hours": False, "min_hours_per_week": 38.0,
                 "max_hours_per_week": 40.0},
    "start_date": "2027-01-04",
}
CHECKIN_1_2 = {
    "referral_id": "wbl", "employer_id": "emp_wbl", "opening_id": "opn_wbl", "milestone_days": 90,
    "still_employed": True, "checked_on": "2027-04-05", "wage": {"amount": "24.00", "unit": "hour", "currency": "USD"},
    "hours_per_week": 40.0, "job_title": "Electrician Apprentice II", "promoted": True, "pay_basis": "hourly",
    "benefits": {"health": True, "paid_leave": True, "retirement": True},
    "schedule": {"predictable": True, "advance_notice_days": 21, "variable_hours": False},
}


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
    assert {"pay_basis", "apprenticeship_registered", "engagement_hours", "end_date", "schedule", "promoted"} <= seen


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


# --- issue 15 slice 1: v1 and v2 placements, check-ins, unpaid and salaried terms --------------


def upcast_placement(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 placement's data as v2, as the ledger would keep a v2 event: the contracts' upcaster,
    then through the v2 model and its JSON (every field, nulls included)."""
    v2 = upcasting.placement_reported_v1_to_v2(data)
    return json.loads(events.PlacementReportedV2.model_validate(v2).model_dump_json())


def test_a_v1_placement_and_its_v2_form_give_the_same_projection(referrals) -> None:  # type: ignore[no-untyped-def]
    """Over the benchmark's hires (its placements are v1)."""
    hires = 0
    for rid, found in referrals.items():
        if not any(e.event_type == "placement.reported.v1" for e in found):
            continue
        v2 = [LedgerEvent("placement.reported.v2", e.occurred_at, e.employer_id, upcast_placement(e.data), e.partner_id)
              if e.event_type == "placement.reported.v1" else e for e in found]
        before, after = projection.project(rid, found), projection.project(rid, v2)
        assert after.record == before.record and after.partner_status == before.partner_status, rid
        p = before.record.placement
        assert p.pay_basis == ("hourly" if p.wage_unit == "hour" else "salary") and p.paid
        assert p.hourly_wage is not None and p.predictable_schedule is None
        hires += 1
    assert hires >= 20


def test_a_v2_placement_keeps_type_pay_benefits_and_schedule(referrals) -> None:  # type: ignore[no-untyped-def]
    got = projection.project("wbl", referrals["wbl"])
    p = got.record.placement
    assert (p.employment_type, p.apprenticeship_registered, p.pay_basis, p.paid) == ("apprenticeship", True, "hourly", True)
    assert (p.hourly_wage, p.hours_per_week, p.end_date) == (Decimal("21.50"), 40.0, date(2028, 12, 31))
    assert (p.health, p.paid_leave, p.retirement, p.dental, p.vision, p.tuition, p.childcare) == (
        True, True, False, True, False, True, False)
    assert p.other_benefits == ("tools allowance",)
    assert (p.predictable_schedule, p.advance_notice_days, p.variable_hours) == (True, 14, False)
    assert (p.min_hours_per_week, p.max_hours_per_week) == (38.0, 40.0)
    assert got.partner_status.detail["employment_type"] == "apprenticeship"
    assert got.partner_status.detail["wage_band"] == "$20-25/hour"


def test_every_check_in_is_kept_with_its_wage(referrals) -> None:  # type: ignore[no-untyped-def]
    got = projection.project("wbl", referrals["wbl"]).record
    (checkin,) = got.checkins
    assert (checkin.milestone_days, checkin.still_employed, checkin.checked_on) == (90, True, date(2027, 4, 5))
    assert (checkin.wage_amount, checkin.wage_unit, checkin.currency, checkin.hourly_wage) == (
        Decimal("24.00"), "hour", "USD", Decimal("24.00"))
    assert (checkin.job_title, checkin.promoted, checkin.pay_basis) == ("Electrician Apprentice II", True, "hourly")
    assert (checkin.health, checkin.paid_leave, checkin.retirement) == (True, True, True)
    assert (checkin.predictable_schedule, checkin.advance_notice_days, checkin.variable_hours) == (True, 21, False)
    assert got.retention == {90: True}
    # A 1.1 check-in (wage only, weekly): kept, its hourly wage over the placement's hours.
    t = max(e.occurred_at for e in referrals["wbl"])
    old = {"referral_id": "wbl", "employer_id": "emp_wbl", "opening_id": "opn_wbl", "milestone_days": 180,
           "still_employed": False, "checked_on": "2027-07-05", "wage": {"amount": "1000.00", "unit": "week"}}
    other_employer = {**old, "employer_id": "emp_other", "milestone_days": 30}
    more = [*referrals["wbl"], LedgerEvent("retention.checked.v1", t + timedelta(days=90), "emp_wbl", old),
            LedgerEvent("retention.checked.v1", t + timedelta(days=91), "emp_other", other_employer)]
    got = projection.project("wbl", more).record
    assert [c.milestone_days for c in got.checkins] == [90, 180]  # only the hire's employer's
    last = got.checkins[1]
    assert (last.wage_amount, last.wage_unit, last.currency, last.hours_per_week) == (Decimal("1000.00"), "week", "USD", None)
    assert last.hourly_wage is None and last.hourly_wage_over(got.placement.hours_per_week) == Decimal("25.00")
    assert (last.health, last.predictable_schedule, last.job_title, last.promoted) == (None, None, None, None)
    assert got.separated_on == date(2027, 7, 5)


def hire(terms: dict[str, Any], base: dict[str, Any] = V2_TERMS) -> projection.Projection:
    t = datetime(2027, 1, 1, tzinfo=UTC)
    ids = {"referral_id": "r", "employer_id": "e", "opening_id": "o"}
    return projection.project("r", [
        LedgerEvent("referral.routed.v1", t, "e", {**ids, "attempt": 1, "partner_id": "p"}, "p"),
        LedgerEvent("placement.reported.v2", t + timedelta(days=9), "e", {**base, **terms, **ids}, None),
    ])


def test_an_unpaid_internship_is_paid_nothing_and_the_partner_is_told_so() -> None:
    got = hire({"employment_type": "internship", "pay_basis": "unpaid", "wage": None, "hours_per_week": 20,
                "apprenticeship_registered": None, "schedule": None, "benefits": {}})
    p = got.record.placement
    assert (p.paid, p.pay_basis, p.wage_amount, p.hourly_wage) == (False, "unpaid", Decimal(0), Decimal(0))
    assert (p.predictable_schedule, p.variable_hours, p.health) == (None, None, False)
    assert got.partner_status.status == "hired"
    assert got.partner_status.detail["wage_band"] == "unpaid"
    assert got.partner_status.detail["employment_type"] == "internship"


def test_a_salary_without_hours_has_no_hourly_wage_and_no_band() -> None:
    got = hire({"employment_type": "micro_internship", "pay_basis": "salary", "hours_per_week": None,
                "wage": {"amount": "2000.00", "unit": "month", "currency": "USD"}})
    p = got.record.placement
    assert p.hours_per_week is None and p.hourly_wage is None and p.paid
    assert "wage_band" not in got.partner_status.detail and got.partner_status.detail["job_title"]
    # A project fee over the engagement's hours.
    fee = hire({"employment_type": "micro_internship", "pay_basis": "project_fee", "hours_per_week": None,
                "engagement_hours": 40, "wage": {"amount": "1000.00", "unit": "week"}})
    assert fee.record.placement.hourly_wage == Decimal("25.00")
    assert fee.partner_status.detail["wage_band"] == "$25-30/hour"


def test_v2_data_without_its_null_keys_gives_the_same_record() -> None:
    """The ledger keeps what was received: a v2 event written without its null fields reads
    the same as one with them."""
    full = {"employment_type": "micro_internship", "pay_basis": "project_fee", "hours_per_week": None,
            "engagement_hours": 30, "apprenticeship_registered": None, "end_date": None, "schedule": None}
    sparse = {k: v for k, v in {**V2_TERMS, **full}.items() if v is not None}
    assert "schedule" not in sparse and "end_date" not in sparse
    assert hire(full).record == hire({}, base=sparse).record


def test_an_offer_tells_the_partner_its_kind_of_job() -> None:
    t = datetime(2027, 1, 1, tzinfo=UTC)
    ids = {"referral_id": "r", "employer_id": "e", "opening_id": "o"}
    offer = {**{k: v for k, v in V2_TERMS.items() if k not in ("referral_id", "employer_id", "opening_id")},
             **ids, "offer_id": "of1", "employment_type": "internship", "apprenticeship_registered": None}
    got = projection.project("r", [
        LedgerEvent("referral.routed.v1", t, "e", {**ids, "attempt": 1, "partner_id": "p"}, "p"),
        LedgerEvent("offer.extended.v2", t + timedelta(days=9), "e", offer, None),
    ])
    assert got.partner_status == projection.PartnerStatus("offered", {"employment_type": "internship"})


def test_the_published_fixtures_of_a_v2_placement_and_a_1_2_check_in_project() -> None:
    """The contracts' golden examples (contracts/fixtures), read as the ledger keeps them."""
    from pathlib import Path

    import contracts

    root = Path(contracts.__file__).parent / "fixtures"
    found = [stored(Envelope.model_validate_json((root / path).read_text()))
             for path in ("placement.reported/2.0.json", "retention.checked/1.2.json")]
    found[1] = LedgerEvent(found[1].event_type, found[1].occurred_at + timedelta(days=1), found[1].employer_id,
                           found[1].data, found[1].partner_id)  # the fixtures share their time
    record = projection.project("ref_golden", found).record
    p, (c,) = record.placement, record.checkins
    assert (p.employment_type, p.apprenticeship_registered, p.hourly_wage, p.end_date) == (
        "apprenticeship", True, Decimal("21.50"), date(2027, 11, 30))
    assert (p.predictable_schedule, p.advance_notice_days, p.other_benefits) == (True, 14, ("transit pass",))
    assert (c.milestone_days, c.hourly_wage, c.promoted, c.job_title) == (90, Decimal("34.50"), True,
                                                                          "Senior Web Developer")


# --- issue 15 slice 2: a conversion at the same employer -------------------------------------

IDS = {"referral_id": "r", "employer_id": "e", "opening_id": "o"}
INTERN = {**V2_TERMS, **IDS, "job_title": "Web Intern", "employment_type": "internship", "apprenticeship_registered": None,
          "wage": {"amount": "18.00", "unit": "hour", "currency": "USD"}, "hours_per_week": 20.0,
          "end_date": "2027-04-30", "benefits": {}, "schedule": None}
CONVERTED = {**INTERN, "job_title": "Web Developer", "employment_type": "full_time", "end_date": None,
             "wage": {"amount": "52000.00", "unit": "year", "currency": "USD"}, "hours_per_week": 40.0,
             "benefits": {"health": True, "paid_leave": True}, "pay_basis": "salary",
             "converted_on": "2027-03-01", "from_employment_type": "internship"}


def converted_history(*more: LedgerEvent) -> list[LedgerEvent]:
    t = datetime(2027, 1, 1, tzinfo=UTC)
    return [
        LedgerEvent("referral.routed.v1", t, "e", {**IDS, "attempt": 1, "partner_id": "p"}, "p"),
        LedgerEvent("placement.reported.v2", t + timedelta(days=9), "e", {**INTERN, "start_date": "2027-01-11"}, None),
        LedgerEvent("placement.converted.v1", t + timedelta(days=60), "e", {**CONVERTED, "start_date": "2027-01-11"},
                    None),
        *more,
    ]


def test_a_conversion_is_a_hire_that_keeps_the_placement_and_adds_the_current_terms() -> None:
    got = projection.project("r", converted_history())
    assert domain.fact_of("placement.converted.v1") == "converted" and "converted" in domain.HIRE_FACTS
    assert got.derived.stages == ["referred", "routed", "acknowledged", "offered", "placed"]
    record = got.record
    assert (record.placement.employment_type, record.placement.hourly_wage) == ("internship", Decimal("18.00"))
    c = record.conversion
    assert (c.converted_on, c.from_employment_type, c.to_employment_type) == (date(2027, 3, 1), "internship", "full_time")
    now = record.current_placement
    assert now is c.terms and (now.job_title, now.start_date, now.hourly_wage) == ("Web Developer", date(2027, 1, 11),
                                                                                 Decimal("25.00"))
    # The partner still sees hired, with the job as it is now.
    assert got.partner_status == projection.PartnerStatus("hired", {
        "job_title": "Web Developer", "employment_type": "full_time", "wage_band": "$25-30/hour",
        "benefits": {"health": True, "retirement": False, "paid_leave": True}, "start_date": "2027-01-11"})


def test_a_conversion_is_read_from_the_compact_keys_and_in_any_order() -> None:
    seen: set[str] = set()
    found = converted_history()
    projection.project("r", [LedgerEvent(e.event_type, e.occurred_at, e.employer_id, Reads(e.data, seen), e.partner_id)
                             for e in found])
    assert {"converted_on", "from_employment_type"} <= seen <= INPUT_KEYS
    expected = projection.project("r", found)
    assert projection.project("r", [projection.compact(e) for e in reversed(found)]) == expected


def test_a_hire_without_a_conversion_projects_as_before() -> None:
    """Placements never converted (v1 and v2): no conversion, the placement is the current job,
    and the stored JSON has no new key, so their rows and the rebuild's hash stay as they were."""
    for got in (hire({}), projection.project("r", converted_history()[:2])):
        assert got.record.conversion is None and got.record.current_placement is got.record.placement
        assert "conversion" not in records_json.dump(got.record)


def test_a_conversion_at_another_employer_than_the_hires_is_not_the_hires() -> None:
    other = {**CONVERTED, "employer_id": "x", "start_date": "2027-01-11"}
    found = converted_history()[:2] + [
        LedgerEvent("placement.converted.v1", datetime(2027, 3, 2, tzinfo=UTC), "x", other, None)]
    assert projection.project("r", found).record.conversion is None


def test_the_partner_sees_a_conversion_with_its_kinds_and_date_and_a_band_for_its_wage() -> None:
    from services.outcomes import timeline

    shown = timeline.partner_view({**CONVERTED, "start_date": "2027-01-11"})
    assert (shown["converted_on"], shown["from_employment_type"], shown["employment_type"]) == (
        "2027-03-01", "internship", "full_time")
    assert "wage" not in shown and shown["wage_band"] == "$25-30/hour"  # 52,000 a year over 40 hours
