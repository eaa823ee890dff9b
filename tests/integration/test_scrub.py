"""plumbing.scrub on real PostgreSQL: an erasure strips the rows kept for operations (published
outbox rows, stored idempotent answers, webhook deliveries and the receivers' answers to them)
of the erased referrals, and leaves everyone else's, and what is still to be sent, alone."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from contracts import build, events
from plumbing import outbox, scrub

pytestmark = pytest.mark.integration
SEALED = events.Sealed(kid="cand_x#1", nonce="bm9uY2U", ciphertext="c2VhbGVk")


def submitted(ref: str, cand: str) -> events.ReferralSubmittedV2:
    return events.ReferralSubmittedV2(
        referral_id=ref, partner_id="p1", candidate_id=cand, skills=[events.SkillRef(id="python", text="Canary Py")],
        skills_vocabulary="2026.11", training=events.Training(program="Canary Camp"), location="Canary Town",
        consent=events.ConsentScope(share_with_employers=True, aggregate_reports=False, given_at="2026-11-01T00:00:00Z"), contact_sealed=SEALED,
    )


async def test_scrub_strips_the_erased_referrals_from_operational_rows_and_nothing_else(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue_many(conn, [(build(submitted(r, c), source="/t", correlation_id="t"), events.ReferralSubmittedV2)
                                         for r, c in (("ref_gone", "cand_x"), ("ref_kept", "cand_y"))])
        await conn.execute("UPDATE outbox SET published_at = now()")
        await outbox.enqueue_many(conn, [(build(submitted("ref_pending", "cand_x"), source="/t", correlation_id="t"),
                                          events.ReferralSubmittedV2)])
        for key, answer in (("k1", {"referral_id": "ref_gone", "candidate_id": "cand_x", "unknown_skills": ["Canary Py"]}),
                            ("k2", {"referral_id": "ref_kept", "candidate_id": "cand_y", "unknown_skills": ["Canary Py"]})):
            await conn.execute("INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response)"
                               " VALUES ('partner:p1', $1, 'h', 201, $2)", key, json.dumps(answer))
        await conn.execute("INSERT INTO webhook_endpoints (endpoint_id, owner, url, secret_sealed)"
                           " VALUES ('whe_1', 'partner:p1', 'https://example.org/hook', 'x')")
        for delivery, ref in (("whd_gone", "ref_gone"), ("whd_kept", "ref_kept")):
            body = {"id": str(uuid.uuid4()), "data": {"referral_id": ref, "candidate_id": "cand_x",
                                                      "training": {"program": "Canary Camp"}}}
            await conn.execute("INSERT INTO webhook_deliveries (delivery_id, endpoint_id, owner, event_id, event_type, body,"
                               " status) VALUES ($1, 'whe_1', 'partner:p1', $2, 't', $3, 'delivered')",
                               delivery, uuid.uuid4(), json.dumps(body))
            await conn.execute("INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms, response_excerpt)"
                               " VALUES ($1, 200, 5, 'echo: Canary Camp')", delivery)

    # A partner's erasure of ref_gone only: the candidate (cand_x) is not named, so ref_pending
    # and everything about ref_kept stay as they are.
    async with pool.acquire() as conn, conn.transaction():
        found = await scrub.scrub(conn, ["ref_gone"])
    assert found == {"outbox": 1, "idempotency_keys": 1, "webhook_deliveries": 1}

    rows = {json.loads(r["value"])["data"]["referral_id"]: json.loads(r["value"])["data"]
            for r in await pool.fetch("SELECT value FROM outbox")}
    gone = rows["ref_gone"]
    assert gone["candidate_id"] == "erased" and gone["skills"] == [{"id": "python"}]
    assert not {"contact_sealed", "training", "location"} & gone.keys()
    assert rows["ref_kept"]["training"]["program"] == "Canary Camp" and "contact_sealed" in rows["ref_pending"]
    answers = {r["key"]: json.loads(r["response"]) for r in await pool.fetch("SELECT key, response FROM idempotency_keys")}
    assert answers["k1"] == {"referral_id": "ref_gone", "candidate_id": "erased", "unknown_skills": []}
    assert answers["k2"]["unknown_skills"] == ["Canary Py"]
    bodies = {r["delivery_id"]: json.loads(r["body"]) for r in await pool.fetch("SELECT * FROM webhook_deliveries")}
    assert "training" not in bodies["whd_gone"]["data"] and "training" in bodies["whd_kept"]["data"]
    excerpts = {r["delivery_id"]: r["response_excerpt"] for r in await pool.fetch("SELECT * FROM webhook_attempts")}
    assert excerpts == {"whd_gone": None, "whd_kept": "echo: Canary Camp"}

    # Network-wide (the candidate named): every published row about them, whichever referral.
    async with pool.acquire() as conn, conn.transaction():
        assert await scrub.scrub(conn, ["ref_gone"], "cand_x") == {"webhook_deliveries": 1}  # whd_kept names cand_x
        assert await scrub.scrub(conn, ["ref_gone"], "cand_x") == {}  # nothing left to strip
    assert "contact_sealed" in json.loads(await pool.fetchval(
        "SELECT value FROM outbox WHERE published_at IS NULL"))["data"]  # still to be sent: as it was


async def test_scrub_strips_the_erased_enrollments_training_events_and_keeps_programs(pool: asyncpg.Pool) -> None:
    """A training provider's erasure names its enrollments, not the candidate: their published
    training events and stored answers lose the person (the credential earned too), another
    enrollment of the same person keeps its own, and a program's credential (about no one) stays."""
    def enrolled(enr: str) -> events.TrainingEnrolledV1:
        return events.TrainingEnrolledV1(
            enrollment_id=enr, program_id="prog_1", partner_id="trainer", candidate_id="cand_t", enrolled_on="2026-09-01",
            consent=events.TrainingConsent(aggregate_reports=True, share_outcomes_with_provider=False,
                                           given_at="2026-08-30T00:00:00Z"), contact_sealed=SEALED,
        )

    earned = events.CredentialEarnedV1(enrollment_id="enr_gone", program_id="prog_1", partner_id="trainer",
                                       candidate_id="cand_t", awarded_on="2026-12-20",
                                       credential=events.EarnedCredential(name="Canary A+", ctdl_id="ce-1"))
    registered = events.ProgramRegisteredV1(
        program_id="prog_1", partner_id="trainer", name="Web Development", modality="hybrid", length_weeks=12,
        credential=events.CredentialRequirement(name="Canary A+"), cost_to_participant=events.Money(amount="0"),
    )
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue_many(conn, [(build(e, source="/t", correlation_id="t"), type(e))
                                         for e in (enrolled("enr_gone"), enrolled("enr_kept"), earned, registered)])
        await conn.execute("UPDATE outbox SET published_at = now()")
        await conn.execute("INSERT INTO idempotency_keys (principal, key, request_hash, status_code, response)"
                           " VALUES ('partner:trainer', 'k_enr', 'h', 201, $1)",
                           json.dumps({"enrollment_id": "enr_gone", "candidate_id": "cand_t"}))

    async with pool.acquire() as conn, conn.transaction():
        found = await scrub.scrub(conn, ["enr_gone"])
    assert found == {"outbox": 2, "idempotency_keys": 1}

    rows = [json.loads(r["value"]) for r in await pool.fetch("SELECT value FROM outbox")]
    by_type = {(e["type"], e["data"].get("enrollment_id")): e["data"] for e in rows}
    gone = by_type[("training.enrolled.v1", "enr_gone")]
    assert gone["candidate_id"] == "erased" and "contact_sealed" not in gone
    credential = by_type[("credential.earned.v1", "enr_gone")]
    assert credential["candidate_id"] == "erased" and "credential" not in credential
    kept = by_type[("training.enrolled.v1", "enr_kept")]
    assert kept["candidate_id"] == "cand_t" and "contact_sealed" in kept
    assert by_type[("program.registered.v1", None)]["credential"]["name"] == "Canary A+"
    answer = json.loads(await pool.fetchval("SELECT response FROM idempotency_keys WHERE key = 'k_enr'"))
    assert answer == {"enrollment_id": "enr_gone", "candidate_id": "erased"}
