"""Group commit: concurrent HTTP requests share one transaction and one commit.

Alone, a request that changes state pays its Idempotency-Key claim's commit and then a
transaction of its own (a handful of statement round trips and a WAL flush at commit), so a
service answered about as many requests per second as it could commit transactions. Here
each request queues its work and waits; a flush takes what arrived within `window_s` (or
everything that queued while earlier flushes held the connections), claims the group's keys
in one transaction, applies the work with the service's `apply_many` in one transaction,
stores the answers in one statement, and answers each request from its own result.

What a request alone would get, it still gets:

- its own answer, or its own refusal (a `Problem` that `apply_many` returns for it: 404,
  409), in the order the requests queued (a later request of the group sees what an
  earlier one did);
- isolation: work the database refuses fails alone: the group, first applied whole without a
  savepoint (the usual case: two statements fewer), is rolled back and applied again in
  halves, each in a savepoint, down to that request, and the others commit;
- `Idempotency-Key` as `plumbing.idempotency.run_once` does it: each key claimed before the
  work by a committed statement (a concurrent request with the key sees it), a replay
  answered from the stored response, the answers stored in the transaction of the work,
  and the key of a request that did not succeed released for a retry;
- a deadline: a group's transaction ends well before a claimed key could expire.

If the group's transaction fails as a whole (a fault, its commit), every request of it gets
that failure (nothing of the group is in), refusals included: they were judged against
state that is not there any more. Used by intake (`POST /v1/referrals`, the partner webhook)
and the employer gateway (employers' actions on referrals).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from plumbing import idempotency
from plumbing.auth import Principal
from plumbing.logging import get_logger
from plumbing.problems import Problem

log = get_logger(__name__)

Work = TypeVar("Work")

# A group's transaction ends well before a key it claimed could expire (a claim left in
# progress is taken over by a retry after IN_FLIGHT_EXPIRY_S, which would then act again).
GROUP_DEADLINE_S = 30.0
assert GROUP_DEADLINE_S < idempotency.IN_FLIGHT_EXPIRY_S

STORE_ANSWERS = """
UPDATE idempotency_keys AS k SET status_code = a.status, response = a.response::jsonb
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS a (principal, key, status, response)
WHERE k.principal = a.principal AND k.key = a.key
"""
RELEASE = """
DELETE FROM idempotency_keys AS k USING unnest($1::text[], $2::text[]) AS r (principal, key)
WHERE k.principal = r.principal AND k.key = r.key
"""


# The connection is gone: applying the group again, or in halves, would not help.
_CONNECTION_GONE = (asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError, OSError)


class _Refused(Exception):
    """A group's work failed as a whole (its transaction then rolled back); the cause is chained."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False  # from the stored response of an earlier request with the key


# Applies the work of several requests, in order, in the caller's transaction: for each, its
# answer or its refusal (an Exception, usually a Problem, that leaves nothing behind). Raises
# when the work cannot be applied at all (the group is then halved).
ApplyMany = Callable[[asyncpg.Connection, list[Work]], Awaitable[list[Answer | Exception]]]


@dataclass
class _Request(Generic[Work]):
    who: Principal
    work: Work
    key: str | None
    digest: str | None
    answered: asyncio.Future[Answer]
    claimed: bool = False
    result: Answer | Exception | None = None


