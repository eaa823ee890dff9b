"""What the demo did, counted with the funnel's own definitions (talentloop/demo.py's Tally),
and the employer requests the driver makes of the plan's steps on the opening's terms."""

from datetime import date

import pytest

from talentloop import demo, demo_plan, samples

pytestmark = pytest.mark.unit
ENROLLED = {"status": "enrolled"}
COMPLETED = {"status": "completed", "credentials": [{"name": "CompTIA Security+", "awarded_on": "2026-03-27"}]}


def test_the_coalition_funnel_follows_participants_into_their_referrals_by_person():
    tally = demo.Tally()
    for person, record in (("person-1", ENROLLED), ("person-1", COMPLETED), ("person-2", {"status": "completed"}),
                           ("person-3", {"status": "exited"}), ("person-4", ENROLLED)):
        tally.trained(person, record)  # as last reported
    tally.referred_people |= {"person-1", "person-2", "person-9"}  # person-9 never trained
    for stage in ("routed", "acknowledged", "interviewed", "offered", "placed", "retained_90_days"):
        tally.add("r1", "forge-coding-bootcamp", stage)
    tally.add("r9", "northside-tech-collective", "routed")
    tally.person_of |= {"r1": "person-1", "r9": "person-9"}  # person-2 was never routed
    tally.details["r1"] = {"retained_90_days", "retained_180_days"}
    tally.employment_types["r1"] = ["internship", "full_time"]  # an intern hired full time
    people = tally.pipeline["people"]
    assert tally.pipeline["enrollments"] == 4
    assert people["training"] == {"enrolled": 4, "completed_training": 2, "credential_earned": 1}
    assert people["jobs"]["referred"] == 2 and people["jobs"]["routed"] == 1
    assert people["jobs"]["retained_180_days"] == 1
    assert people["placed_by_type"] == {"full_time": 1, "part_time": 0, "apprenticeship": 0, "internship": 1,
                                        "micro_internship": 0}
    counts = tally.counts  # what the demo checks against GET /v1/funnel's total and pipeline, this run
    assert counts["pipeline.people.training.enrolled"] == 4 and counts["referrals.stages.routed"] == 2
    assert "pipeline.people.placed_by_type.part_time" not in counts  # zeros left out, as the ledger's are


def driver_on(kind: str) -> demo.Driver:
    p = demo_plan.plan(7, 60, date(2025, 11, 3))
    driver = demo.Driver(None, p, "unit", None, None, 3)  # type: ignore[arg-type]
    post = next(o for posts in samples.OPENINGS.values() for o in posts if o["employment_type"] == kind)
    driver.postings["o1"] = post
    driver.opening[("forge-coding-bootcamp", 2)] = "o1"
    return driver


def steps_of(kind: str) -> list[demo_plan.Step]:
    p = demo_plan.plan(7, 60, date(2025, 11, 3))
    return [s for s in p.steps if s.kind == kind]


def test_a_job_is_offered_and_placed_on_the_opening_s_kind_an_intern_on_the_intern_s_terms():
    place = steps_of(demo_plan.PLACE)[0]
    person = ("forge-coding-bootcamp", 2)
    intern = driver_on("internship").terms(person, place.data)
    assert intern["employment_type"] == "internship" and intern["wage"] == place.data["as_intern"]["wage"]
    assert intern["job_title"] == "Web Development Intern" and intern["end_date"]
    apprentice = driver_on("apprenticeship").terms(person, place.data)
    assert apprentice["employment_type"] == "apprenticeship" and apprentice["apprenticeship_registered"] is True
    job = driver_on("full_time").terms(person, place.data)
    assert job["wage"] == place.data["terms"]["wage"] and "end_date" not in job


def test_an_intern_not_converted_has_no_check_in_after_the_internship_ended():
    person = ("forge-coding-bootcamp", 2)
    ended = [s for s in steps_of(demo_plan.CHECK_IN) if s.data["milestone_days"] == 90
             and s.data["as_intern"] and s.data["as_intern"].get("still_employed") is False and s.data["still_employed"]]
    assert ended
    intern, job = driver_on("internship"), driver_on("full_time")
    assert intern.check_in(person, ended[0].data) == {"milestone_days": 90, "still_employed": False}
    assert job.check_in(person, ended[0].data)["still_employed"] is True  # the same step, on a job
    later = [s for s in steps_of(demo_plan.CHECK_IN) if s.data["milestone_days"] == 180 and s.data["as_intern"] is None]
    assert later and intern.check_in(person, later[0].data) is None


def test_service_requests_are_counted_as_the_reports_count_them():
    tally = demo.Tally()
    for rid, kind in (("s1", "transportation"), ("s2", "technology"), ("s3", "childcare")):
        tally.service(rid, requester_id="forge-coding-bootcamp", provider_id="eastside-community-services",
                      person_key=f"person-{rid}", service_type=kind, status="requested", partner_status="requested")
    tally.service("s1", status="declined", partner_status="declined")
    tally.service("s2", status="accepted", partner_status="accepted")
    tally.service("s3", status="accepted", partner_status="accepted")
    tally.service("s3", status="delivered", partner_status="delivered", delivered_on=date(2026, 1, 12))
    assert tally.service_counts == {"requests": 3, "status": {"requested": 0, "accepted": 1, "declined": 1,
                                                              "delivered": 1, "cancelled": 0}}
    assert tally.services["s3"].service_type == "childcare"  # a change keeps what the request said
