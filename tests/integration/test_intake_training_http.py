"""Training providers' HTTP entry paths on intake in this process (issue 15, slice 5): programs,
enrollments, the training CSV import and the webhook's adapter lookup, with partner keys,
Idempotency-Key and RFC 9457 problems, on real PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.intake_app import RIVERBEND, intake_app

pytestmark = pytest.mark.integration
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def intake(stack, tmp_path_factory) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("adapters")
    shutil.copy(ADAPTERS / f"{RIVERBEND}.training.csv.yaml", folder)
    async with intake_app(stack, folder) as client:
        yield client


def enrollment(program_id: str, email: str, **over: Any) -> dict[str, Any]:
    return {"external_id": f"E-{uuid.uuid4().hex[:8]}", "program_id": program_id,
            "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": email},
            "enrolled_on": "2026-09-01", "consent": {"aggregate_reports": True, "given_at": "2026-08-30T00:00:00Z"},
            **over}


async def test_a_provider_registers_a_program_and_reports_enrollments_over_http(intake):
    program_id = f"RCC-{uuid.uuid4().hex[:8]}"
    program = {"program_id": program_id, "name": "IT Support", "modality": "in_person", "length_weeks": 16,
               "cost_to_participant": {"amount": "0"}, "funding_sources": ["wioa"]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    created = await intake.post("/v1/programs", json=program, headers=key)
    assert (created.status_code, created.json()["published"]) == (201, "program.registered.v1")
    replayed = await intake.post("/v1/programs", json=program, headers=key)
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json() == created.json()
    assert (await intake.post("/v1/programs", json=program)).json()["published"] is None  # restated as it was
    taken = await intake.post("/v1/programs", json=program, headers={"X-Partner": "someone-else"})
    assert (taken.status_code, taken.headers["content-type"], taken.json()["type"].rsplit(":", 1)[-1]) == (
        409, PROBLEM, "program-id-taken")

    body = enrollment(program_id, f"http-{uuid.uuid4().hex[:8]}@example.org")
    first = await intake.post("/v1/enrollments", json=body)
    assert first.status_code == 201 and first.json()["events"] == ["training.enrolled.v1"]
    done = {**body, "status": "completed", "completed_on": "2026-12-18"}
    completed = await intake.post("/v1/enrollments", json=done)
    assert (completed.status_code, completed.json()["events"]) == (200, ["training.completed.v1"])
    assert completed.json()["enrollment_id"] == first.json()["enrollment_id"]
    assert (await intake.post("/v1/enrollments", json=done)).json()["events"] == []
    ended = await intake.post("/v1/enrollments", json={**body, "status": "exited", "exited_on": "2026-12-19",
                                                       "exit_reason": "employment"})
    assert (ended.status_code, ended.headers["content-type"]) == (409, PROBLEM)
    assert ended.json()["errors"][0]["field"] == "status"
    invalid = await intake.post("/v1/enrollments", json={**body, "status": "completed"})
    assert invalid.status_code == 422 and invalid.headers["content-type"] == PROBLEM
    unknown = await intake.post("/v1/enrollments", json=enrollment("no-such-program", "x@example.org"))
    assert (unknown.status_code, unknown.json()["errors"][0]["field"]) == (422, "program_id")

    shown = await intake.get(f"/v1/enrollments/{first.json()['enrollment_id']}")
    assert shown.status_code == 200 and shown.json()["status"] == "completed"
    assert shown.json()["candidate_id"] == first.json()["candidate_id"]
    hidden = await intake.get(f"/v1/enrollments/{first.json()['enrollment_id']}", headers={"X-Partner": "someone-else"})
    assert hidden.status_code == 404

    # No JSON training adapter for this provider: the webhook says so.
    missing = await intake.post("/v1/webhooks/training", json={"anything": 1})
    assert (missing.status_code, missing.json()["type"].rsplit(":", 1)[-1]) == (404, "no-adapter")


async def test_the_training_csv_import_counts_a_file_sent_again_as_duplicates(intake):
    program_id = f"RCC-{uuid.uuid4().hex[:8]}"
    program = {"program_id": program_id, "name": "Welding", "modality": "in_person", "length_weeks": 20,
               "cost_to_participant": {"amount": "150.00"}}
    assert (await intake.post("/v1/programs", json=program)).status_code == 201
    header = ("ENROLLMENT_ID,PROGRAM_CODE,FIRST_NM,LAST_NM,PERSONAL_EMAIL,CAMPUS_EMAIL,PHONE,ENROLL_STATUS,ENROLL_DT,"
              "COMPLETION_DT,WITHDRAW_DT,WITHDRAW_RSN,MSG_DT,MSG_TYPE,AWARD_DESC,AWARD_CTID,AWARD_DT,DATA_SHARING,"
              "OUTCOME_RELEASE,RELEASE_DT,GENDER,VETERAN_IND")
    t = uuid.uuid4().hex[:8]
    rows = [f"E1-{t},{program_id},ana,diaz,,a-{t}@example.org,,CMPL,20260901,20261218,,,,,AWS 1,,20261220,Y,,20260830,F,U",
            f"E2-{t},{program_id},bo,li,,b-{t}@example.org,,ACTV,20260901,,,,,,,,,N,,20260830,M,N",
            f"E3-{t},nope-{t},cy,lee,,c-{t}@example.org,,ACTV,20260901,,,,,,,,,N,,20260830,X,U"]
    content = ("\n".join([header, *rows]) + "\n").encode()
    first = await intake.post("/v1/imports/training", files={"file": ("term.csv", content, "text/csv")})
    assert first.status_code == 201, first.text
    assert {k: first.json()[k] for k in ("rows", "accepted", "duplicates", "rejected")} == {
        "rows": 3, "accepted": 2, "duplicates": 0, "rejected": 1}
    again = await intake.post("/v1/imports/training", files={"file": ("term.csv", content, "text/csv")})
    assert {k: again.json()[k] for k in ("rows", "accepted", "duplicates", "rejected")} == {
        "rows": 3, "accepted": 0, "duplicates": 2, "rejected": 1}
    report = await intake.get(again.json()["error_report"])
    assert "PROGRAM_CODE" in report.text and "unknown-program" in report.text


async def test_a_provider_erases_the_person_its_enrollment_names(intake):
    program_id = f"RCC-{uuid.uuid4().hex[:8]}"
    program = {"program_id": program_id, "name": "CNC", "modality": "hybrid", "length_weeks": 8,
               "cost_to_participant": {"amount": "0"}}
    assert (await intake.post("/v1/programs", json=program)).status_code == 201
    enrolled = (await intake.post("/v1/enrollments", json=enrollment(program_id, f"e-{uuid.uuid4().hex[:8]}@example.org"))).json()
    both = await intake.post("/v1/erasures", json={"enrollment_id": enrolled["enrollment_id"], "referral_id": "r"})
    assert both.status_code == 422 and both.headers["content-type"] == PROBLEM
    erased = await intake.post("/v1/erasures", json={"enrollment_id": enrolled["enrollment_id"]})
    assert erased.status_code == 200 and erased.json()["candidate_id"] == enrolled["candidate_id"]
    assert (await intake.get(f"/v1/enrollments/{enrolled['enrollment_id']}")).json()["status"] == "erased"
    again = await intake.post("/v1/erasures", json={"enrollment_id": enrolled["enrollment_id"]})
    assert (again.status_code, again.json()["type"].rsplit(":", 1)[-1]) == (409, "already-erased")
    other = await intake.post("/v1/erasures", json={"enrollment_id": enrolled["enrollment_id"]},
                              headers={"X-Partner": "someone-else"})
    assert other.status_code == 404
