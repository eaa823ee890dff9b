"""Intake's fast paths give what the slow ones give: e-mail and phone normalization (checked
against email_validator and phonenumbers on generated input), random ids (uuid4s), and the
adapter's cached dates."""

import random
import uuid

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from services.intake import domain, mapping

pytestmark = pytest.mark.unit


def _library_email(text: str) -> str | None:
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def _library_phone(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ours(normalize, *args) -> str | None:  # noqa: ANN001
    try:
        return normalize(*args)
    except ValueError:  # PydanticCustomError
        return None


def test_email_fast_path_agrees_with_email_validator():
    rng = random.Random(13)
    alphabet = "abcXYZ019._%+=-@!#é"
    domains = ["@ex.org", "@EX.Org", "@a-b.co", "@a.b.c.io", "@x.test", "@ex.o", "@e.x1", "@-a.org", "@a-.org",
               "@ab--c.org", "@xn--bcher-kva.example", "@x.localhost", "@" + "a" * 64 + ".org", ""]
    fast = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 20))) + rng.choice(domains)
        text = rng.choice(["", " "]) + text
        if domain._plain_email(text.strip()) is not None:
            fast += 1
        assert _ours(domain.normalize_email, text) == _library_email(text), text
    long_local = "a" * 65 + "@example.org"
    # Past the fast path's bounds the library decides, whatever it decides.
    assert domain._plain_email(long_local) is None
    assert _ours(domain.normalize_email, long_local) == _library_email(long_local)
    assert fast > 500  # the fast path was exercised, not just the fallback


def test_phone_fast_path_agrees_with_phonenumbers():
    rng = random.Random(17)
    shapes = ["{a}{b}{c}", "({a}) {b}-{c}", "({a}){b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "{a} {b} {c}",
              "({a} {b}-{c}", "{a}) {b} {c}", " {a}{b}{c} ", "{a}{b}{c} ext. 12"]
    prefixes = ["", "+1 ", "1 ", "+1", "1-", "+1-", "1.", "+ 1 ", "11 ", "+44 "]
    fast = 0
    for _ in range(20_000):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        text = rng.choice(prefixes) + rng.choice(shapes).format(a=digits[:3], b=digits[3:6], c=digits[6:])
        region = rng.choice(["US", "US", "GB"])
        if region == "US" and domain._PLAIN_US_PHONE.fullmatch(text.strip()):
            fast += 1
        assert _ours(domain.normalize_phone, text, region) == _library_phone(text, region), (text, region)
    assert fast > 3_000


def test_random_ids_are_distinct_uuid4s():
    seen = set()
    for _ in range(1_000):
        text = domain.random_hex()
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.hex == text
        seen.add(text)
    assert len(seen) == 1_000
    assert domain.new_referral_id().startswith("ref_") and len(domain.new_candidate_id()) == 37


def test_cached_dates_are_the_dates_and_bad_ones_still_fail_each_time():
    adapter = mapping.Adapter.model_validate({
        "partner_id": "p-dates", "format": "csv", "timezone": "America/New_York", "fields": {
            "candidate.given_name": {"from": "g"}, "candidate.family_name": {"from": "f"},
            "candidate.email": {"from": "e"}, "skills": {"from": "s", "split": "|"},
            "consent.share_with_employers": {"const": True},
            "consent.given_at": {"from": "d", "date_format": "%Y%m%d"},
            "training.completed_on": {"from": "t", "date_format": "%Y%m%d"},
        }})
    row = {"g": "Ana", "f": "Diaz", "e": "ana@example.org", "s": "Python|SQL", "d": "20261101", "t": "20261030"}
    for _ in range(3):  # the second and third come from the cache
        doc, errors = mapping.translate(adapter, row)
        assert errors == []
        assert doc["consent"]["given_at"] == "2026-11-01T04:00:00+00:00"  # midnight in New York
        assert doc["training"]["completed_on"] == "2026-10-30"
    for _ in range(2):
        _, errors = mapping.translate(adapter, {**row, "d": "20260230"})
        assert [(e.field, e.code) for e in errors] == [("d", "bad-date")]


def test_the_contract_check_remembers_only_what_it_accepted(monkeypatch):
    doc = {
        "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": "ana@example.org"},
        "skills": ["Python", "SQL"],
        "credentials": [{"name": "AWS Certified Cloud Practitioner", "status": "completed"}],
        "training": {"program": "Full-stack web development", "provider": "Forge"},
        "location": "Chicago",
        "consent": {"share_with_employers": True, "given_at": "2026-11-01T00:00:00Z"},
    }
    referral = domain.validate_referral(doc)
    assert domain.unpublishable(referral) == []
    calls = []
    validate = domain._published().model_validate
    monkeypatch.setattr(domain._published(), "model_validate", lambda v: (calls.append(v), validate(v))[1])
    assert domain.unpublishable(referral) == [] and calls == []  # every value known good: not validated again
    past = referral.model_copy(update={"skills": ["Python", "z" * 5000]})
    for _ in range(2):  # a refused value is never remembered
        assert [(e["loc"], e["type"]) for e in domain.unpublishable(past)] == [(("skills", 1), "string_too_long")]
    assert len(calls) == 2 and set(calls[0]) == {"skills"}  # only the unknown field was validated
