"""Intake's group commit on real PostgreSQL: concurrent single submissions share a
transaction yet each gets its own answer; duplicates within a group, a failing
submission isolated from its neighbours, Idempotency-Key claims, replays and releases."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts import Envelope
from plumbing import db
from plumbing.auth import Principal
from plumbing.context import Deps, source_of
from plumbing.problems import Problem
from plumbing.settings import Settings
from plumbing.vault import Vault
from services.intake import application, domain, store
from services.intake.application import Submission
from services.intake.grouped import Answer, ReferralGroups
from tests.support.queries import noting_queries

pytestmark = pytest.mark.integration
MIGRATIONS = Path(store.__file__).parent / "migrations"
PARTNER = Principal("partner", "p-group")
OTHER = Principal("partner", "p-other")


def person(email: str, **over) -> domain.ReferralIn:  # type: ignore[no-untyped-def]
    doc = {
        "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": email},
        "skills": ["Python"],
        "consent": {"share_with_employers": True, "given_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat()},
        **over,
    }
    return domain.validate_referral(doc)


def unique() -> str:
    return f"g-{uuid.uuid4().hex[:10]}@example.org"


@dataclass
class Spy:
    """Counts the transactions' submit_all calls, and fails any group holding a poisoned e-mail."""

    deps: Deps
    calls: list[int] = field(default_factory=list)
    poisoned: set[str] = field(default_factory=set)

    async def submit_all(self, ctx, items):  # type: ignore[no-untyped-def]
        self.calls.append(len(items))
        if any(i.referral.candidate.email in self.poisoned for i in items):
            raise ValueError("a value the database refuses")
        return await application.submit_all(ctx, items)

    def groups(self, pool, **tuning) -> ReferralGroups:  # type: ignore[no-untyped-def]
        return ReferralGroups(pool, self.deps, self.submit_all, **tuning)


@pytest.fixture
async def spy(pool) -> Spy:  # type: ignore[no-untyped-def]
    await db.migrate(pool, MIGRATIONS)
    async with pool.acquire() as conn:
        await Vault.ensure_schema(conn)
    return Spy(
        Deps(source_of("intake"), Settings(TALENTLOOP_PSEUDONYM_KEY="group-secret"), vault=Vault(os.urandom(32)))
    )


async def answer(group: ReferralGroups, who: Principal, referral: domain.ReferralIn, key: str | None = None):  # type: ignore[no-untyped-def]
    try:
        return await group.submit(
            who, Submission(who.id, referral, "api", "corr-" + (key or "none")), key, referral.model_dump(mode="json")
        )
    except Problem as problem:
        return problem


async def test_by_default_one_group_is_applied_at_a_time_and_every_request_answered_once(pool, spy):
    group = spy.groups(pool)  # intake's own tuning: one flush at a time (grouped.py)
    assert group._groups.connections == 1
    referrals = [person(unique()) for _ in range(40)]
    answers = await asyncio.gather(*(answer(group, PARTNER, r) for r in referrals))
    assert all(isinstance(a, Answer) and a.status == 201 for a in answers)
    assert sum(spy.calls) == 40  # each request in exactly one group
    ids = {a.body["referral_id"] for a in answers}
    assert len(ids) == 40
    assert await pool.fetchval("SELECT count(*) FROM referrals WHERE referral_id = ANY($1::text[])", list(ids)) == 40


async def test_concurrent_requests_share_one_transaction_and_get_their_own_answers(pool, spy):
    group = spy.groups(pool, window_s=0.05, connections=1)
    twice = unique()
    referrals = [person(unique()) for _ in range(20)] + [person(twice), person(twice)]
    answers = await asyncio.gather(*(answer(group, PARTNER, r) for r in referrals))
    assert spy.calls == [22]  # one group, one submit
    accepted = [a for a in answers if isinstance(a, Answer)]
    assert len(accepted) == 21 and all(a.status == 201 for a in accepted)
    assert len({a.body["referral_id"] for a in accepted}) == 21
    duplicate = answers[-1]
    assert isinstance(duplicate, Problem) and duplicate.status == 409 and duplicate.slug == "duplicate-referral"
    assert duplicate.extra["existing_referral_id"] == answers[-2].body["referral_id"]
    rows = await pool.fetch("SELECT value FROM outbox")
    events = [Envelope.from_bytes(r["value"]) for r in rows]
    mine = {a.body["referral_id"] for a in accepted}
    assert {e.subject for e in events} >= mine
    assert {e.correlationid for e in events if e.subject in mine} == {"corr-none"}


