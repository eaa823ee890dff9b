from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from plumbing.vault import CandidateKey, Unreadable
from services.intake import domain

pytestmark = pytest.mark.unit
SECRET = b"test-secret"
KEY = CandidateKey("cand_x", 1, b"k" * 32)


def referral(**over):
    doc = {
        "candidate": {"given_name": " Ana  ", "family_name": "Diaz", "email": "Ana.Diaz@Example.org",
                      "phone": "(312) 555-0142"},
        "skills": ["Python", "  SQL  ", "python", "Beekeeping"],
        "consent": {"share_with_employers": True, "given_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat()},
    }
    doc.update(over)
    return domain.validate_referral(doc)


def codes(exc: ValidationError) -> set[str]:
    return {domain.error_code(e["type"]) for e in exc.errors()}


def test_contact_is_normalized():
    r = referral()
    assert r.candidate.given_name == "Ana"
    assert r.candidate.email == "ana.diaz@example.org"
    assert r.candidate.phone == "+13125550142"
    assert r.skills == ["Python", "SQL", "python", "Beekeeping"]  # exact duplicates only; ids decide later
    assert domain.validate_referral({**referral().model_dump(mode="json")}, "GB").candidate.phone == "+13125550142"


def test_skills_are_deduplicated_and_unknown_ones_kept_and_flagged():
    r = referral()
    refs = domain.skill_refs(r.skills)
    assert [(s.id, s.text) for s in refs][:2] == [("python", "Python"), ("sql", "SQL")]
    assert domain.unknown_skills(refs) == ["Beekeeping"]


def test_submitted_event_carries_only_sealed_contact():
    r = referral()
    sealed = KEY.seal(r.candidate.model_dump(), "contact")
    event = domain.submitted(r, "ref_1", "p1", "cand_x", sealed)
    dumped = event.model_dump_json()
    assert event.consent.aggregate_reports is False  # not asked means no
    assert "Ana" not in dumped and "example.org" not in dumped.lower() and "555" not in dumped
    assert KEY.open(event.contact_sealed, "contact")["email"] == "ana.diaz@example.org"
    with pytest.raises(Unreadable):
        KEY.open(event.contact_sealed, "demographics")  # bound to its purpose
    with pytest.raises(Unreadable):
        CandidateKey("cand_x", 1, b"z" * 32).open(event.contact_sealed, "contact")


def test_identity_hashes_link_case_variants_and_depend_on_the_secret():
    a = domain.identity_hashes(referral().candidate, SECRET)
    b = domain.identity_hashes(
        referral(candidate={"given_name": "A", "family_name": "D", "email": "ANA.DIAZ@example.org",
                            "phone": "+1 312-555-0142"}).candidate, SECRET)
    assert a == b and len(a) == 2 and a[0].startswith("email:") and a[1].startswith("phone:")
    assert domain.identity_hashes(referral().candidate, b"other") != a
    assert "ana" not in "".join(a)


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"consent": {"share_with_employers": False, "given_at": "2026-11-01T00:00:00Z"}}, "consent-required"),
        ({"consent": {"share_with_employers": True, "given_at": "2026-11-01T00:00:00"}}, "timezone-required"),
        ({"candidate": {"given_name": "A", "family_name": "B"}}, "contact-required"),
        ({"candidate": {"given_name": "A", "family_name": "B", "email": "a@"}}, "invalid-email"),
        ({"candidate": {"given_name": "A", "family_name": "B", "phone": "12"}}, "invalid-phone"),
        ({"target_onet_soc_code": "29-1141.00"}, "unknown-occupation"),
        ({"skills": ["  "]}, "skills-required"),
        ({"skills": []}, "missing-value"),
        ({"surprise": 1}, "unknown-field"),
        ({"demographics": {"gender": "robot"}}, "invalid-value"),
    ],
)
def test_each_error_class_has_its_code(over, code):
    with pytest.raises(ValidationError) as err:
        referral(**over)
    assert code in codes(err.value)


def test_consent_in_the_future_is_refused_by_the_clock_given():
    r = referral(consent={"share_with_employers": True, "given_at": "2026-11-03T00:00:00Z"})
    day_before = datetime(2026, 11, 2, tzinfo=UTC)
    assert [(e["loc"], domain.error_code(e["type"])) for e in domain.refused(r, day_before)] == [
        (("consent", "given_at"), "future-date")
    ]
    assert domain.refused(r, day_before + timedelta(days=2)) == []


def test_occupation_codes_are_completed_and_targets_keyed():
    assert referral(target_onet_soc_code="15-1252").target_onet_soc_code == "15-1252.00"
    assert referral(target_onet_soc_code="15-1252").target_key() == "occupation:15-1252.00"
    assert referral(target_opening_id="op_1").target_key() == "opening:op_1"
    assert referral().target_key() == "any"


def test_updates_report_what_changed_but_never_demographics():
    before = referral()
    change = domain.Profile.model_validate({"skills": ["Go"], "demographics": {"veteran_status": True}})
    after, changed = domain.apply_update(before, change)
    assert after.skills == ["Go"] and after.demographics.veteran_status is True
    assert changed == ["skills"]
    with pytest.raises(ValidationError):
        domain.Profile.model_validate({})
