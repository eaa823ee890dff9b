"""The group commit claims its requests' Idempotency-Keys in one statement
(plumbing/group_commit.py, plumbing/idempotency.py CLAIM_MANY) with what one claim per
request gave: a new key is claimed, a key repeated within the group goes to its first
request (the later one is told it is in use, or reused with another payload), a stored
answer is replayed, and a claim left in progress past its expiry is taken over."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from plumbing import idempotency
from plumbing.auth import Principal
from plumbing.group_commit import Answer, GroupCommit
from plumbing.problems import Problem

pytestmark = pytest.mark.integration
WHO = Principal("partner", "p1")
OTHER = Principal("partner", "p2")


async def test_one_statement_claims_as_one_claim_per_request_did(pool):  # type: ignore[no-untyped-def]
    applied: list[list[str]] = []

    async def apply_many(conn: asyncpg.Connection, texts: list[str]) -> list[Answer | Exception]:
        applied.append(texts)
        return [Answer(201, {"text": t}) for t in texts]

    group = GroupCommit(pool, apply_many, "test", window_s=0.05, connections=1)

    async def submit(who: Principal, text: str, key: str):  # type: ignore[no-untyped-def]
        try:
            return await group.submit(who, text, key, {"text": text})
        except Exception as exc:  # noqa: BLE001 - the request's own refusal
            return exc

    assert (await submit(WHO, "stored", "done")).status == 201
    # A claim its process left in progress 2 minutes ago (it died): expired, taken over.
    await pool.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash, created_at)"
        " VALUES ($1, 'stale', 'whatever', now() - interval '120 seconds')",
        WHO.ref,
    )
    # One in progress now (another process runs it): not taken.
    await pool.execute(
        "INSERT INTO idempotency_keys (principal, key, request_hash) VALUES ($1, 'running', $2)",
        WHO.ref, idempotency.fingerprint({"text": "r"}),
    )
    results = await asyncio.gather(
        submit(WHO, "a", "k1"),
        submit(WHO, "a", "k1"),  # the same request again, within the group
        submit(WHO, "b", "k1"),  # the key with another payload, within the group
        submit(OTHER, "c", "k1"),  # another principal's key of the same name
        submit(WHO, "stored", "done"),  # answered before: replayed
        submit(WHO, "s", "stale"),
        submit(WHO, "r", "running"),
    )
    first, again, other_payload, other_principal, replay, stale, running = results
    assert first.status == 201 and not first.replayed
    assert isinstance(again, Problem) and again.status == 409
    assert isinstance(other_payload, Problem) and other_payload.status == 422
    assert other_principal.status == 201 and other_principal.body == {"text": "c"}
    assert replay.replayed and replay.body == {"text": "stored"}
    assert stale.status == 201 and not stale.replayed
    assert isinstance(running, Problem) and running.status == 409
    assert applied[-1] == ["a", "c", "s"]  # only the claimed requests' work, in queue order
    stored = dict(await pool.fetch(
        "SELECT principal || ':' || key, response->>'text' FROM idempotency_keys WHERE status_code = 201"
    ))
    assert stored == {
        f"{WHO.ref}:done": "stored", f"{WHO.ref}:k1": "a", f"{OTHER.ref}:k1": "c", f"{WHO.ref}:stale": "s",
    }