async def test_a_failing_request_fails_alone(pool, spy):
    group = spy.groups(pool, window_s=0.05, connections=1)
    bad = unique()
    spy.poisoned.add(bad)
    referrals = [person(unique()) for _ in range(7)] + [person(bad)]
    answers = await asyncio.gather(*(answer(group, PARTNER, r) for r in referrals), return_exceptions=True)
    assert [type(a).__name__ for a in answers] == ["Answer"] * 7 + ["ValueError"]
    stored = await pool.fetchval(
        "SELECT count(*) FROM referrals WHERE referral_id = ANY($1::text[])",
        [a.body["referral_id"] for a in answers[:7]],
    )
    assert stored == 7


async def test_idempotency_keys_are_claimed_replayed_and_released(pool, spy):
    group = spy.groups(pool, window_s=0.05, connections=1)
    key, referral = uuid.uuid4().hex, person(unique())
    # The same key twice in one group: the first does the work, the second finds it in progress.
    first, second = await asyncio.gather(answer(group, PARTNER, referral, key), answer(group, PARTNER, referral, key))
    assert isinstance(first, Answer) and first.status == 201 and not first.replayed
    assert isinstance(second, Problem) and second.status == 409 and second.slug == "idempotency-key-in-use"
    # Later: replayed from the stored answer; another partner's same key is its own.
    again = await answer(group, PARTNER, referral, key)
    assert isinstance(again, Answer) and again.replayed and again.body == first.body
    changed = await answer(group, PARTNER, person(unique()), key)
    assert isinstance(changed, Problem) and changed.slug == "idempotency-key-reused"
    other = await answer(group, OTHER, referral, key)
    assert isinstance(other, Answer) and other.status == 201 and other.body["referral_id"] != first.body["referral_id"]
    stored = await pool.fetchrow(
        "SELECT status_code, response FROM idempotency_keys WHERE key = $1 AND principal = $2", key, PARTNER.ref
    )
    assert stored["status_code"] == 201 and json.loads(stored["response"]) == first.body

    # A request that does not succeed (a duplicate; a failure) releases its key for a retry.
    dup_key, fail_key, bad = uuid.uuid4().hex, uuid.uuid4().hex, unique()
    spy.poisoned.add(bad)
    dup, failed = await asyncio.gather(
        answer(group, PARTNER, referral, dup_key), answer(group, PARTNER, person(bad), fail_key), return_exceptions=True
    )
    assert isinstance(dup, Problem) and dup.slug == "duplicate-referral"
    assert isinstance(failed, ValueError)
    left = await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = ANY($1::text[])", [dup_key, fail_key])
    assert left == 0
    spy.poisoned.discard(bad)
    retried = await answer(group, PARTNER, person(bad), fail_key)
    assert isinstance(retried, Answer) and retried.status == 201


async def test_a_busy_queue_is_applied_in_few_groups(pool, spy):
    group = spy.groups(pool, window_s=0.002, connections=2, max_group=100)
    answers = await asyncio.gather(*(answer(group, PARTNER, person(unique())) for _ in range(300)))
    assert all(isinstance(a, Answer) and a.status == 201 for a in answers)
    assert sum(spy.calls) == 300 and len(spy.calls) <= 6 and max(spy.calls) <= 100


async def test_a_groups_events_are_one_outbox_statement_each_with_its_requests_trace(pool, spy):
    outbox_inserts: list[str] = []
    spy.submit_all = noting_queries(spy.submit_all, "INSERT INTO outbox", outbox_inserts)  # type: ignore[method-assign]
    group = spy.groups(pool, window_s=0.05, connections=1)
    traces = [(f"00-{i:032x}-{i:016x}-01", f"k=v{i}" if i % 2 else None) for i in range(1, 6)]
    submissions = [Submission(PARTNER.id, person(unique()), "api", f"corr-{n}", t) for n, t in enumerate(traces)]
    submissions.append(Submission(PARTNER.id, person(unique()), "api", "corr-untraced"))  # the current trace: none here
    answers = await asyncio.gather(*(group.submit(PARTNER, s, None, None) for s in submissions))
    assert spy.calls == [6] and len(outbox_inserts) == 1
    ids = [a.body["referral_id"] for a in answers]
    rows = await pool.fetch("SELECT key, traceparent, tracestate FROM outbox WHERE key = ANY($1::text[])", ids)
    stored = {r["key"]: (r["traceparent"], r["tracestate"]) for r in rows}
    assert [stored[i] for i in ids] == [*traces, (None, None)]
