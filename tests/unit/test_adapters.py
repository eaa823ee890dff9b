"""Partner adapters: validated on load, applied without I/O, errors in the partner's terms."""

from pathlib import Path

import pytest
import yaml

from services.intake import mapping
from talentloop import samples

pytestmark = pytest.mark.unit
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
BASE = {
    "candidate.given_name": {"from": "first"},
    "candidate.family_name": {"from": "last"},
    "candidate.email": {"from": "mail"},
    "skills": {"from": "skills", "split": ";"},
    "consent.share_with_employers": {"from": "ok"},
    "consent.given_at": {"from": "when", "date_format": "%d.%m.%Y"},
}
ROW = {"first": "Ana", "last": "Diaz", "mail": "ana@example.org", "skills": "Python; SQL;;", "ok": "yes",
       "when": "01.11.2026"}


def adapter(fields=None, **over) -> mapping.Adapter:
    return mapping.Adapter.model_validate({"partner_id": "p-one", "format": "csv", "fields": {**BASE, **(fields or {})}, **over})


def test_the_shipped_adapters_load_and_map_their_sample_records():
    adapters = mapping.load_all(ADAPTERS)
    assert set(adapters) == {("northside-tech-collective", "csv", "referral"),
                             ("riverbend-community-college", "csv", "referral"),
                             ("riverbend-community-college", "csv", "training"),
                             ("forge-coding-bootcamp", "json", "referral")}
    person = samples.person(3, run="unit")
    for (partner, fmt), record in [
        (("northside-tech-collective", "csv"), samples.northside_row(person)),
        (("riverbend-community-college", "csv"), samples.riverbend_row(person)),
        (("forge-coding-bootcamp", "json"), samples.forge_payload(person)),
    ]:
        referral, errors = mapping.referral_from(adapters[(partner, fmt, "referral")], record)
        assert errors == [], (partner, errors)
        assert referral.candidate.email == person.email and referral.target_onet_soc_code == person.soc
        assert referral.consent.share_with_employers is True


def test_renames_splits_value_maps_dates_and_defaults():
    a = adapter({
        "credentials[0].name": {"from": "cert"},
        "credentials[0].status": {"from": "cert_state", "map": {"Completed": "completed", "Studying": "in_progress"}},
        "training.completed_on": {"from": "done", "date_format": "%m/%d/%Y"},
        "training.program": {"const": "Data"},
        "consent.aggregate_reports": {"from": "agg", "default": False},
        "demographics.race_ethnicity": {"from": "race", "split": "|", "map": {"A": "asian", "W": "white", "?": None}},
    }, timezone="America/Chicago")
    referral, errors = mapping.referral_from(a, {**ROW, "cert": "A+", "cert_state": " completed ", "done": "06/30/2026",
                                                "race": "A|?|W"})
    assert errors == []
    assert referral.skills == ["Python", "SQL"]
    assert referral.credentials[0].status == "completed"  # case-insensitive map
    assert str(referral.training.completed_on) == "2026-06-30" and referral.training.program == "Data"
    assert referral.consent.given_at.isoformat() == "2026-11-01T05:00:00+00:00"  # midnight in Chicago
    assert referral.consent.aggregate_reports is False
    assert referral.demographics.race_ethnicity == ["asian", "white"]
    # No certificate in this row: no credential at all (not an empty one).
    referral, _ = mapping.referral_from(a, {**ROW, "cert": "", "cert_state": "", "done": "", "race": ""})
    assert referral.credentials == [] and referral.training.completed_on is None


def test_json_paths_walk_objects_and_lists():
    a = mapping.Adapter.model_validate({"partner_id": "p-two", "format": "json", "fields": {
        **BASE,
        "candidate.given_name": {"from": "p.name.first"},
        "skills": {"from": "p.skills[].label"},
        "credentials": {"each": "p.certs", "fields": {"name": {"from": "t"}, "status": {"from": "s", "map": {"ok": "completed"}}}},
    }})
    record = {**ROW, "p": {"name": {"first": "Ana"}, "skills": [{"label": "Go"}, {"label": "SQL"}],
                           "certs": [{"t": "A+", "s": "ok"}, {"t": "B", "s": "bad"}]}}
    referral, errors = mapping.referral_from(a, record)
    assert referral is None
    assert errors == [mapping.FieldError(field="p.certs[1].s", code="unmapped-value",
                                         message="'bad' is not one of the mapped values (ok)")]
    record["p"]["certs"].pop()
    referral, errors = mapping.referral_from(a, record)
    assert errors == [] and referral.skills == ["Go", "SQL"] and referral.credentials[0].name == "A+"


def test_errors_name_the_partners_columns():
    referral, errors = mapping.referral_from(adapter(), {**ROW, "mail": "x@", "when": "2026-11-01", "ok": "maybe"})
    assert referral is None
    assert {(e.field, e.code) for e in errors} == {("mail", "invalid-email"), ("when", "bad-date"), ("ok", "invalid-boolean")}
    assert all("x@" not in e.message for e in errors)


@pytest.mark.parametrize(
    ("fields", "over", "message"),
    [
        ({"nickname": {"from": "n"}}, {}, "not a referral field"),
        ({"consent.aggregate_reports": {"from": "a", "map": {"Y": "yes"}}}, {}, "must be true or false"),
        ({"credentials[0].status": {"from": "s", "map": {"C": "done"}}}, {}, "is not one of completed, in_progress"),
        ({"skills": {"from": "s", "const": "x"}}, {}, "exactly one of"),
        ({"candidate.given_name": {"from": "a", "date_format": "%d"}}, {}, "not a date"),
        ({"skills": {"from": "p.s[]"}}, {}, "CSV columns are plain names"),
        ({}, {"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({}, {"kafka": True}, "needs format: json"),
    ],
)
def test_a_wrong_mapping_fails_on_load_with_the_reason(fields, over, message):
    with pytest.raises(ValueError, match=message):
        adapter(fields, **over)


def test_a_mapping_without_required_fields_fails_on_load(tmp_path):
    doc = {"partner_id": "p-three", "format": "csv", "fields": {"candidate.given_name": {"from": "a"}}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match=r"p.yaml: invalid adapter(.|\n)*every referral needs candidate.family_name"):
        mapping.load_all(tmp_path)
