"""Group commit for employers' actions on referrals (acknowledge, decline, interviews, offers,
placement, retention, separation).

Alone, an action pays its Idempotency-Key claim's commit, then a transaction of its own
(BEGIN, the referral, its save, the outbox row, the stored answer, COMMIT) whose commit
flushes the WAL while holding PostgreSQL's notification lock (the outbox trigger's
`pg_notify`), so actions committed one at a time however many clients waited. Here
concurrent actions share that: each request queues its action and waits; a flush takes what
arrived within a few milliseconds (or everything that queued while earlier flushes held the
connections), claims the group's keys in one transaction, applies the actions with
`application.act_many` in one transaction (the referrals loaded in one statement and stored
in one, each event in the outbox), stores the answers in one statement, and answers each
request from its own result.

What a request alone would get, it still gets:

- its own answer: 200/201 with the referral's new state and event, or its own refusal
  (404, 409) from the domain, which leaves nothing behind;
- isolation: an action the database refuses fails alone: the group is retried in halves,
  each in a savepoint, down to that action, and the others commit;
- `Idempotency-Key` as `plumbing.idempotency.run_once` does it: each key claimed by a
  statement committed before the work (a concurrent request with the key sees it), a replay
  answered from the stored response, the answers stored in the transaction of the actions,
  and the key of an action that did not succeed released for a retry;
- its trace: its event continues the request's trace context, not the group's.

A group locks its referrals in one statement, in one order (`store.load_many`), so two
groups that share referrals cannot deadlock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from opentelemetry import context as otel_context

from contracts import events
from plumbing import idempotency
from plumbing.auth import Principal
from plumbing.context import Context, Deps
from plumbing.logging import get_logger
from plumbing.problems import Problem, not_found
from services.employer_gateway import application, domain
from services.employer_gateway.domain import InvalidTransition, Referral

log = get_logger(__name__)

# A group's transaction ends well before a key it claimed could expire (plumbing/idempotency.py:
# a claim left in progress for 60 s is taken over by a retry, which would then act again).
GROUP_DEADLINE_S = 30.0
STORE_ANSWERS = """
UPDATE idempotency_keys AS k SET status_code = a.status, response = a.response::jsonb
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS a (principal, key, status, response)
WHERE k.principal = a.principal AND k.key = a.key
"""
RELEASE = """
DELETE FROM idempotency_keys AS k USING unnest($1::text[], $2::text[]) AS r (principal, key)
WHERE k.principal = r.principal AND k.key = r.key
"""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False  # from the stored response of an earlier request with the key


@dataclass
class _Request:
    who: Principal
    referral_id: str
    decide: Callable[[Referral], events.Payload]
    correlation_id: str
    status: int
    key: str | None
    digest: str | None
    trace: otel_context.Context
    answered: asyncio.Future[Answer]
    claimed: bool = False
    result: Answer | Exception | None = None  # a Problem (an Exception) when refused


def refused(exc: InvalidTransition) -> Problem:
    """A transition the lifecycle forbids, as the 409 problem naming the current state."""
    return Problem(409, "invalid-transition", "Transition not allowed", str(exc), current_state=exc.current.value)


def answer_of(acted: application.Acted, status: int) -> Answer:
    event = acted.event
    return Answer(status, {
        "referral_id": acted.referral.referral_id,
        "state": acted.state.value,
        "event": {"id": str(acted.envelope.id), "type": acted.envelope.type},
        **({"interview_id": event.interview_id} if isinstance(event, events.InterviewScheduledV1) else {}),
        **({"offer_id": event.offer_id} if isinstance(event, events.OfferExtendedV1) else {}),
    })


def _result(r: _Request, done: application.Acted | Exception) -> Answer | Exception:
    """The request's answer, or the domain's refusal as its problem."""
    if isinstance(done, application.NotFound):
        return not_found(done.what)
    if isinstance(done, InvalidTransition):
        return refused(done)
    if isinstance(done, domain.UnknownInterview):
        return not_found("interview")
    if isinstance(done, domain.UnknownOffer):
        return not_found("offer")
    if isinstance(done, Exception):
        return done
    return answer_of(done, r.status)


@dataclass
class ActionGroups:
    """The queue of employers' actions, and the flushes that apply it."""

    pool: asyncpg.Pool
    deps: Deps
    window_s: float = 0.002  # how long the first request of a group waits for company
    max_group: int = 200
    connections: int = 2  # flushes at once: while one commits, the next one runs
    _queue: list[_Request] = field(default_factory=list)
    _collecting: bool = False
    _slots: asyncio.Semaphore | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def act(
        self,
        who: Principal,
        referral_id: str,
        decide: Callable[[Referral], events.Payload],
        correlation_id: str,
        *,
        status: int,
        key: str | None,
        payload: Any,
    ) -> Answer:
        """This request's answer, or raises its Problem (404, 409, 422) or its fault."""
        if key is not None and not 1 <= len(key) <= 255:
            raise Problem(400, "bad-idempotency-key", "Idempotency-Key must be 1 to 255 characters")
        digest = idempotency.fingerprint(payload) if key is not None else None
        request = _Request(
            who, referral_id, decide, correlation_id, status, key, digest, otel_context.get_current(),
            asyncio.get_running_loop().create_future(),
        )
        self._queue.append(request)
        if not self._collecting:
            self._start_collecting()
        # Shielded: a client that goes away does not cancel its neighbours' work.
        return await asyncio.shield(request.answered)

    def _start_collecting(self) -> None:
        self._collecting = True
        task = asyncio.create_task(self._flush_next(), name="gateway-group-commit")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_next(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.connections)
        group: list[_Request] = []
        try:
            await asyncio.sleep(self.window_s)
            async with self._slots:
                # Taken when a connection is free: what queued meanwhile goes in one group.
                group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
                self._collecting = False
                if self._queue:
                    self._start_collecting()
                await self._flush(group)
        except BaseException as exc:  # never leave a request waiting
            for r in group:
                _fail(r, exc if isinstance(exc, Exception) else RuntimeError("the gateway is stopping"))
            if not isinstance(exc, Exception):
                raise
            log.warning("gateway.group_commit_failed", error=type(exc).__name__, requests=len(group))

    async def _flush(self, group: list[_Request]) -> None:
        work: list[_Request] = []
        async with self.pool.acquire() as conn:
            keyed = [r for r in group if r.key is not None]
            if keyed:
                await self._claim(conn, keyed)
            work = [r for r in group if r.key is None or r.claimed]
            if work:
                try:
                    async with asyncio.timeout(GROUP_DEADLINE_S), conn.transaction():
                        await self._apply(self.deps.bind(conn), work)
                        done = [r for r in work if r.claimed and isinstance(r.result, Answer)]
                        if done:
                            await conn.execute(
                                STORE_ANSWERS,
                                [r.who.ref for r in done],
                                [r.key for r in done],
                                [r.result.status for r in done],  # type: ignore[union-attr]
                                [json.dumps(r.result.body, default=str) for r in done],  # type: ignore[union-attr]
                            )
                except Exception as exc:  # the transaction or its commit failed: none of it is in
                    for r in work:
                        if not isinstance(r.result, Problem):  # a refusal stays what it was
                            r.result = exc
                unsuccessful = [r for r in work if r.claimed and not isinstance(r.result, Answer)]
                if unsuccessful:  # released, so each can be retried
                    await conn.execute(RELEASE, [r.who.ref for r in unsuccessful], [r.key for r in unsuccessful])
        for r in work:
            if isinstance(r.result, Answer):
                _answer(r, r.result)
            else:
                _fail(r, r.result if isinstance(r.result, Exception) else RuntimeError("not applied"))

    async def _claim(self, conn: asyncpg.Connection, keyed: list[_Request]) -> None:
        """Claim each key as run_once does, the group's claims in one transaction (one commit,
        before the work, so a concurrent request with a key sees it); answer the requests
        whose key is taken, replays included. A key repeated within the group is taken by its
        first request: the later ones get 409, as a concurrent request would."""
        async with conn.transaction():
            for r in keyed:
                assert r.key is not None and r.digest is not None
                r.claimed = bool(await conn.fetchval(idempotency.CLAIM, r.who.ref, r.key, r.digest))
        for r in keyed:
            if r.claimed:
                continue
            assert r.key is not None and r.digest is not None
            try:
                response = await idempotency._answered(conn, r.who, r.key, r.digest)  # noqa: SLF001
            except Exception as exc:  # noqa: BLE001 - the request's own answer (409, 422)
                _fail(r, exc)
            else:
                _answer(r, Answer(response.status_code, json.loads(response.body), replayed=True))

    async def _apply(self, ctx: Context, work: list[_Request]) -> None:
        """Every action in a savepoint; if one fails, halve until the failing one is alone."""
        actions = [
            application.Action(r.who.id, r.referral_id, r.decide, r.correlation_id, functools.partial(_traced, r.trace))
            for r in work
        ]
        try:
            async with ctx.conn.transaction():
                done = await application.act_many(ctx, actions)
            for r, d in zip(work, done, strict=True):
                r.result = _result(r, d)
        except (asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError, OSError):
            raise  # the connection is gone: halving would not help
        except Exception as exc:
            for r in work:
                r.result = None
            if len(work) == 1:
                log.warning("gateway.action_failed", error=type(exc).__name__)
                work[0].result = exc
                return
            half = len(work) // 2
            await self._apply(ctx, work[:half])
            await self._apply(ctx, work[half:])


@contextlib.contextmanager
def _traced(trace: otel_context.Context) -> Iterator[None]:
    """The outbox row keeps the trace current where it is written: make it the request's."""
    token = otel_context.attach(trace)
    try:
        yield
    finally:
        otel_context.detach(token)


def _answer(r: _Request, answer: Answer) -> None:
    if not r.answered.done():
        r.answered.set_result(answer)


def _fail(r: _Request, exc: BaseException) -> None:
    if not r.answered.done():
        r.answered.set_exception(exc)
