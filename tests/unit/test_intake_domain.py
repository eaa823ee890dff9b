from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.intake.domain import ConsentNeeded, ReferralIn, accept, candidate_id

pytestmark = pytest.mark.unit
SECRET = b"test-secret"


def referral(**over):
    doc = {
        "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": "Ana.Diaz@Example.org"},
        "skills": ["Python", "  SQL  "],
        "consent": {"share_with_employers": True, "given_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat()},
    }
    doc.update(over)
    return ReferralIn.model_validate(doc)


def test_accept_builds_a_submitted_event_without_contact_data():
    event = accept(referral(), "p1", SECRET)
    dumped = event.model_dump_json()
    assert event.partner_id == "p1" and event.event_type == "referral.submitted.v2"
    assert [(s.id, s.text) for s in event.skills] == [("python", "Python"), ("sql", "SQL")]
    assert event.consent.aggregate_reports is False  # not asked means no
    assert "Ana" not in dumped and "example.org" not in dumped.lower()


def test_candidate_id_is_stable_across_case_and_partners_and_depends_on_the_secret():
    a = referral().candidate
    b = referral(candidate={"given_name": "A", "family_name": "D", "email": "ana.diaz@example.org"}).candidate
    assert candidate_id(a, SECRET) == candidate_id(b, SECRET)
    assert candidate_id(a, SECRET) != candidate_id(a, b"other")


def test_consent_is_required():
    with pytest.raises(ConsentNeeded):
        accept(referral(consent={"share_with_employers": False, "given_at": "2026-11-01T00:00:00Z"}), "p1", SECRET)


@pytest.mark.parametrize(
    "over",
    [
        {"skills": ["  "]},
        {"candidate": {"given_name": "A", "family_name": "B"}},
        {"candidate": {"given_name": "A", "family_name": "B", "email": "not-an-email"}},
        {"target_onet_soc_code": "developer"},
    ],
)
def test_bad_referrals_fail_validation(over):
    with pytest.raises(ValidationError):
        referral(**over)
