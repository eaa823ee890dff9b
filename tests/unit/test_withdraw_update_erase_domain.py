"""Withdrawals, updates and erasure in the pure domains of routing, the gateway and outcomes."""

import itertools
from datetime import UTC, datetime

import pytest

from contracts import events
from services.employer_gateway import domain as gateway
from services.employer_gateway.domain import InvalidTransition, Notice, Referral, State
from services.outcomes import domain as outcomes
from services.routing import domain as routing

pytestmark = pytest.mark.unit
WHEN = datetime(2026, 12, 1, 15, tzinfo=UTC)


# --- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome, withdrawn, again",
    [("unmatched", False, True), ("unmatched", True, False), ("routed", False, False), ("withdrawn", True, False)],
)
def test_only_an_unmatched_referral_still_standing_is_decided_again(outcome, withdrawn, again):
    assert routing.decides_again(outcome, withdrawn) is again


@pytest.mark.parametrize(
    "outcome, withdrawn, frees",
    [("routed", False, True), ("routed", True, False), ("unmatched", False, False), ("withdrawn", True, False)],
)
def test_only_the_first_withdrawal_of_a_routed_referral_frees_a_slot(outcome, withdrawn, frees):
    assert routing.releases_slot(outcome, withdrawn) is frees


from tests.unit.test_gateway_domain import TERMS  # noqa: E402

# --- gateway state machine ------------------------------------------------------------------


def placement(r: Referral):
    return r.report_placement(TERMS)


@pytest.mark.parametrize("state", [State.routed, State.acknowledged, State.interviewing])
def test_withdrawal_moves_any_referral_in_progress_to_withdrawn(state):
    r = Referral("ref", "emp", "opn", state)
    assert r.withdraw() is True and r.state is State.withdrawn
    assert r.withdraw() is False and r.state is State.withdrawn  # a second withdrawal changes nothing


@pytest.mark.parametrize("state", [State.placed, State.declined])
def test_a_placement_or_a_decline_stands_when_the_referral_is_withdrawn(state):
    r = Referral("ref", "emp", "opn", state)
    assert r.withdraw() is False and r.state is state


def test_every_employer_action_on_a_withdrawn_referral_is_refused_naming_the_state():
    r = Referral("ref", "emp", "opn", State.interviewing)
    r.schedule_interview("i1", WHEN, events.InterviewMode.video)
    r.withdraw()
    actions = [
        r.acknowledge,
        lambda: r.decline(events.DeclineReason.candidate_withdrew, None),
        lambda: r.schedule_interview("i2", WHEN, events.InterviewMode.phone),
        lambda: r.record_interview_outcome("i1", events.InterviewOutcome.advanced),
        lambda: placement(r),
    ]
    for action in actions:
        with pytest.raises(InvalidTransition) as err:
            action()
        assert err.value.current is State.withdrawn and "withdrawn" in str(err.value)
    assert r.state is State.withdrawn and r.interviews["i1"].outcome is None


@pytest.mark.parametrize(
    "state, after",
    [
        (State.routed, State.withdrawn),
        (State.acknowledged, State.withdrawn),
        (State.interviewing, State.withdrawn),
        (State.declined, State.declined),
        (State.placed, State.placed),
        (State.withdrawn, State.withdrawn),
    ],
)
def test_erasure_withdraws_only_referrals_still_in_progress(state, after):
    r = Referral("ref", "emp", "opn", state)
    assert r.close_on_erasure() is (state is not after)
    assert r.state is after


ROUTING = {
    "referral_id": "ref", "partner_id": "p1", "candidate_id": "cand_1", "opening_id": "opn", "employer_id": "emp",
    "score": 0.85, "matched_skills": ["python"], "missing_skills": ["docker"], "candidate_skills": ["python", "sql"],
    "credentials": [{"name": "CompTIA A+", "status": "completed"}], "explanation": "Has all 1 required skills",
}


def test_without_personal_data_keeps_the_openings_side_only():
    out = gateway.without_personal_data({**ROUTING, "training": {"program": "Bootcamp"}})
    assert out["candidate_id"] == "erased"
    assert not {"candidate_skills", "credentials", "training"} & out.keys()
    assert out["matched_skills"] == ["python"] and out["score"] == 0.85 and out["explanation"] == ROUTING["explanation"]
    assert ROUTING["candidate_id"] == "cand_1"  # the input is not changed


def updated(*skills: tuple[str | None, str]) -> events.ReferralUpdatedV1:
    return events.ReferralUpdatedV1(
        referral_id="ref", partner_id="p1", candidate_id="cand_1", changed=["skills", "credentials"],
        skills=[events.SkillRef(id=i, text=t) for i, t in skills], skills_vocabulary="2026.11",
        credentials=[events.Credential(name="AWS Cloud Practitioner")],
    )


