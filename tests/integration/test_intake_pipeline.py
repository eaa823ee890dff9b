"""Intake's pipeline on real PostgreSQL: concurrent duplicates, cross-partner links,
erasure, and sealing contacts stored in plaintext by schema version 001."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from contracts import events
from plumbing import db
from plumbing.vault import Unreadable, Vault
from services.intake import application, domain, store
from services.intake.application import Accepted, Conflict, Duplicate
from tests.integration import intake_world
from tests.integration.intake_world import (
    MIGRATIONS,
    SECRET,
    deps_of,
    outbox,
    person,
    submit,
)

pytestmark = pytest.mark.integration
intake = intake_world.intake  # the fixture: intake's dependencies on a migrated schema
async def outbox_types(pool) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.type for e in await outbox(pool)]


async def test_concurrent_submissions_of_one_person_accept_exactly_one(pool, intake):
    email = f"race-{uuid.uuid4().hex[:8]}@example.org"
    results = await asyncio.gather(*(submit(pool, intake, "p1", person(email)) for _ in range(12)))
    accepted = [r for r in results if isinstance(r, Accepted)]
    duplicates = [r for r in results if isinstance(r, Duplicate)]
    assert len(accepted) == 1 and len(duplicates) == 11
    assert {d.existing_referral_id for d in duplicates} == {accepted[0].referral_id}
    assert await outbox_types(pool) == ["referral.submitted.v2"]


async def test_one_person_from_two_partners_concurrently_is_one_candidate(pool, intake):
    tag = uuid.uuid4().hex[:8]
    a, b = await asyncio.gather(
        submit(pool, intake, "p1", person(f"{tag}@example.org", "+1 312 555 0100")),
        submit(pool, intake, "p2", person(None, "(312) 555-0100")),
    )
    assert isinstance(a, Accepted) and isinstance(b, Accepted)
    assert a.candidate_id == b.candidate_id
    # A third partner knows only the e-mail: same person.
    c = await submit(pool, intake, "p3", person(f"{tag.upper()}@EXAMPLE.org"))
    assert c.candidate_id == a.candidate_id
    assert await pool.fetchval("SELECT count(*) FROM candidate_identities WHERE candidate_id = $1", a.candidate_id) == 2


async def test_a_batch_with_the_same_person_twice_reports_the_second(pool, intake):
    email = f"batch-{uuid.uuid4().hex[:8]}@example.org"
    async with pool.acquire() as conn, conn.transaction():
        results = await application.submit(intake.bind(conn), "p1", [person(email), person(email), person(email, target_onet_soc_code="15-1252")],
                                      entry="csv", correlation_id="t")
    assert isinstance(results[0], Accepted) and isinstance(results[2], Accepted)
    assert results[1] == Duplicate(results[0].referral_id, "duplicate-referral")


async def test_erasure_destroys_the_key_unlinks_and_keeps_counts(pool, intake):
    email = f"erase-{uuid.uuid4().hex[:8]}@example.org"
    first = await submit(pool, intake, "p1", person(email, demographics={"gender": "female"}))
    await submit(pool, intake, "p2", person(email))
    async with pool.acquire() as conn, conn.transaction():
        sealed = store.sealed((await store.find(conn, first.referral_id, "p1"))["contact_sealed"])
        erased = await application.erase(intake.bind(conn), first.candidate_id, events.ErasureRequester.partner, "partner:p1", "t")
    assert sorted(erased.referral_ids) == sorted(
        r["referral_id"] for r in await pool.fetch("SELECT referral_id FROM referrals")
    )
    rows = await pool.fetch("SELECT * FROM referrals")
    assert len(rows) == 2  # counts remain
    assert all(r["status"] == "erased" and r["candidate_id"] == "erased" for r in rows)
    assert all(r["contact_sealed"] is None and r["demographics_sealed"] is None for r in rows)
    assert all("skills" not in json.loads(r["submission"]) for r in rows)
    assert await pool.fetchval("SELECT count(*) FROM candidate_identities WHERE candidate_id = $1", first.candidate_id) == 0
    async with pool.acquire() as conn:
        with pytest.raises(Unreadable):
            await intake.vault.open(conn, first.candidate_id, sealed, "contact")
    assert (await outbox_types(pool))[-3:] == ["referral.withdrawn.v1", "referral.withdrawn.v1", "candidate.erased.v1"]
    # The same person referred again is a new, unlinked candidate.
    again = await submit(pool, intake, "p1", person(email))
    assert isinstance(again, Accepted) and again.candidate_id != first.candidate_id
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(Conflict):
            await application.withdraw(intake.bind(conn), "p1", first.referral_id, events.WithdrawalReason.other, "t")


async def test_plaintext_contacts_of_version_001_are_sealed_and_the_column_dropped(pool):
    await db.migrate(pool)  # plumbing
    await pool.execute((MIGRATIONS / "001_referrals.sql").read_text())
    contact = {"given_name": "Old", "family_name": "Row", "email": "old.row@example.org", "phone": None}
    await pool.execute(
        "INSERT INTO referrals (referral_id, partner_id, candidate_id, contact, submission) VALUES ($1, $2, $3, $4, $5)",
        "ref_old", "p1", "cand_old", json.dumps(contact), json.dumps({"target_onet_soc_code": None}),
    )
    await pool.execute((MIGRATIONS / "002_protected_personal_data.sql").read_text())
    async with pool.acquire() as conn:
        await Vault.ensure_schema(conn)
    vault = Vault(os.urandom(32))
    assert await store.seal_legacy_contacts(pool, vault, SECRET) == 1
    assert await store.seal_legacy_contacts(pool, vault, SECRET) == 0  # once
    columns = {r["column_name"] for r in await pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'referrals'")}
    assert "contact" not in columns
    row = await pool.fetchrow("SELECT contact_sealed FROM referrals WHERE referral_id = 'ref_old'")
    async with pool.acquire() as conn:
        assert (await vault.open(conn, "cand_old", store.sealed(row["contact_sealed"]), "contact"))["email"] == contact["email"]
    for later in sorted(MIGRATIONS.glob("00[3-9]_*.sql")):
        await pool.execute(later.read_text())
    # The old referral got its partner's id of the person, and the hashes the network linked.
    old = await pool.fetchrow("SELECT partner_candidate_id, identity_hashes FROM referrals WHERE referral_id = 'ref_old'")
    assert old["partner_candidate_id"].startswith("cand_") and old["partner_candidate_id"] != "cand_old"
    assert old["identity_hashes"] == domain.identity_hashes(person(contact["email"]).candidate, SECRET)
    # The old candidate is found again by e-mail; its partner knows them by that id still.
    intake = deps_of(vault)
    new = await submit(pool, intake, "p2", person("OLD.ROW@example.org"))
    assert new.candidate_id == "cand_old" and new.partner_candidate_id != old["partner_candidate_id"]
    again = await submit(pool, intake, "p1", person("old.row@example.org", target_onet_soc_code="15-1252.00"))
    assert again.candidate_id == "cand_old" and again.partner_candidate_id == old["partner_candidate_id"]
