"""Work-based learning through the running services (issue 15, slice 2): an internship that
started 100 days ago is converted into a full-time job at the same employer, and the 90-day
check-in reports a raise. The partner's timeline shows every step in order (the conversion with
its date and kinds, its pay as a band), the status stays hired until it is retained, and the
reports count the conversion and give the wage growth at it and at 90 days.

The network is shared with the other e2e tests (the demo year's check-ins among them), so the
reports' counts are compared before and after this referral's steps, never read as if they
were its own: a median over everyone's wages says nothing about this one raise."""

from __future__ import annotations

from datetime import date, timedelta

from tests.e2e.helpers import OPERATOR, Api, opening_body, referral_body, unique

EMPLOYER, PARTNER = "civic-data-labs", "riverbend-community-college"


async def reports(api: Api) -> dict:
    r = await api.http.get(api.url("outcomes", "/v1/reports"), headers=api.net.auth(OPERATOR))
    assert r.status_code == 200, r.text
    return r.json()


def raised_by_point(report: dict) -> dict[int | None, tuple[int, int]]:
    """Wage growth points (None: at conversion; else the milestone's days) -> (people with
    both wages, people raised)."""
    return {g["milestone_days"]: (g["with_wages"], g["raised"]) for g in report["good_jobs"]["wage_growth"]}


async def test_an_intern_converted_to_full_time_with_a_raise_at_90_days(api: Api) -> None:
    before = raised_by_point(await reports(api))
    skill = unique("wbl")
    opening = await api.open_opening(EMPLOYER, {**opening_body([skill], capacity=2), "employment_type": "internship"})
    referral = await api.refer(PARTNER, referral_body([skill]))
    await api.wait_in_inbox(EMPLOYER, referral, opening)

    start = date.today() - timedelta(days=100)
    internship = {
        "job_title": "Data Intern", "onet_soc_code": "15-1252.00", "employment_type": "internship",
        "wage": {"amount": "18.00", "unit": "hour"}, "hours_per_week": 20, "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=90)).isoformat(),
    }
    full_time = {
        "converted_on": (start + timedelta(days=60)).isoformat(), "job_title": "Junior Data Analyst",
        "onet_soc_code": "15-1252.00", "employment_type": "full_time", "wage": {"amount": "22.00", "unit": "hour"},
        "hours_per_week": 40, "benefits": {"health": True, "paid_leave": True},
    }
    check_in = {"milestone_days": 90, "still_employed": True, "checked_on": date.today().isoformat(),
                "wage": {"amount": "24.00", "unit": "hour"}}
    for action, body in (("acknowledge", None), ("placement", internship), ("conversion", full_time),
                         ("retention", check_in)):
        r = await api.act(EMPLOYER, referral, action, body, headers={"Idempotency-Key": f"{referral}-{action}"})
        assert r.status_code == 200, f"{action}: {r.text}"

    await api.wait_timeline(referral, lambda t: t["status"] == "retained_90_days", "retained 90 days")
    r = await api.timeline(referral, f"partner:{PARTNER}")
    assert r.status_code == 200, r.text
    seen = r.json()
    employer_steps = [e for e in seen["events"] if e["type"].split(".")[0] in ("placement", "retention")]
    assert [e["type"] for e in employer_steps] == [
        "placement.reported.v2", "placement.converted.v1", "retention.checked.v1"]
    converted = employer_steps[1]["data"]
    assert (converted["converted_on"], converted["from_employment_type"], converted["employment_type"]) == (
        full_time["converted_on"], "internship", "full_time")
    assert converted["wage_band"] == "$20-25/hour" and "wage" not in converted
    assert seen["status"] == "retained_90_days"

    after = await reports(api)
    assert after["funnel"]["total"]["conversions"]["converted"] >= 1
    interns = {g["group"]: g for g in after["funnel"]["by"]["employment_type"]}["internship"]
    assert interns["conversions"]["converted"] >= 1 and interns["conversions"]["to_full_time"] >= 1
    assert after["good_jobs"]["total"]["converted"] >= 1
    growth = {g["milestone_days"]: g for g in after["good_jobs"]["wage_growth"]}
    assert growth[None]["point"] == "conversion"
    assert growth[None]["median_growth_pct"] is not None and growth[90]["median_growth_pct"] is not None
    # This referral adds one person with both wages and a raise at each point: 18 -> 22 an
    # hour at the conversion, 18 -> 24 at 90 days.
    was = {point: before.get(point, (0, 0)) for point in (None, 90)}
    assert raised_by_point(after)[None] == (was[None][0] + 1, was[None][1] + 1)
    assert raised_by_point(after)[90] == (was[90][0] + 1, was[90][1] + 1)
