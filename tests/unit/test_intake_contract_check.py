"""The contract check of a validated referral (`domain.unpublishable`) counts its credentials
and takes its training as they are, instead of dumping and validating them again: the
referral's validation made them with the contract's own models, so that second validation
could never refuse anything. Shown here on generated credentials and training (hostile
text, lengths around every bound, counts around both list bounds), and on a table of bad
rows, each refused with the same field and code as before."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import events
from contracts.bounds import CREDENTIALS_MAX, ID_MAX, NAME_MAX
from services.intake import domain, mapping

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {
    "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": "ana@example.org"},
    "skills": ["Python"],
    "consent": {"share_with_employers": True, "given_at": "2026-11-01T00:00:00Z"},
}
# Text near the contracts' bounds and their pattern: control characters, a lone surrogate,
# blanks, tabs and line breaks (which are text).
CHARS = st.sampled_from(["a", "Z", " ", "\t", "\n", "\x00", "\x07", "\x1f", "\ud800", "é", "\u2028"])
LENGTHS = st.sampled_from([0, 1, 2, 5, NAME_MAX - 1, NAME_MAX, NAME_MAX + 1, ID_MAX, ID_MAX + 1])


@st.composite
def text(draw: st.DrawFn) -> str:
    n = draw(LENGTHS)
    return draw(st.text(CHARS, min_size=min(n, 3), max_size=3)) + "x" * max(0, n - 3)


OPTIONAL = st.none() | text()
DATES = st.none() | st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat) | st.just("2026-02-30")
CREDENTIAL = st.fixed_dictionaries(
    {"name": text()},
    optional={"issuer": OPTIONAL, "ctdl_id": OPTIONAL, "status": st.sampled_from(["completed", "in_progress", "done"]),
              "awarded_on": DATES},
)
TRAINING = st.fixed_dictionaries({"program": text()}, optional={"provider": OPTIONAL, "completed_on": DATES})


def revalidated(referral: domain.ReferralIn) -> list[Any]:
    """What the check found before: the credentials and training dumped and validated by the
    event's own fields again."""
    values: dict[str, Any] = {"skills": [{"id": None, "text": "-"}],
                              "credentials": [c.model_dump() for c in referral.credentials]}
    if referral.training is not None:
        values["training"] = referral.training.model_dump()
    try:
        domain._published().model_validate(values)
    except ValidationError as exc:
        return [(e["loc"], e["type"]) for e in exc.errors()]
    return []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credentials=st.lists(CREDENTIAL, max_size=3) | st.integers(19, 21).map(lambda n: [{"name": "A+"}] * n),
       training=st.none() | TRAINING)
def test_what_the_referrals_validation_accepts_the_contract_accepts_again(credentials, training):
    doc = {**BASE, "credentials": credentials, **({"training": training} if training is not None else {})}
    try:
        referral = domain.validate_referral(doc)
    except ValidationError:
        return  # refused by the referral's validation, before and now: no contract check runs
    assert revalidated(referral) == []  # so checking them again could not refuse anything
    domain._PUBLISHABLE.clear()
    found = domain.unpublishable(referral)
    # Only text that cannot be stored is left to refuse, in any field, as before.
    assert all(e["type"] == "invalid_character" for e in found)
    assert domain.unpublishable(referral) == found  # and the same once the accepted values are remembered


def test_the_contract_still_counts_the_credentials():
    """Built past the referral's own bound (20), the event's (CREDENTIALS_MAX) still refuses."""
    referral = domain.validate_referral({**BASE, "credentials": [{"name": "A+"}] * 20})
    assert domain.unpublishable(referral) == []
    past = referral.model_copy(update={"credentials": referral.credentials * 3})
    assert len(past.credentials) > CREDENTIALS_MAX
    for _ in range(2):  # a refused count is never remembered
        assert [(e["loc"], e["type"]) for e in domain.unpublishable(past)] == [(("credentials",), "too_long")]


def test_credentials_and_training_of_other_kinds_are_still_validated_field_by_field():
    referral = domain.validate_referral({**BASE, "credentials": [{"name": "A+"}], "training": {"program": "Data"}})
    constructed = events.Credential.model_construct(name="y" * (NAME_MAX + 1), status="completed")
    training = events.Training.model_construct(program="z" * (NAME_MAX + 1))
    # Instances the contract would refuse, but not of its exact models: checked field by field.
    sub = type("Sub", (events.Credential,), {})
    changed = referral.model_copy(update={"credentials": [sub.model_construct(**constructed.__dict__)],
                                          "training": type("SubT", (events.Training,), {}).model_construct(**training.__dict__)})
    assert sorted((e["loc"], e["type"]) for e in domain.unpublishable(changed)) == [
        (("credentials", 0, "name"), "string_too_long"),
        (("training", "program"), "string_too_long"),
    ]


JSON_FIELDS = {
    "candidate.given_name": {"from": "first"}, "candidate.family_name": {"from": "last"},
    "candidate.email": {"from": "mail"}, "skills": {"from": "skills[]"},
    "consent.share_with_employers": {"const": True}, "consent.given_at": {"from": "when"},
    "training.program": {"from": "program"}, "training.provider": {"from": "provider"},
    "training.completed_on": {"from": "done"},
    "credentials[0].name": {"from": "cert"}, "credentials[0].issuer": {"from": "issuer"},
    "credentials[0].ctdl_id": {"from": "ctdl"}, "credentials[0].status": {"from": "status"},
    "credentials[0].awarded_on": {"from": "awarded"},
}
ADAPTER = mapping.Adapter.model_validate({"partner_id": "p-json", "format": "json", "fields": JSON_FIELDS})
GOOD = {"first": "Ana", "last": "Diaz", "mail": "ana@example.org", "skills": ["Python"], "when": "2026-11-01",
        "program": "Data", "provider": "Forge", "done": "2026-06-30", "cert": "A+", "issuer": "CompTIA"}


@pytest.mark.parametrize(("over", "expected"), [
    ({"cert": "c" * (NAME_MAX + 1)}, [("cert", "too-long")]),
    ({"issuer": "i" * (NAME_MAX + 1)}, [("issuer", "too-long")]),
    ({"ctdl": "t" * (ID_MAX + 1)}, [("ctdl", "too-long")]),
    ({"status": "done"}, [("status", "invalid-value")]),
    ({"awarded": "2026-02-30"}, [("awarded", "bad-date")]),
    ({"program": "p" * (NAME_MAX + 1)}, [("program", "too-long")]),
    ({"provider": "v" * (NAME_MAX + 1)}, [("provider", "too-long")]),
    ({"done": "30/06/2026"}, [("done", "bad-date")]),
    ({"cert": "A\x00+"}, [("cert", "invalid-character")]),
    ({"issuer": "Comp\x1bTIA"}, [("issuer", "invalid-character")]),
    ({"program": "Da\ud800ta"}, [("program", "invalid-character")]),
    ({"provider": "Forge\x07"}, [("provider", "invalid-character")]),
])
def test_bad_credentials_and_training_are_refused_naming_the_partners_field(over, expected):
    referral, errors = mapping.referral_from(ADAPTER, {**GOOD, **over})
    assert referral is None
    assert [(e.field, e.code) for e in errors] == expected
    referral, errors = mapping.referral_from(ADAPTER, GOOD)
    assert errors == [] and referral is not None
