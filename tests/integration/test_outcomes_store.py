"""The outcomes projection under concurrent consumers (one per topic) on real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic_core import from_json, to_json

from bench.outcomes_ledger import make_stream
from contracts import Envelope, build, events, latest_type, payload_of
from plumbing import db, webhooks
from plumbing.context import Deps
from services.outcomes import application, projection, store
from services.outcomes.handlers import HANDLERS, batch_handler
from talentloop.waiting import until
from tests.integration.test_withdraw_update_erase import PLACEMENT, T0, routed, submitted

pytestmark = pytest.mark.integration
MIGRATIONS = Path(store.__file__).parent / "migrations"


def lifecycle(ref: str) -> list[events.Payload]:
    ids = {"referral_id": ref, "employer_id": "emp1", "opening_id": "opn1"}
    return [
        submitted(ref, "python", cand=f"cand_{ref}"),
        routed(ref, cand=f"cand_{ref}"),
        events.ReferralAcknowledgedV1(**ids),
        events.InterviewScheduledV1(**ids, interview_id="i1", scheduled_for=T0, mode=events.InterviewMode.video),
        events.InterviewCompletedV1(**ids, interview_id="i1", outcome=events.InterviewOutcome.advanced),
        events.PlacementReportedV1.model_validate({**ids, **PLACEMENT, "benefits": {"health": True}}),
    ]


async def test_events_applied_concurrently_for_a_new_referral_are_all_projected(pool):
    await db.migrate(pool, MIGRATIONS)
    for attempt in range(10):  # a race: give it several chances to show
        referral_id = f"ref_race_{attempt}"

        async def apply(payload: events.Payload) -> None:
            env = build(payload, source="/test", correlation_id="c", partner_id="p1")
            async with pool.acquire() as conn, conn.transaction():
                # As the consumer applies it: by its newest type's handler (a v1 placement has none).
                await HANDLERS[latest_type(env.type)](Deps.of("outcomes").bind(conn), env, payload_of(env))

        await asyncio.gather(*(apply(p) for p in lifecycle(referral_id)))
        row = await pool.fetchrow("SELECT facts, stages, status FROM referral_facts WHERE referral_id = $1", referral_id)
        assert row["stages"] == ["referred", "routed", "acknowledged", "interviewed", "offered", "placed"]
        assert row["status"] == "hired" and len(row["facts"]) == 6


# --- a referral another transaction holds (three topics, three consume loops) ---------------


def _history(ref: str, steps: int = 6) -> list[Envelope]:
    return [build(p, source="/test", correlation_id="c", time=T0 + timedelta(hours=i))
            for i, p in enumerate(lifecycle(ref)[:steps])]


async def _backend(pool, pid: int):  # type: ignore[no-untyped-def]
    """What a backend waits for, and its advisory locks (granted, waiting) and ledger lock."""
    return await pool.fetchrow(
        "SELECT a.wait_event_type,"
        " (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted) AS granted,"
        " (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND NOT l.granted)"
        "   AS waiting,"
        " EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation = 'ledger'::regclass"
        "   AND l.mode = 'RowExclusiveLock') AS wrote_ledger"
        " FROM pg_stat_activity a WHERE a.pid = $1", pid)


async def _while_held(pool, held: list[Envelope], batches: list[list[Envelope]], check) -> None:  # type: ignore[no-untyped-def]
    """One transaction applies `held` and stays open; `batches` run meanwhile, each in its own
    transaction, started in order once the one before waits; `check` gets their backend pids
    before the first transaction commits. Then every batch must finish."""
    await db.migrate(pool, MIGRATIONS)
    deps, ingest = Deps.of("outcomes"), batch_handler(live=True)
    async with pool.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        await ingest(deps.bind(holder), [(e, payload_of(e)) for e in held])
        pids: list[int] = []
        tasks = []
        for batch in batches:
            started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

            async def run(batch: list[Envelope] = batch, started: asyncio.Future[int] = started) -> None:
                async with pool.acquire() as conn, conn.transaction():
                    started.set_result(conn.get_server_pid())
                    await ingest(deps.bind(conn), [(e, payload_of(e)) for e in batch])

            tasks.append(asyncio.create_task(run()))
            pids.append(await started)

            async def waits(pid: int = pids[-1]):  # type: ignore[no-untyped-def]
                state = await _backend(pool, pid)
                return state if state["waiting"] else None

            await until("the batch waits for a lock", waits, timeout=20, every=0.05)
        try:
            await check(pids)
            assert not any(t.done() for t in tasks)
        finally:
            await tx.commit()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def test_a_batch_applies_the_referrals_locked_before_the_held_one_then_waits_for_it(pool, monkeypatch):
    """ref_m is held: the batch locks ref_a, applies its events, waits for ref_m (not taking
    ref_z, after it in the order), and once ref_m is free applies the rest; nothing is lost."""
    monkeypatch.setattr(application, "STEP_MIN_REFERRALS", 1)
    held = _history("ref_m")

    async def check(pids: list[int]) -> None:
        state = await _backend(pool, pids[0])
        assert state["wait_event_type"] == "Lock" and (state["granted"], state["waiting"]) == (1, 1)
        assert state["wrote_ledger"]  # ref_a's events, before waiting

    batch = _history("ref_a", 2) + held[2:3] + _history("ref_z", 2)  # ref_m's acknowledgement
    await _while_held(pool, held[:2], [batch], check)
    rows = {r["referral_id"]: r for r in await pool.fetch("SELECT referral_id, facts, status FROM referral_facts")}
    assert {ref: rows[ref]["status"] for ref in rows} == {"ref_a": "in_review", "ref_m": "in_review",
                                                         "ref_z": "in_review"}
    assert "acknowledged" in rows["ref_m"]["facts"]
    assert await pool.fetchval("SELECT count(*) FROM ledger") == 7


async def test_batches_waiting_in_a_chain_for_each_others_referrals_never_deadlock(pool):
    """Held ref_m; batch 1 (ref_a, ref_m) takes ref_a and waits for ref_m; batch 2 (ref_a,
    ref_z) waits for ref_a holding nothing (ref_z comes after it); without one lock order
    batch 2 could hold ref_z and a third wait for both. All end, no deadlock detected."""
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    before = await pool.fetchval(deadlocks)
    a, m, z = _history("ref_a"), _history("ref_m"), _history("ref_z")

    async def check(pids: list[int]) -> None:
        first, second = [await _backend(pool, pid) for pid in pids]
        assert (first["granted"], first["waiting"]) == (1, 1)
        assert (second["granted"], second["waiting"]) == (0, 1)

    await _while_held(pool, m[:1], [a[:3] + m[1:], a[3:] + z], check)
    rows = {r["referral_id"]: r["status"] for r in await pool.fetch("SELECT referral_id, status FROM referral_facts")}
    assert rows == {"ref_a": "hired", "ref_m": "hired", "ref_z": "hired"}
    assert await pool.fetchval("SELECT count(*) FROM ledger") == 18
    assert await pool.fetchval(deadlocks) == before


# --- the compact path (store.project_appended) against the ledger path (store.reproject_many) ---


HASHED_FACTS = ("referral_id, partner_id, employer_id, facts, scoped_facts::text, stages, status, anomalies, attempt,"
                " exit, record::text, partner_detail::text, candidate_id, demographics_sealed::text")


async def facts_table(pool) -> list[dict]:  # type: ignore[no-untyped-def]
    return [dict(r) for r in await pool.fetch(f"SELECT {HASHED_FACTS} FROM referral_facts ORDER BY referral_id")]


def odd_events(ref: str) -> list[Envelope]:
    """Events the compact form cannot take as they are: two retention check-ins of the same
    time and type (their order then looks at their whole data), and a placement whose
    hours jsonb gives back as another number (1e-07 comes back as 0.0000001)."""
    ids = {"referral_id": ref, "employer_id": "emp1", "opening_id": "opn1"}
    at = T0 + timedelta(days=200)
    placement = events.PlacementReportedV1.model_validate({**ids, **PLACEMENT, "hours_per_week": 1e-7, "benefits": {}})
    return [
        build(submitted(ref, "python", cand=f"cand_{ref}"), source="/test", correlation_id="c", time=T0),
        build(routed(ref, cand=f"cand_{ref}"), source="/test", correlation_id="c", time=T0 + timedelta(hours=1)),
        build(placement, source="/test", correlation_id="c", time=T0 + timedelta(days=20)),
        *(build(events.RetentionCheckedV1(**ids, milestone_days=days, still_employed=still, checked_on=date(2027, 5, 1)),
                source="/test", correlation_id="c", time=at) for days, still in ((90, True), (180, False))),
    ]


async def test_projections_folded_from_compact_events_equal_those_derived_from_the_ledger(pool, monkeypatch):
    """Batches of a shuffled history (every event type of the benchmark's lifecycle, events
    arriving twice, referrals whose compact form is not exact, and rows projected before
    compact events were kept) give the projections `reproject_many` derives from the ledger."""
    await db.migrate(pool, MIGRATIONS)
    stream = [Envelope.from_bytes(value) for _, _, value in make_stream(11, 40).records]
    stream = [e for e in stream if not e.type.startswith("opening.")] + odd_events("ref_odd")
    rng = random.Random(3)
    shuffled = rng.sample(stream, len(stream)) + rng.sample(stream, 30)
    ingest = batch_handler(live=True)
    read_back: list[str] = []
    ledger_events = store.ledger_events

    async def counted(conn, referral_ids):  # type: ignore[no-untyped-def]
        read_back.extend(referral_ids)
        return await ledger_events(conn, referral_ids)

    monkeypatch.setattr(store, "ledger_events", counted)
    start, forgotten = 0, False
    while start < len(shuffled):
        size = rng.randint(1, 60)
        async with pool.acquire() as conn, conn.transaction():
            batch = shuffled[start:start + size]
            await ingest(Deps.of("outcomes").bind(conn), [(e, payload_of(e)) for e in batch])
        start += size
        if not forgotten and start > len(shuffled) // 2:  # as if projected before migration 006 (or by a rebuild)
            forgotten = True
            await pool.execute("DELETE FROM referral_inputs WHERE referral_id LIKE 'bench-ref-00000%'")
            assert await pool.execute(
                "UPDATE referral_facts SET inputs_complete = false WHERE referral_id LIKE 'bench-ref-00000%'")
    assert forgotten
    monkeypatch.undo()
    # Read from the ledger: the referral whose compact form is not exact (each time it is
    # touched) and forgotten ones (once); no other.
    assert "ref_odd" in read_back and set(read_back) - {"ref_odd"} <= {r for r in read_back if r.startswith("bench-ref-00000")}
    assert len(read_back) < len(shuffled) // 10
    folded = await facts_table(pool)
    assert len(folded) == 41 and all(r["partner_id"] for r in folded)
    odd = next(r for r in folded if r["referral_id"] == "ref_odd")
    assert odd["status"] == "closed" and '"hours_per_week": 0.0000001' in odd["record"]

    stored = {r["referral_id"]: r["inputs"] for r in await pool.fetch(
        "SELECT referral_id, CASE WHEN inputs_complete THEN (SELECT '[' || string_agg(input, ',') || ']'"
        " FROM referral_inputs i WHERE i.referral_id = f.referral_id) END AS inputs FROM referral_facts f")}
    async with pool.acquire() as conn, conn.transaction():
        from_ledger = await store.ledger_events(conn, sorted(stored))
        await store.reproject_many(conn, sorted(stored))
    assert await facts_table(pool) == folded
    refilled = [rid for rid in stored if rid.startswith("bench-ref-00000") and stored[rid] is not None]
    assert refilled  # a forgotten referral touched again is read from the ledger and kept again
    for rid, found in from_ledger.items():  # the compact events kept are the ledger's, each once
        if stored[rid] is None:
            assert rid.startswith("bench-ref-00000")  # forgotten, and not touched since
            continue
        kept = projection.load_inputs(stored[rid])
        def key(e: projection.LedgerEvent) -> str:
            return json.dumps([e.event_type, e.occurred_at.isoformat(), e.employer_id, e.partner_id, e.data], sort_keys=True)

        assert sorted(map(key, kept)) == sorted(key(projection.compact(e)) for e in found), rid


async def test_status_changes_of_a_batch_reach_the_partners_webhooks_as_one_by_one(pool):
    """The batch queues, per status change, the webhook deliveries `webhooks.enqueue` would."""
    await db.migrate(pool, MIGRATIONS)
    box = webhooks.SecretBox(os.urandom(32))
    async with pool.acquire() as conn:
        await webhooks.create_endpoint(conn, box, "partner:p1", "https://p1.example/hook", [])
        await webhooks.create_endpoint(conn, box, "partner:p1", "https://p1.example/only-other", ["other.type.v1"])
        await webhooks.create_endpoint(conn, box, "partner:p2", "https://p2.example/hook", [])
    history = [build(p, source="/test", correlation_id="c", time=T0 + timedelta(hours=i))
               for ref in ("ref_w1", "ref_w2") for i, p in enumerate(lifecycle(ref)[:4])]
    # A partner without an endpoint is told through the outbox only.
    history += [build(p.model_copy(update={"partner_id": "p3"}) if hasattr(p, "partner_id") else p,
                      source="/test", correlation_id="c", time=T0 + timedelta(hours=i))
                for i, p in enumerate(lifecycle("ref_w3")[:2])]
    async with pool.acquire() as conn, conn.transaction():
        await batch_handler(live=True)(Deps.of("outcomes").bind(conn), [(e, payload_of(e)) for e in history])

    rows = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.partner-status' ORDER BY id")
    told = [Envelope.from_bytes(r["value"]) for r in rows]
    assert [(e.subject, e.data["status"], e.data["partner_id"]) for e in told] == [
        ("ref_w1", "interviewing", "p1"), ("ref_w2", "interviewing", "p1"), ("ref_w3", "in_review", "p3")]
    columns = "endpoint_id, owner, event_id, event_type, body"
    queued = [dict(r) for r in await pool.fetch(f"SELECT {columns} FROM webhook_deliveries ORDER BY event_id")]
    assert len(queued) == 2 and {r["owner"] for r in queued} == {"partner:p1"}
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("DELETE FROM webhook_deliveries")
        for e in told:
            await webhooks.enqueue(conn, f"partner:{e.data['partner_id']}", event_id=e.id, event_type=e.type,
                                   subject=e.subject, occurred_at=e.time, data=e.data)
        one_by_one = [dict(r) for r in await conn.fetch(f"SELECT {columns} FROM webhook_deliveries ORDER BY event_id")]
        await tx.rollback()
    assert queued == one_by_one


# --- the kept compact events held in memory (store.InputsCache) -----------------------------


class _Failed(Exception):
    """Raised inside a batch's transaction to roll it back after it wrote."""


