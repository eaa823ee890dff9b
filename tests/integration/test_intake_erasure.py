"""Erasure in intake on real PostgreSQL (issue 14): who may erase what, erasure racing
submissions, identities changed by an update, and the rows kept for operations.

A partner erases only its own referrals of a person; the person everywhere is an operator's
erasure. Concurrent erasures and submissions end with nothing readable and nothing
un-erasable. An updated e-mail or phone belongs to the referral's own candidate.
"""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from contracts import events
from plumbing.context import Deps
from plumbing.vault import Unreadable, Vault
from services.intake import application, domain, store
from services.intake.application import Accepted, Conflict, Duplicate
from tests.integration import intake_world
from tests.integration.intake_world import (
    SECRET,
    outbox,
    person,
    submit,
    tag,
)

pytestmark = pytest.mark.integration
intake = intake_world.intake  # the fixture: intake's dependencies on a migrated schema
OPERATOR = events.ErasureRequester.operator


async def accepted(pool: asyncpg.Pool, intake: Deps, partner: str, referral: domain.ReferralIn) -> Accepted:
    result = await submit(pool, intake, partner, referral)
    assert isinstance(result, Accepted), result
    return result


async def update_contact(pool: asyncpg.Pool, deps: Deps, partner: str, referral_id: str, email: str, phone: str) -> None:
    """The partner's update giving the person this e-mail and phone, in its own transaction."""
    change = domain.Profile.model_validate(
        {"candidate": {"given_name": "Ana", "family_name": "Diaz", "email": email, "phone": phone}})
    async with pool.acquire() as conn, conn.transaction():
        await application.update(deps.bind(conn), partner, referral_id, change, "t")


async def readable(pool: asyncpg.Pool, intake: Deps, referral_id: str, partner: str) -> bool:
    async with pool.acquire() as conn:
        row = await store.find(conn, referral_id, partner)
        try:
            await application.current(intake.bind(conn), row)
        except (Conflict, Unreadable, TypeError):
            return False
    return True


async def identities(pool: asyncpg.Pool, candidate_id: str) -> set[str]:
    rows = await pool.fetch("SELECT identity_hash FROM candidate_identities WHERE candidate_id = $1", candidate_id)
    return {r["identity_hash"] for r in rows}


async def test_a_partner_erases_only_its_own_referrals_and_learns_nothing_of_others(pool, intake):
    t = tag()
    email, phone = f"victim-{t}@example.org", "+1 312 555 0142"
    victim = await accepted(pool, intake, "p_a", person(email))
    # The attack of issue 14: partner B refers the same e-mail (and a phone only it knows), then erases.
    mine = await accepted(pool, intake, "p_b", person(email, phone))
    again = await accepted(pool, intake, "p_b", person(email, target_onet_soc_code="15-1252"))
    assert victim.candidate_id == mine.candidate_id == again.candidate_id
    await pool.execute("UPDATE outbox SET published_at = now()")  # as the publisher leaves them

    async with pool.acquire() as conn, conn.transaction():
        answer = await application.erase_own(intake.bind(conn), "p_b", mine.referral_id, "partner:p_b", "t")
    assert answer.referrals == 2  # its own two, not the person's three

    # Partner A's referral is untouched and readable; the key survives for it.
    assert await readable(pool, intake, victim.referral_id, "p_a")
    row_a = await pool.fetchrow("SELECT * FROM referrals WHERE referral_id = $1", victim.referral_id)
    assert row_a["status"] == "active" and row_a["candidate_id"] == victim.candidate_id
    # B's rows keep nothing readable nor any link to the person.
    for ref in (mine.referral_id, again.referral_id):
        row = await pool.fetchrow("SELECT * FROM referrals WHERE referral_id = $1", ref)
        assert row["status"] == "erased" and row["candidate_id"] == "erased" and row["contact_sealed"] is None
        assert "skills" not in json.loads(row["submission"])
        assert not await readable(pool, intake, ref, "p_b")
    # The phone only B supplied no longer leads to the person; A's e-mail still does.
    assert await identities(pool, victim.candidate_id) == set(domain.identity_hashes(person(email).candidate, SECRET))
    assert await pool.fetchval("SELECT count(*) FROM erasures") == 0
    assert await pool.fetchval("SELECT referral_count FROM partner_erasures WHERE partner_id = 'p_b'") == 2

    # The event names B and only B's referrals, so every service drops those and nothing else.
    sent = await outbox(pool)
    (erased,) = [e for e in sent if e.type == "candidate.erased.v1"]
    assert erased.data["partner_id"] == "p_b" and sorted(erased.data["referral_ids"]) == sorted(
        [mine.referral_id, again.referral_id])
    withdrawn = [e.data["referral_id"] for e in sent if e.type == "referral.withdrawn.v1"]
    assert sorted(withdrawn) == sorted([mine.referral_id, again.referral_id])
    # B's published events are stripped in the outbox; A's stay as they were.
    for env in sent:
        if env.type == "referral.submitted.v2":
            ours = env.data["referral_id"] != victim.referral_id
            assert ("contact_sealed" in env.data) is not ours and (env.data["candidate_id"] == "erased") is ours

    # Again: already erased. Then A erases its own: the last referrals, so the person goes entirely.
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(Conflict):
            await application.erase_own(intake.bind(conn), "p_b", again.referral_id, "partner:p_b", "t")
        last = await application.erase_own(intake.bind(conn), "p_a", victim.referral_id, "partner:p_a", "t")
    assert last.referrals == 1
    assert await pool.fetchval("SELECT referral_count FROM erasures WHERE candidate_id = $1", victim.candidate_id) == 1
    async with pool.acquire() as conn:
        assert await intake.vault.key(conn, victim.candidate_id) is None
    assert await identities(pool, victim.candidate_id) == set()
    assert (await outbox(pool))[-1].data.get("partner_id") is None  # network-wide now


