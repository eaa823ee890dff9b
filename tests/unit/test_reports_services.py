"""Supportive-service reports (reports/supportive.py): requests, fulfilment rate, days to
fulfilment and value by type, provider and requester; who sees which request; the outcome
comparison with its suppression; properties; services.csv, services_outcomes.csv and the HTML."""

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes.pipeline import Enrolled, Hire, Trainee
from services.outcomes.records import ReferralRecord
from services.outcomes.reports import GoodJobPolicy, ReportSettings, build_reports, to_csv, to_html
from services.outcomes.reports.render import SUPPRESSED_CSV, SUPPRESSED_HTML
from services.outcomes.reports.supportive import (
    STATUSES,
    Participant,
    Request,
    days_to_fulfilment,
    outcome_comparison,
    participants,
    services_report,
    visible,
)

pytestmark = pytest.mark.unit

MARCH = datetime(2024, 3, 1, 10, tzinfo=UTC)
EST = timezone(timedelta(hours=-5))


def req(rid, requester, provider, person, kind, status, told=None, **kw):
    return Request(rid, requester, provider, person, kind, status, told or status, **kw)


REQUESTS = [
    req("s1", "P1", "C1", "ann", "transportation", "delivered", requested_at=MARCH, delivered_on=date(2024, 3, 5),
        value_delivered=Decimal("40"), amount_requested=Decimal("40"), currency="USD", value_currency="USD"),
    req("s2", "P1", "C1", "bob", "childcare", "declined", requested_at=MARCH),
    req("s3", "P2", "C2", "cy", "transportation", "requested", requested_at=MARCH),  # within its limit
    req("s4", "P2", "C1", "dee", "technology", "accepted", "stale", requested_at=MARCH),
    req("s5", "P1", "C2", "ann", "food", "cancelled", requested_at=MARCH),
    # 23:30 in New York on 1 March is 2 March in UTC: 10 days to 12 March.
    req("s6", "P2", "C2", "eve", "transportation", "delivered", requested_at=datetime(2024, 3, 1, 23, 30, tzinfo=EST),
        delivered_on=date(2024, 3, 12), value_delivered=Decimal("100.5")),
]


def test_requests_fulfilment_days_and_value():
    report = services_report(REQUESTS)
    t = report["total"]
    assert t["requests"] == 6 and t["status"] == {"requested": 1, "accepted": 1, "declined": 1, "delivered": 2,
                                                   "cancelled": 1}
    # settled: the 4 ended and the open one flagged stale; s3 is still inside its limit.
    assert (t["stale_open"], t["settled"], t["fulfilment_rate"]) == (1, 5, 0.4)
    assert (t["delivered_with_days"], t["median_days_to_fulfilment"]) == (2, 7.0)
    assert t["value_delivered"] == [{"currency": "USD", "amount": "140.50"}]
    assert t["amount_requested"] == [{"currency": "USD", "amount": "40.00"}]
    by_type = {g["group"]: g for g in report["by"]["service_type"]}
    assert (by_type["transportation"]["requests"], by_type["transportation"]["fulfilment_rate"]) == (3, 1.0)
    assert by_type["technology"]["fulfilment_rate"] == 0.0 and by_type["food"]["fulfilment_rate"] == 0.0
    assert [g["group"] for g in report["by"]["provider"]] == ["C1", "C2"]
    assert {g["group"]: g["requests"] for g in report["by"]["requester"]} == {"P1": 3, "P2": 3}
    # A request whose service.requested has not arrived yet: "(unknown)" type, no days.
    early = services_report([req("s7", "P1", "C1", "x", None, "accepted")])
    assert early["by"]["service_type"][0]["group"] == "(unknown)" and early["total"]["fulfilment_rate"] is None


def test_days_to_fulfilment_are_counted_on_the_business_time_zone_s_calendar():
    """Support checks `delivered_on` against the request's day in the business time zone: a
    request at 20:30 in New York (01:30 UTC the next day) delivered that same local evening is 0
    days there, not -1 as counted from the UTC date."""
    new_york = ZoneInfo("America/New_York")
    evening = req("s7", "P1", "C1", "fay", "transportation", "delivered",
                  requested_at=datetime(2024, 3, 4, 20, 30, tzinfo=new_york).astimezone(UTC),
                  delivered_on=date(2024, 3, 4))
    assert days_to_fulfilment(evening) == -1  # the UTC calendar: what the report must not say
    assert days_to_fulfilment(evening, new_york) == 0
    settings = ReportSettings(GoodJobPolicy(Decimal("25.00"), "test"), business_timezone=new_york)
    services = build_reports([], [], [], settings, requests=[evening])["services"]
    assert services["total"]["median_days_to_fulfilment"] == 0
    assert [g["median_days_to_fulfilment"] for g in services["by"]["provider"]] == [0]


def test_a_requester_sees_its_requests_and_a_provider_those_addressed_to_it():
    assert [r.request_id for r in REQUESTS if visible(r, "P1")] == ["s1", "s2", "s5"]
    assert [r.request_id for r in REQUESTS if visible(r, "C1")] == ["s1", "s2", "s4"]
    assert all(visible(r, None) for r in REQUESTS)


PLACED = frozenset({"referred", "routed", "acknowledged", "interviewed", "offered", "placed"})


