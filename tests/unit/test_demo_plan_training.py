"""The demo's program year before and after the referrals (talentloop/demo_plan.py): training
providers' cohorts, their completers referred, internships and conversions to full time."""

from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from plumbing.business_days import BusinessDays
from services.employer_gateway import api as gateway
from services.intake import training
from talentloop import demo_plan, samples
from talentloop.demo_plan import plan

pytestmark = pytest.mark.unit
MONDAY = date(2025, 11, 3)


def test_completers_are_referred_after_their_cohort_ends_by_their_provider_or_another_partner():
    p = plan(7, 90, MONDAY)
    referred = {s.n: (s.partner, s.day) for s in p.steps if s.kind == demo_plan.REFER}
    mine = {n: t for n, t in p.trainees.items() if t.referred}
    assert 0.3 * len(referred) < len(mine) < 0.7 * len(referred)
    assert set(mine) <= set(referred)
    for n, t in mine.items():
        partner, day = referred[n]
        assert t.completed and t.ended_on < day and t.provider in demo_plan.TRAINING_PROVIDERS
        assert t.provider == partner or partner not in demo_plan.TRAINING_PROVIDERS
    # Northside trains no one: its completers come from either provider.
    assert {t.provider for n, t in mine.items() if referred[n][0] == "northside-tech-collective"} == set(
        demo_plan.TRAINING_PROVIDERS)


def test_participants_not_referred_complete_or_exit_half_way_with_a_reason():
    p = plan(7, 100, MONDAY)
    others = [t for t in p.trainees.values() if not t.referred]
    assert len(others) == 25 and all(t.n >= demo_plan.UNREFERRED for t in others)
    exits = [t for t in others if not t.completed]
    assert exits and all(t.exit_reason in demo_plan.EXIT_REASONS and t.credential is None for t in exits)
    for t in exits:
        weeks = next(x["length_weeks"] for x in samples.PROGRAMS[t.provider] if x["program_id"] == t.program_id)
        assert t.ended_on == t.enrolled_on + timedelta(weeks=weeks // 2)
    assert any(t.completed for t in others)


def test_each_provider_reports_an_enrollment_on_the_days_it_changes_as_it_then_stands():
    p = plan(7, 60, MONDAY)
    reported = defaultdict(list)
    for s in p.steps:
        if s.kind == demo_plan.TRAIN:
            reported[s.n].append(s.day)
    assert set(reported) == set(p.trainees)
    first_referral = min(s.day for s in p.steps if s.kind == demo_plan.REFER)
    for n, t in p.trainees.items():
        assert reported[n] == t.days and max(t.days) < first_referral
        statuses = [t.record(d)["status"] for d in t.days]
        assert statuses[0] == "enrolled" and statuses[-1] == t.status
        for d in t.days:  # what the JSON API takes, for anyone
            body = samples.enrollment_body(samples.person(n, run="unit"), t.record(d), f"e-{n}")
            assert training.validate_training(body).program_id == t.program_id
    credentials = Counter(bool(t.record(t.ended_on).get("credentials")) for t in p.trainees.values() if t.completed)
    assert credentials[True] and credentials[False]  # some completers earn the program's credential
    assert any(t.progress_on for t in p.trainees.values())
    # Few days of training reports: the cohorts start and end together.
    assert len({d for t in p.trainees.values() for d in t.days}) == 3


def test_a_trainees_enrollment_does_not_depend_on_how_many_others_there_are():
    small, large = plan(7, 30, MONDAY), plan(7, 90, MONDAY)
    assert {n: t for n, t in small.trainees.items() if n < 30} == {n: t for n, t in large.trainees.items() if n < 30}


def test_an_intern_is_paid_less_and_some_are_converted_eight_weeks_in_at_the_full_wage():
    p = plan(7, 120, MONDAY)
    by = defaultdict(list)
    for s in p.steps:
        by[(s.partner, s.n, s.attempt)].append(s)
    converted = ended = 0
    for steps in by.values():
        [place] = [s for s in steps if s.kind == demo_plan.PLACE] or [None]
        if place is None:
            continue
        start = date.fromisoformat(place.data["terms"]["start_date"])
        intern = place.data["as_intern"]
        assert float(intern["wage"]["amount"]) < float(place.data["terms"]["wage"]["amount"])
        assert intern["end_date"] == (start + timedelta(weeks=demo_plan.INTERN_WEEKS)).isoformat()
        checks = {s.data["milestone_days"]: s for s in steps if s.kind == demo_plan.CHECK_IN}
        conversions = [s for s in steps if s.kind == demo_plan.CONVERT]
        if conversions:
            converted += 1
            [c] = conversions
            assert c.day == start + demo_plan.CONVERTED_AFTER and checks[30].data["still_employed"]
            assert c.data["wage"] == place.data["terms"]["wage"]  # the job's wage: a raise on the intern's
            assert checks[90].data["as_intern"] == {}  # as planned for the job
        elif 90 in checks:
            ended += 1
            assert checks[90].data["as_intern"]["still_employed"] is False  # the internship ended at 12 weeks
            assert 180 not in checks or checks[180].data["as_intern"] is None
    assert converted and ended


def test_the_planned_employer_requests_are_what_the_gateway_takes():
    """The driver adds the opening's title, occupation and kind (demo.Driver.terms)."""
    p = plan(7, 60, MONDAY)
    intern_post = samples.OPENINGS["civic-data-labs"][1]
    opening = {"job_title": intern_post["title"], "onet_soc_code": intern_post["onet_soc_code"]}
    for s in p.steps:
        if s.kind == demo_plan.PLACE:
            gateway.PlacementIn.model_validate({**s.data["terms"], **opening, "employment_type": "full_time"})
            gateway.PlacementIn.model_validate({**s.data["terms"], **opening, "employment_type": "internship",
                                                **s.data["as_intern"]})
        elif s.kind == demo_plan.CONVERT:
            gateway.ConversionIn.model_validate({**s.data, **opening, "job_title": intern_post["hired_as"]})
        elif s.kind == demo_plan.CHECK_IN:
            said = {k: v for k, v in s.data.items() if k != "as_intern"}
            gateway.RetentionIn.model_validate({**said, "checked_on": s.day.isoformat()})


def test_the_bootcamp_asks_for_services_half_way_and_one_request_a_year_is_declined():
    p = plan(7, 90, MONDAY)
    asked = {n: t for n, t in p.trainees.items() if t.service}
    assert asked and all(t.provider == demo_plan.SERVICE_REQUESTER and t.completed for t in asked.values())
    assert [n for n, t in asked.items() if t.service_declined] == [min(asked)]  # the first: out of its area
    assert {t.service for t in asked.values()} <= set(demo_plan.SERVICES)
    requests = {s.n: s for s in p.steps if s.kind == demo_plan.REQUEST_SERVICE}
    delivered = {s.n: s for s in p.steps if s.kind == demo_plan.DELIVER_SERVICE}
    assert set(requests) == set(asked) and set(delivered) == set(asked) - {min(asked)}
    for n, s in requests.items():
        assert s.day == asked[n].half_way and asked[n].enrolled_on < s.day < asked[n].ended_on
        if n in delivered:
            assert delivered[n].day == BusinessDays().add(s.day, demo_plan.DELIVERED_AFTER)
    # A day's services come after the providers' reports and before the referrals.
    for day in {s.day for s in requests.values()}:
        kinds = [s.kind for s in p.on(day)]
        assert kinds == sorted(kinds, key=lambda k: demo_plan.PHASE.get(k, 3))