async def test_an_operator_erases_the_person_everywhere(pool, intake):
    email = f"op-{tag()}@example.org"
    a = await accepted(pool, intake, "p_a", person(email))
    b = await accepted(pool, intake, "p_b", person(email))
    async with pool.acquire() as conn, conn.transaction():
        erased = await application.erase(intake.bind(conn), a.candidate_id, OPERATOR, "operator:ops", "t")
    assert sorted(erased.referral_ids) == sorted([a.referral_id, b.referral_id]) and erased.partner_id is None
    assert not await readable(pool, intake, a.referral_id, "p_a") and not await readable(pool, intake, b.referral_id, "p_b")


async def test_an_operator_names_the_person_by_any_partners_referral_and_a_repeat_answers_the_same(pool, intake):
    email = f"op2-{tag()}@example.org"
    a = await accepted(pool, intake, "p_a", person(email))
    await accepted(pool, intake, "p_b", person(email))
    async with pool.acquire() as conn, conn.transaction():
        ctx = intake.bind(conn)
        first = await application.erase_person(ctx, referral_id=a.referral_id, principal="operator:ops", correlation_id="t")
        again = await application.erase_person(ctx, candidate_id=a.candidate_id, principal="operator:ops", correlation_id="t")
        with pytest.raises(Conflict):
            await application.erase_person(ctx, referral_id=a.referral_id, principal="operator:ops", correlation_id="t")
        with pytest.raises(application.NotFound) as unknown:
            await application.erase_person(ctx, candidate_id="cand_nobody", principal="operator:ops", correlation_id="t")
    assert first == again and first.referrals == 2 and first.candidate_id == a.candidate_id
    assert unknown.value.args == ("candidate",)
    (erased,) = [e for e in await outbox(pool) if e.type == "candidate.erased.v1" and e.data["candidate_id"] == a.candidate_id]
    assert erased.data["requested_by"] == "operator"


