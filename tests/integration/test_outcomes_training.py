"""Outcomes keeps training in its ledger (issue 15 slice 6), on a real database: programs and
enrollments' events are appended under their program or enrollment, each enrollment is
projected into `enrollment_facts` (status, credentials, person_key), an erasure naming its
enrollments redacts them as it does referrals, and the result does not depend on whether the
erasure or the training events were applied first (as a rebuild applies them in another order)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from contracts import Envelope, build, events
from services.outcomes import rebuild
from services.outcomes.handlers import HANDLERS, batch_handler
from tests.support import training_events as t

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def env(payload: events.Payload, hours: float) -> Envelope:
    return build(payload, source="/t", correlation_id="c", time=T0 + timedelta(hours=hours))


def story() -> list[Envelope]:
    """A program; cand_a completes it and earns its credential; cand_b enrolls, exits, and is
    erased (enr_b named by the erasure); cand_c only enrolled."""
    return [
        env(t.program(), 0),
        env(t.enrolled("enr_a", "cand_a"), 1), env(t.progressed("enr_a", "cand_a", 60), 2),
        env(t.completed("enr_a", "cand_a"), 3), env(t.earned("enr_a", "cand_a"), 4),
        env(t.enrolled("enr_b", "cand_b"), 1), env(t.exited("enr_b", "cand_b"), 5),
        env(t.enrolled("enr_c", "cand_c", consent=False), 6),
        env(t.erased("cand_b", [], ["enr_b"]), 7),
    ]


@pytest.fixture
async def schemas(stack) -> AsyncIterator[list[str]]:  # type: ignore[no-untyped-def]
    made: list[str] = []
    yield made
    conn = await asyncpg.connect(stack.database_url)
    try:
        for schema in made:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def applied(stack, schemas: list[str], batches: list[list[Envelope]]) -> asyncpg.Pool:  # type: ignore[no-untyped-def]
    schemas.append("tr_" + uuid.uuid4().hex[:8])
    pool = await rebuild.fresh_schema(stack.database_url, schemas[-1])
    result = rebuild.Result(schemas[-1])
    ingest = batch_handler(live=False)
    for batch in batches:
        items = [rebuild._parse(e.to_bytes(), result) for e in batch]  # noqa: SLF001
        assert await rebuild._apply(pool, ingest, items, result) == len(batch)  # noqa: SLF001
    return pool


async def test_enrollments_are_projected_and_an_erasure_redacts_them(stack, schemas) -> None:  # type: ignore[no-untyped-def]
    found = story()
    pool = await applied(stack, schemas, [found[:4], found[4:]])
    try:
        facts = {r["enrollment_id"]: r for r in await pool.fetch("SELECT * FROM enrollment_facts")}
        ledger = await pool.fetch("SELECT enrollment_id, program_id, referral_id, redacted_at IS NOT NULL AS redacted,"
                                  " envelope FROM ledger ORDER BY seq")
        prog = await pool.fetchrow("SELECT * FROM programs")
        again = await pool.fetchval("SELECT count(*) FROM ledger")
    finally:
        await pool.close()
    assert len(ledger) == again == len(found)
    assert {(r["enrollment_id"], r["program_id"]) for r in ledger if r["enrollment_id"]} == {
        ("enr_a", "prog_1"), ("enr_b", "prog_1"), ("enr_c", "prog_1")}
    assert prog["partner_id"] == "trainer" and prog["name"] == "Web Development"
    a = json.loads(facts["enr_a"]["record"])
    assert (facts["enr_a"]["status"], facts["enr_a"]["person_key"], a["completed_on"]) == (
        "completed", "cand_a", "2026-12-01")
    assert [c["name"] for c in a["credentials"]] == ["Canary A+"] and a["percent_complete"] == 60
    assert facts["enr_a"]["demographics_sealed"] is not None
    assert facts["enr_c"]["status"] == "enrolled" and facts["enr_c"]["demographics_sealed"] is None  # no consent
    # The erased enrollment: still counted (status kept), the person gone from it and its ledger rows.
    b = facts["enr_b"]
    erasure = next(r for r in ledger if json.loads(r["envelope"])["type"].startswith("candidate.erased"))
    assert b["status"] == "exited" and b["person_key"] == "erased:" + json.loads(erasure["envelope"])["id"]
    assert b["candidate_id"] == "erased" and b["demographics_sealed"] is None
    b_rows = [r for r in ledger if r["enrollment_id"] == "enr_b"]
    assert len(b_rows) == 2 and all(r["redacted"] and "cand_b" not in r["envelope"] for r in b_rows)
    assert not any(r["redacted"] for r in ledger if r["enrollment_id"] == "enr_a")


async def test_the_same_whether_the_erasure_comes_before_or_after_the_training_events(stack, schemas) -> None:  # type: ignore[no-untyped-def]
    found = story()
    erasure, rest = found[-1], found[:-1]
    first = await applied(stack, schemas, [rest, [erasure]])
    try:
        after = await rebuild.content_hash(first)
    finally:
        await first.close()
    second = await applied(stack, schemas, [[erasure], list(reversed(rest)), rest[:3]])  # repeats change nothing
    try:
        before = await rebuild.content_hash(second)
    finally:
        await second.close()
    assert before == after
    assert {"programs", "enrollment_facts", "erased_enrollments"} <= set(after)


async def test_one_event_at_a_time_takes_the_same_path(stack, schemas) -> None:  # type: ignore[no-untyped-def]
    """The consumer's one-by-one handlers (a record the batch could not apply) know every training type."""
    found = story()
    assert {e.type for e in found} <= set(HANDLERS)
    batched = await applied(stack, schemas, [found])
    try:
        want = await rebuild.content_hash(batched)
    finally:
        await batched.close()
    schemas.append("tr_" + uuid.uuid4().hex[:8])
    pool = await rebuild.fresh_schema(stack.database_url, schemas[-1])
    try:
        for e in found:
            item = rebuild._parse(e.to_bytes(), rebuild.Result(schemas[-1]))  # noqa: SLF001
            assert item is not None
            async with pool.acquire() as conn, conn.transaction():
                await HANDLERS[e.type](rebuild._DEPS.bind(conn), *item)  # noqa: SLF001
        got = await rebuild.content_hash(pool)
    finally:
        await pool.close()
    assert got == want
