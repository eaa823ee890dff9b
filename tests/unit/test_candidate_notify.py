"""What intake writes to a candidate, and when it does not (services/intake/notify.py), the
message it hands to SMTP (plumbing/mail.py), and the portal's form asking for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plumbing import mail
from plumbing.settings import Settings
from services.intake import domain, notify
from services.portal.application import ReferralForm

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tag", "language"), [("es", "es"), ("es-MX", "es"), ("ES", "es"), ("en-US", "en"), ("vi", "en"), (None, "en")]
)
def test_the_language_is_spanish_for_spanish_tags_and_english_otherwise(tag, language):
    assert notify.language_of(tag) == language


def test_only_an_active_consenting_referral_with_a_recent_event_is_mailed():
    ok = {"status": "active", "consented": True, "event_time": NOW - timedelta(hours=1), "now": NOW}
    assert notify.refusal(**ok) is None
    assert notify.refusal(**{**ok, "consented": False}) == "no consent"
    assert notify.refusal(**{**ok, "status": "erased"}) == "referral erased"
    assert notify.refusal(**{**ok, "status": "withdrawn"}) == "referral withdrawn"
    assert notify.refusal(**{**ok, "event_time": NOW - notify.MAX_AGE - timedelta(seconds=1)}) == "event too old"


def test_the_interview_is_written_in_the_networks_time_zone_and_the_persons_language():
    details = {"at": "2026-12-03T20:30:00+00:00", "mode": "in_person"}
    en = notify.render("interview", "en", details, given_name="Ana", partner="northside", zone="America/Chicago")
    es = notify.render("interview", "es", details, given_name=None, partner="northside", zone="America/Chicago")
    assert en.subject == "An interview has been scheduled" and en.body.startswith("Hello Ana,")
    assert "December 3, 2026 at 14:30 (America/Chicago) (in person)" in en.body
    assert es.body.startswith("Hola:") and "03/12/2026 a las 14:30 (America/Chicago) (en persona)" in es.body
    assert "northside" in es.body.split("\n\n")[-1]  # who to ask, to stop them or erase


def test_every_kind_has_words_in_every_language_with_the_same_placeholders():
    for kind in notify.KINDS.values():
        english = notify.WORDS["en"][kind]
        for language in notify.LANGUAGES:
            words = notify.WORDS[language][kind]
            assert words.subject and sorted(_fields(words.body)) == sorted(_fields(english.body))


def _fields(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def test_the_message_names_its_language_and_is_not_to_be_answered_automatically():
    msg = mail.message(mail.Mail("a@example.org", "Hola", "Texto\n", "es", "<e1@talentloop>"), "TL <tl@example.org>")
    assert msg["Content-Language"] == "es" and msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == "<e1@talentloop>" and msg.get_content() == "Texto\n"


def test_mail_is_off_without_a_host_or_a_from_address_and_the_password_never_shows():
    assert not mail.configured(Settings())
    assert not mail.configured(Settings(TALENTLOOP_SMTP_HOST="smtp.example.org"))
    on = Settings(
        TALENTLOOP_SMTP_HOST="smtp.example.org", TALENTLOOP_MAIL_FROM="tl@example.org",
        TALENTLOOP_SMTP_USER="tl", TALENTLOOP_SMTP_PASSWORD="s3cret",
    )  # fmt: skip
    assert mail.configured(on) and "s3cret" not in mail.describe(on) and "s3cret" not in repr(on)
    assert "nothing is sent" in mail.describe(Settings())


def test_server_answers_lose_the_addresses_they_quote():
    assert mail._text(b"550 5.1.1 <ana@example.org>: no such user") == "550 5.1.1 <<address>>: no such user"


def test_intake_takes_the_consent_and_language_and_publishes_them():
    referral = domain.validate_referral(
        {
            "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": "ana@example.org"},
            "skills": ["Python"],
            "preferred_language": "es-MX",
            "consent": {"share_with_employers": True, "notify_candidate": True, "given_at": "2026-11-01T00:00:00Z"},
        }
    )
    assert referral.preferred_language == "es-MX" and referral.consent.notify_candidate
    with pytest.raises(ValueError):
        domain.validate_referral({**referral.model_dump(mode="json"), "preferred_language": "Spanish please"})


def test_the_portal_form_sends_the_consent_and_a_known_language_only():
    form = ReferralForm("Ana", "Diaz", "ana@example.org", "", "Python", "", True, False, False, "f1", True, "es")
    body = form.body("Northside", NOW)
    assert body["consent"]["notify_candidate"] is True and body["preferred_language"] == "es"
    other = ReferralForm("Ana", "Diaz", "ana@example.org", "", "Python", "", True, False, False, "f2", False, "xx")
    assert "preferred_language" not in other.body("Northside", NOW)
    assert other.body("Northside", NOW)["consent"]["notify_candidate"] is False