async def test_updated_contact_is_linked_to_the_referrals_own_candidate(pool, intake):
    t = tag()
    first = await accepted(pool, intake, "p1", person(f"old-{t}@example.org"))
    someone_else = await accepted(pool, intake, "p2", person(f"other-{t}@example.org"))
    async with pool.acquire() as conn, conn.transaction():
        await application.update(intake.bind(conn), "p1", first.referral_id, domain.Profile.model_validate(
            {"candidate": {"given_name": "Ana", "family_name": "Diaz", "email": f"new-{t}@example.org",
                           "phone": "+1 312 555 0177"}}), "t")
    # The person under their new e-mail is the same person: a duplicate for the same target.
    dup = await submit(pool, intake, "p1", person(f"new-{t}@example.org"))
    assert dup == Duplicate(first.referral_id, "duplicate-referral")
    assert (await submit(pool, intake, "p3", person(None, "(312) 555-0177"))).candidate_id == first.candidate_id

    # An e-mail that already identifies someone else stays theirs (no taking identities over).
    async with pool.acquire() as conn, conn.transaction():
        await application.update(intake.bind(conn), "p1", first.referral_id, domain.Profile.model_validate(
            {"candidate": {"given_name": "Ana", "family_name": "Diaz", "email": f"other-{t}@example.org"}}), "t")
    other = set(domain.identity_hashes(person(f"other-{t}@example.org").candidate, SECRET))
    assert other <= await identities(pool, someone_else.candidate_id)

    # Erased: every identity the person had, the updated ones too, is unlinked.
    async with pool.acquire() as conn, conn.transaction():
        await application.erase(intake.bind(conn), first.candidate_id, OPERATOR, "operator:ops", "t")
    assert await identities(pool, first.candidate_id) == set()
    fresh = await accepted(pool, intake, "p1", person(f"new-{t}@example.org"))
    assert fresh.candidate_id != first.candidate_id