def test_an_updated_profile_is_shown_in_the_routing_decisions_terms():
    profile = gateway.profile_of(updated(("python", "Python 3"), (None, "  Bee  Keeping "), ("python", "py")))
    assert profile["candidate_skills"] == ["bee keeping", "python"]
    assert [c["name"] for c in profile["credentials"]] == ["AWS Cloud Practitioner"]


def test_an_update_that_arrived_before_the_decision_wins_over_the_routed_profile():
    profile = gateway.profile_of(updated(("docker", "Docker")))
    entry = gateway.inbox_entry(ROUTING, Notice(profile=profile))
    assert entry.state is State.routed and entry.candidate_id == "cand_1"
    assert entry.routing["candidate_skills"] == ["docker"]
    assert entry.routing["credentials"][0]["name"] == "AWS Cloud Practitioner"
    assert entry.routing["score"] == 0.85


def test_a_referral_withdrawn_before_its_decision_enters_the_inbox_withdrawn():
    entry = gateway.inbox_entry(ROUTING, Notice(withdrawn=True))
    assert entry.state is State.withdrawn and entry.routing == ROUTING


def test_a_referral_of_an_erased_candidate_enters_withdrawn_and_without_personal_data():
    entry = gateway.inbox_entry(ROUTING, Notice(erased=True, profile={"candidate_skills": ["python"]}))
    assert entry.state is State.withdrawn and entry.candidate_id == "erased"
    assert "candidate_skills" not in entry.routing and "credentials" not in entry.routing


# --- outcomes -------------------------------------------------------------------------------


def test_withdrawn_is_a_side_exit_and_updated_adds_no_stage():
    assert outcomes.fact_of("referral.withdrawn.v1") == "withdrawn"
    assert outcomes.fact_of("referral.updated.v1") == "updated"
    assert outcomes.fact_of("candidate.erased.v1") is None  # about a person, not a referral's stage
    assert outcomes.stages_reached(["submitted", "updated"]) == ["referred"]
    assert outcomes.stages_reached(["submitted", "routed", "withdrawn"]) == ["referred", "routed", "withdrawn"]
    assert outcomes.EXITS == ("unmatched", "declined", "withdrawn", "closed")


@pytest.mark.parametrize(
    "facts, status",
    [
        (["submitted", "withdrawn"], "withdrawn"),
        (["routed", "declined", "withdrawn"], "withdrawn"),
        (["routed", "interview_scheduled", "withdrawn"], "withdrawn"),
        (["acknowledged", "placed", "withdrawn"], "hired"),
        (["submitted", "updated"], "submitted"),
    ],
)
def test_partner_status_is_withdrawn_unless_placed(facts, status):
    assert outcomes.partner_status(facts) == status


def test_an_unmatched_referral_routed_after_an_update_is_no_longer_unmatched_in_any_order():
    facts = ["submitted", "unmatched", "updated", "routed"]
    results = {
        (tuple(outcomes.stages_reached(p)), tuple(outcomes.anomalies(p)), outcomes.partner_status(p))
        for p in itertools.permutations(facts)
    }
    assert results == {(("referred", "routed"), (), "in_review")}


def test_routed_and_unmatched_without_an_update_is_still_flagged():
    assert outcomes.anomalies(["submitted", "unmatched", "routed"]) == ["referral both routed and unmatched"]
    assert outcomes.stages_reached(["unmatched", "routed"]) == ["referred", "routed", "unmatched"]


def test_redaction_drops_personal_parts_and_keeps_skill_ids():
    submitted = {
        "referral_id": "ref", "partner_id": "p1", "candidate_id": "cand_1", "skills_vocabulary": "2026.11",
        "skills": [{"id": "python", "text": "Python 3"}, {"id": None, "text": "Beekeeping"}],
        "credentials": [{"name": "A+"}], "training": {"program": "Bootcamp"},
        "contact_sealed": {"kid": "cand_1#1", "nonce": "n", "ciphertext": "c"},
        "target_onet_soc_code": "15-1252.00",
    }
    out = outcomes.redact(submitted)
    assert out == {
        "referral_id": "ref", "partner_id": "p1", "candidate_id": "erased", "skills_vocabulary": "2026.11",
        "skills": [{"id": "python"}, {"id": None}], "target_onet_soc_code": "15-1252.00",
    }
    assert outcomes.redact(out) == out  # twice: the same
    assert outcomes.redact({"referral_id": "r", "skills": ["JS", "Beekeeping"]})["skills"] == []  # v1: free text only
    routed = outcomes.redact({**ROUTING})
    assert routed["matched_skills"] == ["python"] and "candidate_skills" not in routed and "credentials" not in routed
    assert outcomes.redact({"referral_id": "r", "employer_id": "e"}) == {"referral_id": "r", "employer_id": "e"}
