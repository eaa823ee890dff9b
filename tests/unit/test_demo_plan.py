"""The demo's program year (talentloop/demo_plan.py): the same seed, the same dated schedule."""

from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from plumbing.business_days import BusinessDays
from talentloop import demo_plan
from talentloop.demo_plan import plan, start_for

pytestmark = pytest.mark.unit
MONDAY = date(2025, 11, 3)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    a, b = plan(7, 60, MONDAY), plan(7, 60, MONDAY)
    assert [(s, s.data) for s in a.steps] == [(s, s.data) for s in b.steps]
    assert a.profiles == b.profiles
    assert [(s, s.data) for s in plan(8, 60, MONDAY).steps] != [(s, s.data) for s in a.steps]


def test_a_referrals_fate_does_not_depend_on_how_many_others_there_are():
    small, large = plan(7, 30, MONDAY), plan(7, 90, MONDAY)
    for n in range(30):
        mine = [(s, s.data) for s in small.steps if s.n == n]
        assert mine == [(s, s.data) for s in large.steps if s.n == n]


def test_a_later_start_by_whole_weeks_shifts_every_day_and_changes_nothing_else():
    a, b = plan(7, 40, MONDAY), plan(7, 40, MONDAY + timedelta(weeks=5))
    assert [s.day + timedelta(weeks=5) for s in a.steps] == [s.day for s in b.steps]
    assert [(s.partner, s.n, s.attempt, s.kind) for s in a.steps] == [(s.partner, s.n, s.attempt, s.kind) for s in b.steps]


def test_referrals_are_made_on_business_days_by_every_partner():
    p = plan(7, 30, MONDAY)
    refer = [s for s in p.steps if s.kind == demo_plan.REFER]
    assert len(refer) == 30 and all(BusinessDays().is_business_day(s.day) for s in refer)
    assert {s.partner for s in refer} == set(demo_plan.PARTNERS)
    assert refer[0].day == MONDAY and max(s.day for s in refer) == MONDAY + timedelta(days=2)  # 10 a day


def test_check_ins_fall_at_the_start_date_plus_each_milestone():
    p = plan(7, 120, MONDAY)
    starts = {(s.partner, s.n, s.attempt): date.fromisoformat(s.data["terms"]["start_date"])
              for s in p.steps if s.kind == demo_plan.PLACE}
    checkins = [s for s in p.steps if s.kind == demo_plan.CHECK_IN]
    assert starts and checkins
    # Hires start together every four weeks from the program's first Monday, a week after accepting at least.
    assert all((d - MONDAY).days % 28 == 0 for d in starts.values())
    assert all(starts[(s.partner, s.n, s.attempt)] >= s.day + timedelta(days=7) for s in p.steps if s.kind == demo_plan.PLACE)
    for s in checkins:
        assert s.day == starts[(s.partner, s.n, s.attempt)] + timedelta(days=s.data["milestone_days"])
    milestones = Counter(s.data["milestone_days"] for s in checkins)
    assert milestones[30] >= milestones[90] >= milestones[180] > 0  # separations end the check-ins
    assert any(not s.data["still_employed"] for s in checkins)
    # A raise shows as a higher wage at a later check-in than at the placement.
    placed = {(s.partner, s.n, s.attempt): s.data["terms"]["wage"]["amount"] for s in p.steps if s.kind == demo_plan.PLACE}
    assert any(float(s.data["wage"]["amount"]) > float(placed[(s.partner, s.n, s.attempt)])
               for s in checkins if s.data["still_employed"])


def test_some_answers_come_after_the_stale_limit_and_none_on_it():
    cal = BusinessDays()
    p = plan(7, 60, MONDAY, stale_days=2)
    routed: dict[tuple[str, int, int], object] = {}
    for s in p.steps:
        if s.kind == demo_plan.REFER:
            routed[(s.partner, s.n, 1)] = s.day
    answers = defaultdict(list)
    for s in p.steps:
        if s.kind in (demo_plan.ACKNOWLEDGE, demo_plan.DECLINE, demo_plan.STALE_DUE):
            answers[(s.partner, s.n, s.attempt)].append(s)
    late = 0
    for (partner, n, attempt), steps in answers.items():
        if attempt != 1:
            continue
        first = steps[0]
        if first.kind == demo_plan.STALE_DUE:
            late += 1
            assert first.day == cal.add(routed[(partner, n, 1)], 2)  # the driver visits the deadline
            assert steps[1].day > first.day  # answered a business day later at least
        else:
            assert first.day == cal.add(routed[(partner, n, 1)], 1)
    assert late > 0


def test_a_declined_referral_is_planned_again_from_the_day_of_the_decline():
    p = plan(7, 90, MONDAY)
    by = defaultdict(list)
    for s in p.steps:
        by[(s.partner, s.n)].append(s)
    again = 0
    for steps in by.values():
        for k in (2, 3):
            nxt = [s for s in steps if s.attempt == k]
            if nxt:
                again += 1
                declined = [s for s in steps if s.attempt == k - 1 and s.kind == demo_plan.DECLINE]
                assert declined and min(s.day for s in nxt) > declined[0].day
    assert again > 0


def test_the_year_ends_on_or_before_today_and_starts_on_a_monday():
    today = date(2026, 11, 30)
    start = start_for(7, 100, today)
    assert start.weekday() == 0 and plan(7, 100, start).last_day <= today
    assert plan(7, 100, start + timedelta(weeks=1)).last_day > today  # no earlier than it must


def test_every_day_is_in_order_and_a_day_starts_with_its_referrals():
    p = plan(7, 50, MONDAY)
    assert [s.day for s in p.steps] == sorted(s.day for s in p.steps)
    for day in p.days:
        kinds = [s.kind for s in p.on(day)]
        if demo_plan.REFER in kinds:
            assert kinds[: kinds.count(demo_plan.REFER)] == [demo_plan.REFER] * kinds.count(demo_plan.REFER)
