import itertools

import pytest

from plumbing import scrub
from services.outcomes import domain
from services.outcomes.domain import Fact, anomalies, derive, partner_status, stages_reached

pytestmark = pytest.mark.unit


def test_placement_implies_acknowledged_and_routed_even_if_they_arrive_later():
    assert stages_reached(["placed"]) == ["referred", "routed", "acknowledged", "offered", "placed"]


def test_stages_do_not_depend_on_arrival_order():
    facts = ["submitted", "routed", "acknowledged", "interview_scheduled", "placed"]
    results = {tuple(stages_reached(p)) for p in itertools.permutations(facts)}
    assert results == {("referred", "routed", "acknowledged", "interviewed", "offered", "placed")}


def test_unmatched_is_an_exit_not_a_funnel_stage():
    assert stages_reached(["submitted", "unmatched"]) == ["referred", "unmatched"]


@pytest.mark.parametrize(
    "facts, status",
    [
        (["submitted"], "submitted"),
        (["submitted", "routed"], "in_review"),
        (["submitted", "unmatched"], "not_matched"),
        (["routed", "declined"], "declined"),
        (["routed", "interview_scheduled"], "interviewing"),
        (["acknowledged", "placed"], "hired"),
    ],
)
def test_partner_status(facts, status):
    assert partner_status(facts) == status


def test_forbidden_combinations_are_flagged():
    assert anomalies(["declined", "placed"]) == ["placement reported for a declined referral"]
    assert anomalies(["routed", "acknowledged", "placed"]) == []


# Re-routing: declined by one employer, routed again (a new attempt) to another.
DECLINED_BY_1 = [Fact("submitted"), Fact("routed", "emp1", 1), Fact("acknowledged", "emp1"), Fact("declined", "emp1")]


def test_a_referral_declined_and_routed_again_is_in_review_with_the_new_employer():
    facts = [*DECLINED_BY_1, Fact("routed", "emp2", 2)]
    for order in itertools.permutations(facts):
        d = derive(order)
        assert (d.status, d.employer_id, d.attempt, d.anomalies) == ("in_review", "emp2", 2, [])
        assert d.stages == ["referred", "routed", "acknowledged"]  # acknowledged once, at emp1; no exit now


def test_declined_then_waiting_is_not_matched_and_hired_at_the_next_employer_is_hired():
    assert derive([*DECLINED_BY_1, Fact("unmatched", attempt=2)]).status == "not_matched"
    assert derive(DECLINED_BY_1).stages[-1] == "declined"
    hired = derive([*DECLINED_BY_1, Fact("routed", "emp2", 2), Fact("placed", "emp2")])
    assert (hired.status, hired.anomalies) == ("hired", [])
    assert hired.stages == ["referred", "routed", "acknowledged", "offered", "placed"]


def test_an_employer_action_before_its_routing_arrives_belongs_to_that_employer():
    # emp1's decline arrived, its routing (attempt 1) not yet; attempt 2 went to emp2.
    d = derive([Fact("declined", "emp1"), Fact("routed", "emp2", 2)])
    assert (d.status, d.employer_id) == ("in_review", "emp2")


def test_a_placement_at_the_employer_that_declined_is_flagged():
    assert derive([*DECLINED_BY_1, Fact("placed", "emp1")]).anomalies == ["placement reported for a declined referral"]
    assert derive([*DECLINED_BY_1, Fact("routed", "emp2", 2), Fact("placed", "emp2")]).anomalies == []


def test_an_offer_turned_down_closes_the_referral_and_retention_reaches_the_last_stage():
    from services.outcomes.domain import fact_of

    turned_down = derive(["routed", "acknowledged", "offered", "offer_declined"])
    assert (turned_down.status, turned_down.stages[-1]) == ("closed", "closed")
    assert "offered" in turned_down.stages and "placed" not in turned_down.stages
    assert fact_of("retention.checked.v1", {"milestone_days": 90, "still_employed": True}) == "retained_90_days"
    assert fact_of("retention.checked.v1", {"milestone_days": 30, "still_employed": True}) == "retention_checked"
    assert fact_of("retention.checked.v1", {"milestone_days": 180, "still_employed": False}) == "separated"
    kept = derive(["placed", "retention_checked", "retained_90_days"])
    assert kept.status == "retained_90_days" and kept.stages[-1] == "retained_90_days"
    assert derive(["placed", "retained_90_days", "separated"]).status == "closed"