async def test_erasures_racing_submissions_leave_nothing_readable_and_nothing_unerasable(pool, intake):
    """Each round: one person referred by p1; then, at once, an operator's erasure, p2's
    erasure of its own referral, and submissions of the person by p2 and p3."""

    async def erase(candidate_id: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await application.erase(intake.bind(conn), candidate_id, OPERATOR, "operator:ops", "t")

    async def erase_own(partner: str, referral_id: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            try:
                await application.erase_own(intake.bind(conn), partner, referral_id, f"partner:{partner}", "t")
            except Conflict:
                pass  # erased by the operator first

    for _ in range(10):
        email = f"race-{tag()}@example.org"
        first = await accepted(pool, intake, "p1", person(email))
        own = await accepted(pool, intake, "p2", person(email, target_onet_soc_code="15-1252"))
        await asyncio.gather(
            erase(first.candidate_id),
            erase_own("p2", own.referral_id),
            submit(pool, intake, "p2", person(email)),
            submit(pool, intake, "p3", person(email)),
        )

    # Invariant: a referral is erased (nothing readable), or active under a candidate that is
    # not recorded as erased, with a key that opens it, and its partner can erase it.
    rows = await pool.fetch("SELECT * FROM referrals ORDER BY submitted_at")
    erased = {r["candidate_id"] for r in await pool.fetch("SELECT candidate_id FROM erasures")}
    survivors = [r for r in rows if r["status"] != "erased"]
    for r in rows:
        if r["status"] == "erased":
            assert r["contact_sealed"] is None and r["candidate_id"] == "erased"
        else:
            assert r["candidate_id"] not in erased, dict(r)
            assert await readable(pool, intake, r["referral_id"], r["partner_id"])
    for r in survivors:
        async with pool.acquire() as conn, conn.transaction():
            try:
                await application.erase_own(intake.bind(conn), r["partner_id"], r["referral_id"], "partner", "t")
            except Conflict:
                pass  # erased with an earlier survivor of the same person and partner
    assert await pool.fetchval("SELECT count(*) FROM referrals WHERE status <> 'erased'") == 0
    assert await pool.fetchval("SELECT count(*) FROM candidate_identities") == 0
    assert await pool.fetchval("SELECT count(*) FROM keyvault.candidate_keys k JOIN erasures e USING (candidate_id)") == 0


class PausingVault:
    """The vault, but the first key look-up stops until released: a transaction held
    mid-way, with whatever locks it took before."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def key(self, conn: asyncpg.Connection, candidate_id: str):  # type: ignore[no-untyped-def]
        if not self.reached.is_set():
            self.reached.set()
            await self.release.wait()
        return await self._vault.key(conn, candidate_id)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._vault, name)


async def lock_waits(pool: asyncpg.Pool, n: int) -> None:
    for _ in range(200):
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {n} transactions waiting for a lock")


async def test_an_update_racing_an_erasure_and_a_submission_does_not_deadlock(pool, intake):
    """The update links a new phone while a submission of the person with that phone and an
    erasure of them run: each waits for another in turn, never in a cycle (the update held
    the referral's row while waiting for the submission's uncommitted link, the submission
    waited for the candidate the erasure held, the erasure for the row: a deadlock)."""
    t = tag()
    email, phone = f"cycle-{t}@example.org", f"+1 312 555 {int(t, 16) % 9000 + 1000}"
    first = await accepted(pool, intake, "p1", person(email))
    vault = PausingVault(intake.vault)
    paused = Deps(intake.source, intake.settings, vault=vault)  # type: ignore[arg-type]

    async def erase() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await application.erase(intake.bind(conn), first.candidate_id, OPERATOR, "operator:ops", "t")

    updating = asyncio.create_task(update_contact(pool, paused, "p1", first.referral_id, email, phone))
    await asyncio.wait_for(vault.reached.wait(), 30)
    erasing = asyncio.create_task(erase())
    await lock_waits(pool, 1)
    submitting = asyncio.create_task(submit(pool, intake, "p2", person(email, phone)))
    await lock_waits(pool, 2)
    vault.release.set()
    results = await asyncio.wait_for(asyncio.gather(updating, erasing, submitting, return_exceptions=True), 60)
    assert not [r for r in results if isinstance(r, BaseException)], results
    # The person was erased; the submission that waited for it is a fresh, readable candidate.
    fresh = results[2]
    assert isinstance(fresh, Accepted) and fresh.candidate_id != first.candidate_id
    assert await readable(pool, intake, fresh.referral_id, "p2")
    assert await identities(pool, first.candidate_id) == set()


async def test_a_submission_waiting_for_a_partners_erasure_keeps_its_identities(pool, intake):
    """p2 submits someone by the phone only p1 had given, while p1 erases its own referrals
    (holding the candidate, about to unlink the phone). Either p2 found the person before the
    erasure or after it (then the phone leads to nobody: a new candidate); either way the
    phone leads to the candidate of p2's referral, so the duplicate check and an erasure find
    it (it led nowhere: the next submission by that phone became yet another candidate)."""
    t = tag()
    email, phone = f"split-{t}@example.org", f"+1 773 555 {int(t, 16) % 9000 + 1000}"
    kept = await accepted(pool, intake, "p0", person(email))
    mine = await accepted(pool, intake, "p1", person(email, phone))
    vault = PausingVault(intake.vault)
    paused = Deps(intake.source, intake.settings, vault=vault)  # type: ignore[arg-type]

    async def erase_own() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await application.erase_own(paused.bind(conn), "p1", mine.referral_id, "partner:p1", "t")

    erasing = asyncio.create_task(erase_own())
    await asyncio.wait_for(vault.reached.wait(), 30)
    submitting = asyncio.create_task(submit(pool, intake, "p2", person(None, phone)))
    await lock_waits(pool, 1)
    vault.release.set()
    _, theirs = await asyncio.wait_for(asyncio.gather(erasing, submitting), 60)
    assert isinstance(theirs, Accepted)
    assert set(domain.identity_hashes(person(None, phone).candidate, SECRET)) <= await identities(pool, theirs.candidate_id)
    assert await readable(pool, intake, kept.referral_id, "p0")
    again = await submit(pool, intake, "p2", person(None, phone))
    assert again == Duplicate(theirs.referral_id, "duplicate-referral")


async def test_a_phone_added_by_an_update_the_erasure_waited_for_is_unlinked_too(pool, intake):
    """p1 adds a phone to its referral while erasing its referrals of the person: the erasure
    waits for the update, and the phone, which only p1 gave, no longer leads to the person
    (it was linked after the erasure read the person's identities, and stayed)."""
    t = tag()
    email, phone = f"late-{t}@example.org", f"+1 630 555 {int(t, 16) % 9000 + 1000}"
    kept = await accepted(pool, intake, "p0", person(email))
    mine = await accepted(pool, intake, "p1", person(email))
    vault = PausingVault(intake.vault)
    paused = Deps(intake.source, intake.settings, vault=vault)  # type: ignore[arg-type]

    async def erase_own() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await application.erase_own(intake.bind(conn), "p1", mine.referral_id, "partner:p1", "t")

    updating = asyncio.create_task(update_contact(pool, paused, "p1", mine.referral_id, email, phone))
    await asyncio.wait_for(vault.reached.wait(), 30)
    erasing = asyncio.create_task(erase_own())
    await lock_waits(pool, 1)
    vault.release.set()
    await asyncio.wait_for(asyncio.gather(updating, erasing), 60)
    assert await identities(pool, kept.candidate_id) == set(domain.identity_hashes(person(email).candidate, SECRET))
    assert await readable(pool, intake, kept.referral_id, "p0")
