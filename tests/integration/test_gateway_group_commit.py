"""Employers' concurrent actions committed in groups (services/employer_gateway/grouped.py), on
real PostgreSQL: each request still gets its own answer, refusal or failure; the actions of a
group share one transaction; Idempotency-Key claims, replays and releases hold as for a
request alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from contracts import Envelope
from contracts.events import InterviewMode
from plumbing.auth import Principal
from plumbing.consumer import EventConsumer
from plumbing.context import Deps
from plumbing.problems import Problem
from services.employer_gateway import application
from services.employer_gateway.app import DEFINITION as GATEWAY
from services.employer_gateway.grouped import ActionGroups
from tests.integration.test_gateway_lifecycle import employer_events
from tests.integration.test_gateway_openings import gateway_pool  # noqa: F401  (fixture)
from tests.integration.test_withdraw_update_erase import deliver, gateway_app, routed
from tests.support.queries import noting_queries

pytestmark = pytest.mark.integration


@pytest.fixture
def consumer(gateway_pool: asyncpg.Pool) -> EventConsumer:  # noqa: F811
    return EventConsumer(GATEWAY.name, gateway_pool, None, handlers=GATEWAY.handlers)  # type: ignore[arg-type]


async def routed_referrals(consumer: EventConsumer, n: int) -> list[str]:
    ids = [f"ref_{uuid.uuid4().hex[:8]}" for _ in range(n)]
    for r_id in ids:
        await deliver(consumer, routed(r_id, cand=f"cand_{r_id}"))
    return ids


async def test_concurrent_actions_share_transactions_and_each_gets_its_own_answer(gateway_pool, consumer):  # noqa: F811
    ids = await routed_referrals(consumer, 40)
    async with gateway_app(gateway_pool) as http:
        assert (await http.post(f"/v1/referrals/{ids[0]}/acknowledge")).status_code == 200  # acknowledged already
        calls = [http.post(f"/v1/referrals/{r}/acknowledge", headers={"Idempotency-Key": f"k-{r}"}) for r in ids[1:]]
        calls += [
            http.post(f"/v1/referrals/{ids[0]}/acknowledge", headers={"Idempotency-Key": f"again-{i}"})
            for i in range(3)
        ]
        calls += [http.post(f"/v1/referrals/ref_nobody_{i}/acknowledge") for i in range(3)]
        answers = await asyncio.gather(*calls)

        ok, again, missing = answers[:39], answers[39:42], answers[42:]
        assert [a.status_code for a in ok] == [200] * 39
        assert [a.json()["referral_id"] for a in ok] == ids[1:]  # each its own, in its own order
        assert {a.json()["state"] for a in ok} == {"acknowledged"}
        assert [(a.status_code, a.json()["current_state"]) for a in again] == [(409, "acknowledged")] * 3
        assert [a.status_code for a in missing] == [404] * 3

        # One event per action that succeeded, each the one its answer names.
        events = {str(e.id): e for e in await employer_events(gateway_pool)}
        assert len(events) == 40
        assert all(events[a.json()["event"]["id"]].subject == a.json()["referral_id"] for a in ok)
        # Fewer transactions than actions: the referrals' rows were written by shared ones.
        writers = await gateway_pool.fetchval(
            "SELECT count(DISTINCT xmin::text) FROM referrals WHERE referral_id = ANY($1)", ids[1:]
        )
        assert writers < 39

        # A replay answers from the stored response; a refused request's key was released
        # (its retry is refused again, not replayed).
        replay = await http.post(f"/v1/referrals/{ids[1]}/acknowledge", headers={"Idempotency-Key": f"k-{ids[1]}"})
        assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == ok[0].json()
        retried = await http.post(f"/v1/referrals/{ids[0]}/acknowledge", headers={"Idempotency-Key": "again-0"})
        assert retried.status_code == 409 and "Idempotent-Replayed" not in retried.headers
        assert len(await employer_events(gateway_pool)) == 40


async def test_an_action_that_fails_fails_alone_and_releases_its_key(gateway_pool, consumer):  # noqa: F811
    ids = await routed_referrals(consumer, 12)
    groups = ActionGroups(gateway_pool, Deps.of(GATEWAY.name), window_s=0.05)
    who = Principal("employer", "emp1")
    bad = ids[5]

    def decide(referral):  # type: ignore[no-untyped-def]
        if referral.referral_id == bad:
            raise RuntimeError("the database would refuse this one")
        return referral.acknowledge()

    results = await asyncio.gather(
        *[groups.act(who, r, decide, "test", status=200, key=f"k-{r}", payload={"r": r}) for r in ids],
        return_exceptions=True,
    )
    assert isinstance(results[5], RuntimeError)
    assert all(not isinstance(a, Exception) and a.status == 200 for i, a in enumerate(results) if i != 5)
    states = dict(await gateway_pool.fetch("SELECT referral_id, state FROM referrals WHERE referral_id = ANY($1)", ids))
    assert states == {r: "routed" if r == bad else "acknowledged" for r in ids}
    keys = {
        r["key"]: r["status_code"] for r in await gateway_pool.fetch("SELECT key, status_code FROM idempotency_keys")
    }
    assert keys == {f"k-{r}": 200 for r in ids if r != bad}  # the failed one's released, the others' answered
    assert len(await employer_events(gateway_pool)) == 11
    # Its retry goes through.
    retry = await groups.act(
        who, bad, lambda r: r.acknowledge(), "test", status=200, key=f"k-{bad}", payload={"r": bad}
    )
    assert retry.status == 200 and retry.body["state"] == "acknowledged"


async def test_actions_on_one_referral_in_one_group_apply_one_after_the_other(gateway_pool, consumer):  # noqa: F811
    (r_id,) = await routed_referrals(consumer, 1)
    groups = ActionGroups(gateway_pool, Deps.of(GATEWAY.name), window_s=0.05)
    who = Principal("employer", "emp1")
    when = datetime(2027, 1, 5, 15, tzinfo=UTC)

    def act(decide, n):  # type: ignore[no-untyped-def]
        return groups.act(who, r_id, decide, "test", status=200, key=None, payload={"n": n})

    results = await asyncio.gather(
        act(lambda r: r.acknowledge(), 1),
        act(lambda r: r.schedule_interview("int_1", when, InterviewMode.video), 2),
        act(lambda r: r.acknowledge(), 3),
        return_exceptions=True,
    )
    # Each answer shows the state right after its own action; the third saw the second's.
    assert [a.body["state"] for a in results[:2]] == ["acknowledged", "interviewing"]  # type: ignore[union-attr]
    assert isinstance(results[2], Problem) and results[2].status == 409
    assert results[2].extra["current_state"] == "interviewing"
    row = await gateway_pool.fetchrow("SELECT state, xmin::text AS tx FROM referrals WHERE referral_id = $1", r_id)
    assert row["state"] == "interviewing"
    interview = await gateway_pool.fetchrow(
        "SELECT xmin::text AS tx, mode FROM interviews WHERE referral_id = $1", r_id
    )
    assert interview["mode"] == "video" and interview["tx"] == row["tx"]  # one transaction stored both
    assert [e.type for e in await employer_events(gateway_pool)] == [
        "referral.acknowledged.v1",
        "interview.scheduled.v1",
    ]


async def test_a_groups_events_are_one_outbox_statement_each_with_its_requests_trace(
    gateway_pool,  # noqa: F811
    consumer,
    monkeypatch,
):
    ids = await routed_referrals(consumer, 5)
    groups = ActionGroups(gateway_pool, Deps.of(GATEWAY.name), window_s=0.05, connections=1)
    who = Principal("employer", "emp1")
    outbox_inserts: list[str] = []
    monkeypatch.setattr(
        application, "act_many", noting_queries(application.act_many, "INSERT INTO outbox", outbox_inserts)
    )
    when = datetime(2027, 1, 5, 15, tzinfo=UTC)

    async def traced(n: int, r_id: str, decide):  # type: ignore[no-untyped-def]
        """The action as a request in its own trace (n > 0), or in none (n == 0)."""
        token = None
        if n:
            state = TraceState([("k", f"v{n}")]) if n % 2 else None
            span = NonRecordingSpan(SpanContext(n, n, is_remote=True, trace_flags=TraceFlags(1), trace_state=state))
            token = otel_context.attach(trace.set_span_in_context(span))
        try:
            return await groups.act(who, r_id, decide, f"corr-{n}", status=200, key=None, payload={"n": n})
        finally:
            if token is not None:
                otel_context.detach(token)

    acknowledge = lambda r: r.acknowledge()  # noqa: E731
    interview = lambda r: r.schedule_interview("int_1", when, InterviewMode.video)  # noqa: E731
    results = await asyncio.gather(
        *(traced(n, r_id, acknowledge) for n, r_id in enumerate(ids[:4], start=1)),
        traced(5, ids[0], interview),  # the same referral again, after its acknowledgement
        traced(6, "ref_nobody", acknowledge),  # refused: 404, no event
        traced(0, ids[4], acknowledge),  # no trace of its own: the one current at the write (none here)
        return_exceptions=True,
    )
    assert isinstance(results[5], Problem) and results[5].status == 404
    states = [a.body["state"] for a in results if not isinstance(a, Exception)]  # type: ignore[union-attr]
    assert states == ["acknowledged"] * 4 + ["interviewing", "acknowledged"]
    assert len(outbox_inserts) == 1  # one group, one outbox statement

    rows = await gateway_pool.fetch(
        "SELECT key, value, traceparent, tracestate FROM outbox WHERE topic = 'talentloop.employer-actions' ORDER BY id"
    )
    expected = {n: (f"00-{n:032x}-{n:016x}-01", f"k=v{n}" if n % 2 else None) for n in range(1, 6)}
    assert [(Envelope.from_bytes(r["value"]).correlationid, (r["traceparent"], r["tracestate"])) for r in rows] == [
        *((f"corr-{n}", expected[n]) for n in range(1, 6)),
        ("corr-0", (None, None)),
    ]
    # Per referral in the order of its actions, the answer naming its own event.
    assert [r["key"] for r in rows] == [*ids[:4], ids[0], ids[4]]
    events = [str(Envelope.from_bytes(r["value"]).id) for r in rows]
    assert [a.body["event"]["id"] for a in results if not isinstance(a, Exception)] == events  # type: ignore[union-attr]