def _history_with_an_erasure() -> list[Envelope]:
    """The benchmark's lifecycles of 30 referrals, shuffled, repeats included, with one
    candidate erased two thirds of the way."""
    stream = [Envelope.from_bytes(value) for _, _, value in make_stream(13, 30).records]
    stream = [e for e in stream if not e.type.startswith("opening.")] + odd_events("ref_odd")
    rng = random.Random(5)
    shuffled = rng.sample(stream, len(stream)) + rng.sample(stream, 20)
    first = next(e for e in stream if e.type.startswith("referral.submitted."))
    erasure = build(events.CandidateErasedV1(
        candidate_id=first.data["candidate_id"], referral_ids=[first.subject],
        requested_by=events.ErasureRequester.operator, erased_at=T0), source="/test", correlation_id="c")
    at = 2 * len(shuffled) // 3
    return [*shuffled[:at], erasure, *shuffled[at:]]


async def _apply_history(pool, history: list[Envelope], caches: list[store.InputsCache], monkeypatch,  # type: ignore[no-untyped-def]
                         fail_every: int = 0) -> dict:
    """`history` in batches of a fixed random size, batch i with `caches[i % len]` as the
    process's cache (one per instance); with `fail_every`, every such batch is first applied
    in a transaction that rolls back after writing. Returns what the tables then hold."""
    await pool.execute("TRUNCATE ledger, referral_facts, referral_inputs, erased_referrals, outbox, inbox")
    rng = random.Random(8)
    ingest = batch_handler(live=True)
    start, i = 0, 0
    while start < len(history):
        batch = history[start:start + rng.randint(1, 40)]
        monkeypatch.setattr(store, "INPUTS", caches[i % len(caches)])
        if fail_every and i % fail_every == fail_every - 1:
            with pytest.raises(_Failed):
                async with pool.acquire() as conn, conn.transaction():
                    await ingest(Deps.of("outcomes").bind(conn), [(e, payload_of(e)) for e in batch])
                    raise _Failed
        async with pool.acquire() as conn, conn.transaction():
            await ingest(Deps.of("outcomes").bind(conn), [(e, payload_of(e)) for e in batch])
        start += len(batch)
        i += 1
    monkeypatch.undo()
    told = await pool.fetch("SELECT value FROM outbox WHERE topic = 'talentloop.partner-status' ORDER BY id")
    kept = await pool.fetch("SELECT referral_id, input FROM referral_inputs ORDER BY referral_id, input")
    return {
        "facts": await facts_table(pool),
        "told": [{k: v for k, v in Envelope.from_bytes(r["value"]).data.items()} for r in told],
        "kept": [(r["referral_id"], projection.load_inputs("[" + r["input"] + "]")[0]) for r in kept],
        "complete": await pool.fetchval("SELECT count(*) FROM referral_facts WHERE inputs_complete"),
    }


