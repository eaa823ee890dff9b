"""examples/: each file is what `talentloop.samples` writes today, and each goes through what
reads it on its entry path without an error (the partner's adapter, or the route's own request
model), so the examples stay true to the code."""

import csv
import json
from pathlib import Path

import pytest

from services.employer_gateway import api as gateway
from services.intake import mapping, training
from talentloop import samples

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
ADAPTERS = ROOT / "deploy" / "adapters"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def records(path: Path) -> list[dict]:
    if path.suffix == ".ndjson":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return [json.loads(path.read_text())]


def same_enrollment(mapped: training.TrainingRecordIn, p: samples.Person, stated: dict) -> None:
    """`mapped` (from a provider's own shape) is the enrollment `stated` in TalentLoop's terms,
    except what the shape cannot say: a CSV's consent is a date (midnight where the provider
    is) and the registrar's progress has no percentage."""
    by_api = training.validate_training(samples.enrollment_body(p, stated, mapped.external_id or ""))
    assert mapped.consent.given_at.date() == by_api.consent.given_at.date()
    if mapped.progress and mapped.progress.percent_complete is None:
        by_api.progress.percent_complete = None
    skip = {"demographics": True, "consent": {"given_at"}}
    assert mapped.model_dump(exclude=skip) == by_api.model_dump(exclude=skip)
    assert mapped.demographics.gender == by_api.demographics.gender


def test_the_example_files_are_current(tmp_path):
    written = samples.write_examples(tmp_path)
    for path in written:
        assert (EXAMPLES / path.relative_to(tmp_path)).read_text() == path.read_text(), f"regenerate {path.name}"
    generated = {p.relative_to(tmp_path) for p in written}
    on_disk = {p.relative_to(EXAMPLES) for p in EXAMPLES.glob("*/*") if p.suffix != ".md" and p.suffix != ".yaml"}
    assert on_disk == generated, "a file in examples/ that samples.write_examples does not write"


def test_the_referral_examples_map_cleanly():
    adapters = mapping.load_all(ADAPTERS)
    partners = EXAMPLES / "partners"
    for partner in ("northside-tech-collective", "riverbend-community-college"):
        for row in rows(partners / f"{partner}.csv"):
            assert mapping.referral_from(adapters[(partner, "csv", "referral")], row)[1] == []
    forge = adapters[("forge-coding-bootcamp", "json", "referral")]
    found = records(partners / "forge-coding-bootcamp.webhook.json") + records(partners / "forge-coding-bootcamp.kafka.ndjson")
    assert found and all(mapping.referral_from(forge, r)[1] == [] for r in found)


def test_a_program_and_an_enrollment_are_what_the_json_api_takes():
    program = training.ProgramIn.model_validate(records(EXAMPLES / "partners" / "forge-coding-bootcamp.program.json")[0])
    [body] = records(EXAMPLES / "partners" / "forge-coding-bootcamp.enrollment.json")
    enrollment = training.validate_training(body)
    assert enrollment.status is training.TrainingStatus.completed and enrollment.credentials
    assert enrollment.program_id == program.program_id  # the program it needs, registered first


def test_the_registrar_csv_maps_with_its_deployed_adapter_as_the_api_states_it():
    adapter = mapping.load_all(ADAPTERS)[("riverbend-community-college", "csv", "training")]
    found = [mapping.training_from(adapter, row) for row in rows(EXAMPLES / "partners" / "riverbend-community-college.training.csv")]
    assert [errors for _, errors in found] == [[]] * 4
    assert {r.status.value for r, _ in found} == {"enrolled", "completed", "exited"}
    # The same enrollments stated by the JSON API are the same records (the shapes are samples').
    riverbend = [(p, r) for p, r in samples.example_trainees() if not r["program_id"].startswith("forge-")]
    for (record, _), (p, stated) in zip(found, riverbend, strict=True):
        same_enrollment(record, p, stated)


def test_the_training_webhook_and_kafka_records_map_with_the_example_adapter():
    # The example adapter is not deployed (docs: copy it into TALENTLOOP_ADAPTERS); it loads alone.
    adapters = mapping.load_all(EXAMPLES / "partners")
    adapter = adapters[("forge-coding-bootcamp", "json", "training")]
    assert adapter.kafka and adapter.topic == "talentloop.inbound.forge-coding-bootcamp.training"
    partners = EXAMPLES / "partners"
    found = [mapping.training_from(adapter, r) for r in records(partners / "forge-coding-bootcamp.training.webhook.json")
             + records(partners / "forge-coding-bootcamp.training.kafka.ndjson")]
    assert [errors for _, errors in found] == [[]] * 3
    forge = [(p, r) for p, r in samples.example_trainees() if r["program_id"].startswith("forge-")][1:]
    for (record, _), (p, stated) in zip(found, forge, strict=True):
        same_enrollment(record, p, stated)


def test_the_employer_examples_are_what_the_gateway_takes():
    employers = EXAMPLES / "employers"
    opening = gateway.OpeningIn.model_validate(records(employers / "civic-data-labs.internship-opening.json")[0])
    placement = gateway.PlacementIn.model_validate(records(employers / "civic-data-labs.internship-placement.json")[0])
    conversion = gateway.ConversionIn.model_validate(records(employers / "civic-data-labs.conversion.json")[0])
    assert opening.employment_type == placement.employment_type == "internship"
    assert conversion.employment_type == "full_time" and conversion.converted_on >= placement.start_date
    assert conversion.wage.amount > placement.wage.amount  # hired full time at a raise
    assert conversion.onet_soc_code == placement.onet_soc_code  # the same employer's job the internship led to