def test_the_partner_is_told_a_status_change_only_once_it_is_named_and_the_status_moved():
    from services.outcomes.domain import status_changed

    told = status_changed("ref1", "p1", "hired", {"job_title": "Technician"}, "interviewing")
    assert told is not None and (told.status.value, told.previous_status.value) == ("hired", "interviewing")
    assert told.detail.job_title == "Technician" and told.partner_id == "p1"
    assert status_changed("ref1", "p1", "submitted", {}, None).previous_status is None  # first word
    assert status_changed("ref1", "p1", "hired", {}, "hired") is None  # nothing moved
    assert status_changed("ref1", "", "in_review", {}, None) is None  # no event named the partner yet


def test_redaction_removes_every_personal_field_the_erasure_removes_elsewhere():
    """The ledger of an erased person keeps no field that intake, routing and the rows kept for
    operations drop (degree and location were kept here before): one definition for all."""
    data = {
        "referral_id": "ref_1", "candidate_id": "cand_1", "partner_id": "p1",
        "skills": [{"id": "python", "text": "Python (3 yrs)"}], "highest_degree": "bachelor",
        "location": "Canary Town", "training": {"program": "Camp"}, "credentials": [{"name": "CNA"}],
        "contact_sealed": {"kid": "k"}, "target_onet_soc_code": "15-1252.00",
    }
    out = domain.redact(data)
    assert out == {"referral_id": "ref_1", "candidate_id": "erased", "partner_id": "p1",
                   "skills": [{"id": "python"}], "target_onet_soc_code": "15-1252.00"}
    assert domain.redact(out) == out
    assert domain.redact is scrub.strip and domain.PERSONAL_KEYS is scrub.PERSONAL_KEYS


def test_a_conversion_alone_shows_the_hire_and_the_partner_still_sees_hired():
    """issue 15 slice 2: placement.converted states `converted`, a fact of the hire."""
    assert domain.fact_of("placement.converted.v1") == "converted"
    routed, placed, converted = (domain.scoped(n, "e", 1) for n in ("routed", "placed", "converted"))
    derived = derive([routed, converted])
    assert derived.status == "hired" and "placed" in derived.stages and derived.employer_id == "e"
    assert derive([routed, placed, converted]) == derive([routed, placed])


# --- outcomes (docs/pipeline.md): exclusive, where the referral stands now -----------------


@pytest.mark.parametrize(
    "facts, outcome",
    [
        ([Fact("submitted")], "pending"),
        ([Fact("submitted"), Fact("unmatched", attempt=1)], "not_matched_never_routed"),
        ([Fact("submitted"), Fact("routed", "emp1", 1)], "in_progress"),
        ([Fact("routed", "emp1", 1), Fact("interview_scheduled", "emp1")], "in_progress"),
        ([Fact("routed", "emp1", 1), Fact("offered", "emp1")], "in_progress"),
        ([Fact("routed", "emp1", 1), Fact("offered", "emp1"), Fact("offer_declined", "emp1")], "offer_declined"),
        ([*DECLINED_BY_1], "declined"),  # no newer decision: no attempt left (or not decided yet)
        ([*DECLINED_BY_1, Fact("unmatched", attempt=2)], "not_matched_after_decline"),
        ([*DECLINED_BY_1, Fact("routed", "emp2", 2)], "in_progress"),
        ([*DECLINED_BY_1, Fact("routed", "emp2", 2), Fact("placed", "emp2")], "placed"),
        ([Fact("routed", "emp1", 1), Fact("placed", "emp1"), Fact("separated", "emp1")], "placed"),
        ([Fact("routed", "emp1", 1), Fact("placed", "emp1"), Fact("retained_90_days", "emp1")], "placed"),
        ([Fact("submitted"), Fact("routed", "emp1", 1), Fact("withdrawn")], "withdrawn"),
        ([Fact("submitted"), Fact("unmatched", attempt=1), Fact("withdrawn")], "withdrawn"),
    ],
)
def test_every_referral_has_one_outcome(facts, outcome):
    assert derive(facts).outcome == outcome


def test_the_old_demo_reading_routed_declined_then_unmatched_is_not_matched_after_a_decline():
    """The demo printed such referrals as routed and as unmatched, and declined 0: now they are
    one outcome, with the decline kept as a flag (declined_by)."""
    d = derive([*DECLINED_BY_1, Fact("unmatched", attempt=2)])
    assert (d.outcome, d.declined_by) == ("not_matched_after_decline", ("emp1",))
    assert "routed" in d.stages


def test_declined_then_placed_elsewhere_keeps_who_declined():
    d = derive([*DECLINED_BY_1, Fact("routed", "emp2", 2), Fact("declined", "emp2"), Fact("routed", "emp3", 3),
                Fact("placed", "emp3")])
    assert (d.outcome, d.declined_by, d.employer_id) == ("placed", ("emp1", "emp2"), "emp3")
