"""Training records on intake's identity path, on real PostgreSQL (issue 15, slice 5): a record
states an enrollment, so reporting it again publishes nothing more; the participant is the
candidate a referral of the same person names, and a provider that also refers keeps one
id of them; an erasure reaches the enrollments."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from contracts import events
from plumbing.consumer import Poison, Record
from plumbing.context import Deps
from services.intake import application, csv_import, inbound, mapping, store, training
from services.intake.application import Accepted
from tests.integration import intake_world
from tests.integration.intake_world import outbox, person, submit, tag

pytestmark = pytest.mark.integration
intake = intake_world.intake  # the fixture: intake's dependencies on a migrated schema
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
PROGRAM = {"name": "Web Development", "modality": "hybrid", "length_weeks": 12, "cost_to_participant": {"amount": "0"},
           "funding_sources": ["wioa"]}


def enrollment(email: str, program_id: str, **over) -> training.TrainingRecordIn:  # type: ignore[no-untyped-def]
    return training.validate_training({
        "program_id": program_id,
        "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": email},
        "enrolled_on": "2026-09-01",
        "consent": {"aggregate_reports": True, "given_at": datetime(2026, 8, 30, tzinfo=UTC).isoformat()},
        **over,
    })


async def program(pool: asyncpg.Pool, intake: Deps, partner: str) -> str:
    program_id = f"prog_{tag()}"
    async with pool.acquire() as conn, conn.transaction():
        created, published = await application.report_program(
            intake.bind(conn), partner, training.ProgramIn(program_id=program_id, **PROGRAM), "t")
    assert created and published == "program.registered.v1"
    return program_id


async def report(pool: asyncpg.Pool, intake: Deps, partner: str, *records: training.TrainingRecordIn) -> list:
    async with pool.acquire() as conn, conn.transaction():
        return await application.report_training(intake.bind(conn), partner, list(records), entry="csv", correlation_id="t")


async def types_about(pool: asyncpg.Pool, key: str) -> list[str]:
    return [e.type for e in await outbox(pool) if e.subject == key]


async def test_a_record_reported_again_publishes_its_events_once(pool, intake):
    program_id = await program(pool, intake, "trainer")
    email = f"again-{tag()}@example.org"
    rows = [
        enrollment(email, program_id, external_id="stu-1", status="completed", completed_on="2026-12-18",
                   credentials=[{"name": "CompTIA A+", "awarded_on": "2026-12-20"}]),
        enrollment(f"other-{tag()}@example.org", program_id, external_id="stu-2"),
    ]
    first = await report(pool, intake, "trainer", *rows)
    again = await report(pool, intake, "trainer", *rows)  # the same file imported twice
    assert [r.events for r in again] == [[], []]
    assert [r.enrollment_id for r in again] == [r.enrollment_id for r in first]
    assert await types_about(pool, first[0].enrollment_id) == [
        "training.enrolled.v1", "credential.earned.v1", "training.completed.v1"]
    assert await types_about(pool, first[1].enrollment_id) == ["training.enrolled.v1"]
    # The program restated as it was publishes nothing either.
    async with pool.acquire() as conn, conn.transaction():
        assert await application.report_program(
            intake.bind(conn), "trainer", training.ProgramIn(program_id=program_id, **PROGRAM), "t") == (False, None)
        # Another provider cannot take the program's id.
        with pytest.raises(application.Conflict):
            await application.report_program(
                intake.bind(conn), "someone-else", training.ProgramIn(program_id=program_id, **PROGRAM), "t")


async def test_an_exit_after_a_completion_is_refused_and_publishes_nothing(pool, intake):
    program_id = await program(pool, intake, "trainer")
    email = f"ended-{tag()}@example.org"
    [done] = await report(pool, intake, "trainer", enrollment(email, program_id, status="completed",
                                                              completed_on="2026-12-18"))
    [refused] = await report(pool, intake, "trainer", enrollment(email, program_id, status="exited",
                                                                 exited_on="2026-12-19", exit_reason="employment"))
    assert isinstance(refused, application.TrainingProblem) and refused.code == "training-ended"
    assert await types_about(pool, done.enrollment_id) == ["training.enrolled.v1", "training.completed.v1"]
    [unknown] = await report(pool, intake, "trainer", enrollment(email, "prog_nobody_has"))
    assert isinstance(unknown, application.TrainingProblem) and unknown.code == "unknown-program"


async def test_a_provider_that_also_refers_keeps_one_id_of_the_person_and_others_get_their_own(pool, intake):
    program_id = await program(pool, intake, "trainer")
    email = f"same-{tag()}@example.org"
    [enrolled] = await report(pool, intake, "trainer", enrollment(email, program_id))
    referred = await submit(pool, intake, "trainer", person(email))
    assert isinstance(referred, Accepted), referred
    assert referred.partner_candidate_id == enrolled.partner_candidate_id
    by_other = await submit(pool, intake, "another-partner", person(email))
    assert isinstance(by_other, Accepted), by_other
    assert by_other.partner_candidate_id != enrolled.partner_candidate_id
    # One person in the network: the enrollment's events and both referrals name one candidate.
    [enrolled_event] = [e for e in await outbox(pool) if e.subject == enrolled.enrollment_id]
    assert enrolled_event.data["candidate_id"] == referred.candidate_id == by_other.candidate_id


async def test_an_erasure_reaches_the_person_s_enrollments_and_their_published_copies(pool, intake):
    program_id = await program(pool, intake, "trainer")
    email = f"erased-{tag()}@example.org"
    [enrolled] = await report(pool, intake, "trainer", enrollment(email, program_id, demographics={"gender": "female"}))
    referred = await submit(pool, intake, "another-partner", person(email))
    assert isinstance(referred, Accepted)
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")  # relayed
    async with pool.acquire() as conn, conn.transaction():
        erased = await application.erase(
            intake.bind(conn), referred.candidate_id, events.ErasureRequester.operator, "operator:t", "t")
    assert erased.enrollment_ids == [enrolled.enrollment_id] and erased.referral_ids == [referred.referral_id]
    row = await pool.fetchrow("SELECT * FROM enrollments WHERE enrollment_id = $1", enrolled.enrollment_id)
    assert row["status"] == "erased" and row["candidate_id"] == "erased"
    assert (row["partner_candidate_id"], row["identity_hashes"], row["contact_sealed"], row["demographics_sealed"],
            row["enrollment_key"]) == (None, None, None, None, None)
    [published] = [json.loads(r["value"]) for r in await pool.fetch("SELECT value FROM outbox")
                   if json.loads(r["value"])["subject"] == enrolled.enrollment_id]
    assert published["data"]["candidate_id"] == "erased"
    assert "contact_sealed" not in published["data"] and "demographics_sealed" not in published["data"]
    [notice] = [e for e in await outbox(pool) if e.type == "candidate.erased.v1" and e.subject == referred.candidate_id]
    assert notice.data["enrollment_ids"] == [enrolled.enrollment_id]


def registrar_csv(email: str, program_id: str) -> bytes:
    header = ("ENROLLMENT_ID,PROGRAM_CODE,FIRST_NM,LAST_NM,PERSONAL_EMAIL,CAMPUS_EMAIL,PHONE,ENROLL_STATUS,ENROLL_DT,"
              "COMPLETION_DT,WITHDRAW_DT,WITHDRAW_RSN,MSG_DT,MSG_TYPE,AWARD_DESC,AWARD_CTID,AWARD_DT,DATA_SHARING,"
              "OUTCOME_RELEASE,RELEASE_DT,GENDER,VETERAN_IND")
    rows = [
        f"E-{tag()},{program_id},ana,diaz,,{email},,CMPL,20260901,20261218,,,20260920,EXAM,CompTIA A+,ce-1,20261220,Y,,"
        "20260830,F,U",
        f"E-{tag()},{program_id},ben,okafor,,b-{email},,WDRW,20260901,,20261002,CHLD,,,,,,N,,20260830,M,N",
        f"E-{tag()},{program_id},cy,lee,,c-{email},,ACTV,20260901,,,,,,,,,Y,,20260830,X,U",
    ]
    return ("\n".join([header, *rows]) + "\n").encode()


async def import_file(pool: asyncpg.Pool, intake: Deps, adapter: mapping.Adapter, content: bytes) -> csv_import.Progress:
    import_id = f"imp_{tag()}"
    assert await store.start_import(pool, import_id, adapter.partner_id, "enrollments.csv", tag(), None) is not None
    progress = csv_import.Progress(import_id, len(content))
    async for _ in csv_import.run(pool, intake, adapter, io.BytesIO(content), progress, correlation_id="t"):
        pass
    return progress


async def test_a_registrar_csv_imported_twice_publishes_its_events_once(pool, intake):
    partner = "riverbend-community-college"
    adapter = mapping.load_all(ADAPTERS)[(partner, "csv", "training")]
    program_id = await program(pool, intake, partner)
    content = registrar_csv(f"csv-{tag()}@example.org", program_id)
    before = len(await outbox(pool))
    first = await import_file(pool, intake, adapter, content)
    assert (first.rows, first.accepted, first.duplicates, first.rejected) == (3, 3, 0, 0)
    published = [e.type for e in (await outbox(pool))[before:]]
    assert sorted(published) == sorted([
        "training.enrolled.v1", "training.progressed.v1", "credential.earned.v1", "training.completed.v1",
        "training.enrolled.v1", "training.exited.v1",
        "training.enrolled.v1",
    ])
    again = await import_file(pool, intake, adapter, content)
    assert (again.rows, again.accepted, again.duplicates, again.rejected) == (3, 0, 3, 0)
    assert len(await outbox(pool)) == before + len(published)
    counts = await pool.fetchrow(
        "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'completed') AS completed,"
        " count(*) FILTER (WHERE status = 'exited') AS exited FROM enrollments WHERE program_id = $1", program_id)
    assert (counts["n"], counts["completed"], counts["exited"]) == (3, 1, 1)


async def test_a_provider_s_kafka_record_is_mapped_by_its_training_adapter_and_reported_once(pool, intake):
    adapter = mapping.Adapter.model_validate({
        "partner_id": "kafka-trainer", "format": "json", "record": "training", "kafka": True,
        "fields": {"external_id": {"from": "id"}, "program_id": {"from": "program"},
                   "candidate.given_name": {"from": "person.first"}, "candidate.family_name": {"from": "person.last"},
                   "candidate.email": {"from": "person.email"}, "status": {"from": "state"},
                   "enrolled_on": {"from": "start"}, "completed_on": {"from": "end"},
                   "consent.given_at": {"from": "consent"}},
    })
    assert adapter.topic == "talentloop.inbound.kafka-trainer.training"
    program_id = await program(pool, intake, "kafka-trainer")
    consumer = inbound.InboundConsumer("intake", pool, None, deps=intake, adapters={adapter.topic: adapter})  # type: ignore[arg-type]
    doc = {"id": f"K-{tag()}", "program": program_id, "state": "completed", "start": "2026-09-01", "end": "2026-12-18",
           "consent": "2026-08-30T00:00:00Z", "person": {"first": "Ana", "last": "Diaz", "email": f"k-{tag()}@example.org"}}
    before = len(await outbox(pool))
    for offset in (0, 1):  # the provider publishes the same record twice
        item = consumer.decode(Record(adapter.topic, 0, offset, None, json.dumps(doc).encode()))
        async with pool.acquire() as conn, conn.transaction():
            assert await consumer.apply_items(conn, [item]) == set()
    assert [e.type for e in (await outbox(pool))[before:]] == ["training.enrolled.v1", "training.completed.v1"]
    with pytest.raises(Poison, match="invalid-record: end: completed-on-required"):
        consumer.decode(Record(adapter.topic, 0, 2, None, json.dumps({**doc, "end": None}).encode()))


async def test_a_provider_erases_its_own_enrollments_of_a_person_and_others_keep_theirs(pool, intake):
    program_id = await program(pool, intake, "trainer")
    email = f"own-{tag()}@example.org"
    [enrolled] = await report(pool, intake, "trainer", enrollment(email, program_id))
    referred = await submit(pool, intake, "another-partner", person(email))
    assert isinstance(referred, Accepted)
    async with pool.acquire() as conn, conn.transaction():
        done = await application.erase_own(intake.bind(conn), "trainer", None, "partner:trainer", "t",
                                           enrollment_id=enrolled.enrollment_id)
    assert (done.candidate_id, done.referrals) == (enrolled.partner_candidate_id, 1)
    row = await pool.fetchrow("SELECT status, candidate_id, contact_sealed FROM enrollments WHERE enrollment_id = $1",
                              enrolled.enrollment_id)
    assert tuple(row) == ("erased", "erased", None)
    kept = await pool.fetchrow("SELECT status, contact_sealed FROM referrals WHERE referral_id = $1", referred.referral_id)
    assert kept["status"] == "active" and kept["contact_sealed"] is not None  # another partner's, and the key, stay
    [notice] = [e for e in await outbox(pool) if e.type == "candidate.erased.v1" and e.subject == referred.candidate_id]
    assert notice.data["partner_id"] == "trainer" and notice.data["referral_ids"] == []
    assert notice.data["enrollment_ids"] == [enrolled.enrollment_id]
    # The provider's next enrollment of the person gets a new id of them.
    [again] = await report(pool, intake, "trainer", enrollment(email, program_id, external_id=f"new-{tag()}"))
    assert again.partner_candidate_id != enrolled.partner_candidate_id


async def test_a_provider_s_erasure_strips_the_published_copies_of_its_enrollment_only(pool, intake):
    program_id = await program(pool, intake, "trainer")
    email = f"copies-{tag()}@example.org"
    [enrolled] = await report(pool, intake, "trainer", enrollment(email, program_id))
    referred = await submit(pool, intake, "another-partner", person(email))
    assert isinstance(referred, Accepted)
    await pool.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")  # relayed
    async with pool.acquire() as conn, conn.transaction():
        await application.erase_own(intake.bind(conn), "trainer", None, "partner:trainer", "t",
                                    enrollment_id=enrolled.enrollment_id)
    published = {json.loads(r["value"])["subject"]: json.loads(r["value"])["data"]
                 for r in await pool.fetch("SELECT value FROM outbox WHERE published_at IS NOT NULL")}
    gone = published[enrolled.enrollment_id]
    assert gone["candidate_id"] == "erased" and "contact_sealed" not in gone
    kept = published[referred.referral_id]  # another partner's referral of the person
    assert kept["candidate_id"] == referred.candidate_id and "contact_sealed" in kept