def test_participants_join_referrals_and_enrollments_by_person():
    records = [
        ReferralRecord("r1", "P1", MARCH, person_key="ann", reached={"placed": MARCH}),
        ReferralRecord("r2", "P1", MARCH, person_key="bob"),
    ]
    enrolled = [Enrolled(Trainee("bob", "enrolled", True), "T", "W"), Enrolled(Trainee("cy", "completed", False), "T", "W")]
    hires = [Hire("bob", PLACED), Hire("nobody-here", PLACED)]
    people = {p.person_key: p for p in participants(records, enrolled, hires)}
    assert set(people) == {"ann", "bob", "cy"}
    assert people["ann"] == Participant("ann", enrolled=False, completed_training=False, placed=True)
    assert people["bob"] == Participant("bob", enrolled=True, completed_training=True, placed=True)  # a credential
    assert people["cy"] == Participant("cy", enrolled=True, completed_training=True, placed=False)


PEOPLE = [Participant(f"served{n}", True, n < 8, n < 6) for n in range(12)] + [
    Participant(f"other{n}", n < 10, n < 3, n < 4) for n in range(20)]
SERVED = [req(f"d{n}", "P1", "C1", f"served{n}", "food", "delivered") for n in range(12)]


def test_the_outcome_comparison_and_its_suppression():
    o = outcome_comparison(SERVED + [req("x", "P1", "C1", "other0", "food", "declined")], PEOPLE)
    assert o["received"] == {"people": 12, "enrolled": 12, "completed_training": 8, "completion_rate": 0.6667,
                             "placed": 6, "placement_rate": 0.5}
    assert o["not_received"] == {"people": 20, "enrolled": 10, "completed_training": 3, "completion_rate": 0.3,
                                 "placed": 4, "placement_rate": 0.2}
    assert "not a causal" in o["note"] and not o["suppressed"]
    assert not outcome_comparison(SERVED, PEOPLE, threshold=10)["suppressed"]
    # 3 served: the other side would be the total less them, so both go when one is small.
    small = outcome_comparison(SERVED[:3], PEOPLE, threshold=10)
    assert small["suppressed"] and small["received"]["people"] is None and small["not_received"]["placed"] is None
    assert not outcome_comparison([], PEOPLE, threshold=10)["suppressed"]  # 0 received is shown


requests = st.lists(st.builds(
    lambda n, person, kind, status, stale, day: req(
        f"s{n}", "P", "C", f"p{person}", kind, status, "stale" if stale and status in ("requested", "accepted") else None,
        requested_at=MARCH, delivered_on=MARCH.date() + timedelta(days=day) if status == "delivered" else None,
        value_delivered=Decimal(day) if status == "delivered" else None),
    st.integers(0, 10**6), st.integers(0, 20), st.sampled_from(["food", "housing", None]), st.sampled_from(STATUSES),
    st.booleans(), st.integers(0, 30)), max_size=40, unique_by=lambda r: r.request_id)


@settings(max_examples=60, deadline=None)
@given(requests, st.lists(st.builds(Participant, st.integers(0, 25).map(lambda n: f"p{n}"), st.booleans(),
                                    st.booleans(), st.booleans()), unique_by=lambda p: p.person_key))
def test_statuses_and_groups_add_up_and_rates_are_fractions(generated, people):
    report = services_report(generated, people)
    t = report["total"]
    assert sum(t["status"].values()) == t["requests"] == len(generated)
    assert t["status"]["delivered"] <= t["settled"] <= t["requests"]
    assert t["fulfilment_rate"] is None or 0 <= t["fulfilment_rate"] <= 1
    for dimension in ("service_type", "provider", "requester"):
        assert sum(g["requests"] for g in report["by"][dimension]) == t["requests"]
        assert sum(g["settled"] for g in report["by"][dimension]) == t["settled"]
    o = report["outcomes"]
    assert o["received"]["people"] + o["not_received"]["people"] == len(people)
    for side in ("received", "not_received"):
        assert all(v is None or 0 <= v <= 1 for k, v in o[side].items() if k.endswith("rate"))
        assert o[side]["completed_training"] <= o[side]["enrolled"] <= o[side]["people"]


def test_csv_and_html():
    base = ReportSettings(GoodJobPolicy(Decimal("25"), "test"))
    records = [ReferralRecord(f"r{n}", "P1", MARCH, person_key=p.person_key) for n, p in enumerate(PEOPLE)]
    built = build_reports(records, [], [], base, requests=REQUESTS + SERVED)
    files = to_csv(built)
    rows = {(r["dimension"], r["group"]): r for r in csv.DictReader(io.StringIO(files["services.csv"]))}
    assert rows[("total", "all")]["requests"] == "18" and rows[("total", "all")]["status.delivered"] == "14"
    assert rows[("service_type", "transportation")]["value_delivered"] == "140.50 USD"
    outcomes = {r["group"]: r for r in csv.DictReader(io.StringIO(files["services_outcomes.csv"]))}
    assert (outcomes["received"]["people"], outcomes["not_received"]["people"]) == ("12", "20")
    page = to_html(built, "t", "2025-01-01", "all partners")
    assert 'id="services"' in page and "not a causal effect" in page
    hidden = build_reports(records, [], [], replace(base, suppress_funnel=True), requests=SERVED[:3])
    outcomes = list(csv.DictReader(io.StringIO(to_csv(hidden)["services_outcomes.csv"])))
    assert all(r["people"] == SUPPRESSED_CSV for r in outcomes)
    assert SUPPRESSED_HTML in to_html(hidden, "t", "d", "partner P1").split('id="services"')[1]


def test_the_report_routes_count_days_on_the_configured_business_time_zone():
    from plumbing.settings import Settings  # noqa: PLC0415 - the routes' settings alone
    from services.outcomes.reports_api import _settings  # noqa: PLC0415

    assert _settings(Settings(), None).business_timezone == ZoneInfo("UTC")
    new_york = Settings(TALENTLOOP_BUSINESS_TIMEZONE="America/New_York")
    assert _settings(new_york, "partner-a").business_timezone == ZoneInfo("America/New_York")