@dataclass
class GroupCommit(Generic[Work]):
    """The queue of one kind of request, and the flushes that apply it."""

    pool: asyncpg.Pool
    apply_many: ApplyMany[Work]
    name: str  # for logs
    window_s: float = 0.003  # how long the first request of a group waits for company
    max_group: int = 500
    connections: int = 2  # flushes at once: while one commits, the next one runs
    _queue: list[_Request[Work]] = field(default_factory=list)
    _collecting: bool = False  # a flush is waiting to take the queue
    _slots: asyncio.Semaphore | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def submit(self, who: Principal, work: Work, key: str | None, payload: Any) -> Answer:
        """This request's answer, or raises its refusal (a Problem) or its fault.

        `payload` is what the Idempotency-Key's fingerprint covers (the request body)."""
        if key is not None and not 1 <= len(key) <= 255:
            raise Problem(400, "bad-idempotency-key", "Idempotency-Key must be 1 to 255 characters")
        digest = idempotency.fingerprint(payload) if key is not None else None
        request = _Request(who, work, key, digest, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        if not self._collecting:
            self._start_collecting()
        # Shielded: a client that goes away does not cancel its neighbours' work.
        return await asyncio.shield(request.answered)

    def _start_collecting(self) -> None:
        self._collecting = True
        task = asyncio.create_task(self._flush_next(), name=f"{self.name}-group-commit")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_next(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.connections)
        group: list[_Request[Work]] = []
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
                _fail(r, exc if isinstance(exc, Exception) else RuntimeError(f"{self.name} is stopping"))
            if not isinstance(exc, Exception):
                raise
            log.warning("group_commit.failed", group=self.name, error=type(exc).__name__, requests=len(group))

    async def _flush(self, group: list[_Request[Work]]) -> None:
        work: list[_Request[Work]] = []
        async with self.pool.acquire() as conn:
            keyed = [r for r in group if r.key is not None]
            if keyed:
                await self._claim(conn, keyed)
            work = [r for r in group if r.key is None or r.claimed]
            if work:
                try:
                    async with asyncio.timeout(GROUP_DEADLINE_S):
                        try:
                            async with conn.transaction():
                                await self._apply_whole(conn, work)
                                await self._store_answers(conn, work)
                        except _Refused as refused:  # rolled back
                            if len(work) == 1:
                                self._refused(work[0], refused.__cause__)
                            else:  # again in halves, down to the request refused
                                async with conn.transaction():
                                    await self._apply(conn, work)
                                    await self._store_answers(conn, work)
                except Exception as exc:  # the transaction or its commit failed: none of it is in
                    for r in work:
                        r.result = exc
                unsuccessful = [r for r in work if r.claimed and not isinstance(r.result, Answer)]
                if unsuccessful:  # released, so each can be retried
                    await conn.execute(RELEASE, [r.who.ref for r in unsuccessful], [r.key for r in unsuccessful])
        for r in work:
            if isinstance(r.result, Answer):
                _answer(r, r.result)
            else:
                _fail(r, r.result if isinstance(r.result, Exception) else RuntimeError("not applied"))

    async def _claim(self, conn: asyncpg.Connection, keyed: list[_Request[Work]]) -> None:
        """Claim each key as run_once does, the group's claims in one statement (committed
        before the work, so a concurrent request with a key sees it); answer the requests
        whose key is taken, replays included. A key repeated within the group is taken by
        its first request: the later ones get 409 (or 422 with another payload), as a
        concurrent request would."""
        first: dict[tuple[str, str], _Request[Work]] = {}
        for r in keyed:
            assert r.key is not None
            first.setdefault((r.who.ref, r.key), r)
        pairs = sorted(first)
        rows = await conn.fetch(
            idempotency.CLAIM_MANY,
            [principal for principal, _ in pairs],
            [key for _, key in pairs],
            [first[pair].digest for pair in pairs],
        )
        claimed = {(row["principal"], row["key"]) for row in rows}
        for pair, r in first.items():
            r.claimed = pair in claimed
        for r in keyed:
            if r.claimed:
                continue
            assert r.key is not None and r.digest is not None
            try:
                response = await idempotency.answered(conn, r.who, r.key, r.digest)
            except Exception as exc:  # noqa: BLE001 - the request's own answer (409, 422)
                _fail(r, exc)
            else:
                _answer(r, Answer(response.status_code, json.loads(response.body), replayed=True))

    async def _apply_whole(self, conn: asyncpg.Connection, work: list[_Request[Work]]) -> None:
        """All of `work`, without a savepoint (two statements a group fewer: the usual case);
        raises `_Refused` when the database refuses some of it, for `_apply` to find which."""
        try:
            results = await self.apply_many(conn, [r.work for r in work])
        except _CONNECTION_GONE:
            raise
        except Exception as exc:
            raise _Refused from exc
        for r, result in zip(work, results, strict=True):
            r.result = result

    async def _apply(self, conn: asyncpg.Connection, work: list[_Request[Work]]) -> None:
        """All of `work` in a savepoint; if it fails, halve until the failing request is alone."""
        try:
            async with conn.transaction():
                results = await self.apply_many(conn, [r.work for r in work])
        except _CONNECTION_GONE:
            raise  # halving would not help
        except Exception as exc:
            if len(work) == 1:
                self._refused(work[0], exc)
                return
            half = len(work) // 2
            await self._apply(conn, work[:half])
            await self._apply(conn, work[half:])
            return
        for r, result in zip(work, results, strict=True):
            r.result = result

    def _refused(self, r: _Request[Work], exc: BaseException | None) -> None:
        log.warning("group_commit.request_failed", group=self.name, error=type(exc).__name__)
        r.result = exc if isinstance(exc, Exception) else RuntimeError("not applied")

    @staticmethod
    async def _store_answers(conn: asyncpg.Connection, work: list[_Request[Work]]) -> None:
        """The answers of the claimed requests that succeeded, for their keys' replays."""
        done = [r for r in work if r.claimed and isinstance(r.result, Answer)]
        if done:
            answers = [r.result for r in done]
            await conn.execute(
                STORE_ANSWERS,
                [r.who.ref for r in done],
                [r.key for r in done],
                [a.status for a in answers],  # type: ignore[union-attr]
                [json.dumps(a.body, default=str) for a in answers],  # type: ignore[union-attr]
            )


def _answer(r: _Request[Any], answer: Answer) -> None:
    if not r.answered.done():
        r.answered.set_result(answer)


def _fail(r: _Request[Any], exc: BaseException) -> None:
    if not r.answered.done():
        r.answered.set_exception(exc)