async def test_kept_events_held_in_memory_give_what_reading_them_back_gives(pool, monkeypatch):
    """The same history applied with no cache (every batch reads the kept events back), with
    one, with two instances' caches taking turns (each finds the other's writes by their
    version), with a cache too small to hold them all, and with batches that wrote and rolled
    back first (their versions never committed): the same projections, the same status
    changes told, the same kept events."""
    await db.migrate(pool, MIGRATIONS)
    history = _history_with_an_erasure()
    plain = await _apply_history(pool, history, [store.InputsCache(max_chars=0)], monkeypatch)
    assert plain["complete"] > 25 and len(plain["told"]) > 30
    assert any(r["candidate_id"] == "erased" for r in plain["facts"])

    one = store.InputsCache()
    assert await _apply_history(pool, history, [one], monkeypatch) == plain
    assert one.hits > 50
    # What the cache holds of a referral is what `known` would read back from its row.
    rows = await pool.fetch(
        "SELECT f.referral_id, f.inputs_version, array_agg(i.input) AS inputs FROM referral_facts f"
        " JOIN referral_inputs i USING (referral_id) WHERE f.inputs_complete GROUP BY 1, 2")
    held = [(one.inputs(r["referral_id"], r["inputs_version"]), r["inputs"]) for r in rows]
    assert sum(text is not None for text, _ in held) > 20
    for text, inputs in held:
        if text is not None:
            assert sorted(map(to_json, from_json(text))) == sorted(to_json(from_json(i)) for i in inputs)

    a, b = store.InputsCache(), store.InputsCache()
    assert await _apply_history(pool, history, [a, b], monkeypatch) == plain
    assert a.hits and a.misses and b.hits and b.misses

    small = store.InputsCache(max_chars=6_000)  # a few referrals' events
    assert await _apply_history(pool, history, [small], monkeypatch) == plain
    assert 0 < small.hits < one.hits and small.chars <= 6_000

    rolled = store.InputsCache()
    assert await _apply_history(pool, history, [rolled], monkeypatch, fail_every=3) == plain
    assert rolled.hits


def test_the_cache_forgets_the_least_recently_used_referrals_and_keeps_its_bound():
    e = projection.LedgerEvent("referral.submitted.v2", T0, None, {})
    two, one = projection.dump_inputs([e, e]), projection.dump_inputs([e])
    cache = store.InputsCache(max_chars=2 * len(two) + len(one))
    cache.put("r1", 1, two)
    cache.put("r2", 2, two)
    assert cache.inputs("r1", 1) == two  # r1 now the most recently used
    assert cache.inputs("r1", 7) is None  # another version: not this entry
    cache.put("r3", 3, two)
    assert cache.version("r2") is None and cache.version("r1") == 1 and cache.version("r3") == 3
    assert cache.chars == 2 * len(two)
    cache.put("r1", 4, one)
    assert cache.inputs("r1", 1) is None and cache.inputs("r1", 4) == one
    assert cache.chars == len(two) + len(one)
    cache.put("big", 5, projection.dump_inputs([e] * 6))  # more than it may hold at all
    assert cache.version("big") is None and len(cache) == 2
    cache.drop("r3")
    assert cache.chars == len(one) and len(cache) == 1
    assert len({store.new_version() for _ in range(1000)}) == 1000
    assert all(0 < store.new_version() < 2**63 for _ in range(100))
