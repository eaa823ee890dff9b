"""Group commit for single referrals (`POST /v1/referrals`, the partner webhook).

A request alone pays about ten statement round trips and a flushed commit of its own, so a
busy intake answered some 30 requests/s whatever the machine. Here concurrent requests
share them: each request puts its submission in a queue and waits; a flush takes what
arrived within a few milliseconds (or everything that queued while earlier flushes held
the connections) and applies it with one `Intake.submit_all` in one transaction, then
answers each request from its own result.

What a request alone would get, it still gets:

- its own answer: 201 with its referral, or 409 naming the referral it duplicates (a
  later request of the same group sees an earlier one, as if it came later);
- isolation: a request whose submission fails (a value the database refuses, say) fails
  alone: the group is retried in halves, each in a savepoint, down to that request, and
  the others commit;
- `Idempotency-Key` as `plumbing.idempotency.run_once` does it: each key is claimed by a
  statement committed before the work (so a concurrent request with the key sees it), a
  replay answers from the stored response, the answers are stored in the same transaction
  as the referrals (one statement), and a key whose request did not succeed is released
  for a retry;
- its trace: its event continues the request's trace context, not the group's.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from plumbing import idempotency
from plumbing.auth import Principal
from plumbing.logging import get_logger
from plumbing.problems import Problem
from services.intake.application import Accepted, Duplicate, Intake, Submission

log = get_logger(__name__)

# A group's transaction ends well before a key it claimed could expire (plumbing/idempotency.py:
# a claim left in progress for 60 s is taken over by a retry, which would then submit again).
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
    submission: Submission
    key: str | None
    digest: str | None
    answered: asyncio.Future[Answer]
    claimed: bool = False
    result: Accepted | Duplicate | Exception | None = None


@dataclass
class GroupCommit:
    """The queue of single submissions, and the flushes that apply it."""

    pool: asyncpg.Pool
    intake: Intake
    window_s: float = 0.003  # how long the first request of a group waits for company
    max_group: int = 500
    connections: int = 2  # flushes at once: while one commits, the next one runs
    _queue: list[_Request] = field(default_factory=list)
    _collecting: bool = False  # a flush is waiting to take the queue
    _slots: asyncio.Semaphore | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def submit(self, who: Principal, submission: Submission, key: str | None, payload: Any) -> Answer:
        """This request's answer, or raises its Problem (409, 422) or its fault."""
        if key is not None and not 1 <= len(key) <= 255:
            raise Problem(400, "bad-idempotency-key", "Idempotency-Key must be 1 to 255 characters")
        digest = idempotency.fingerprint(payload) if key is not None else None
        request = _Request(who, submission, key, digest, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        if not self._collecting:
            self._start_collecting()
        # Shielded: a client that goes away does not cancel its neighbours' work.
        return await asyncio.shield(request.answered)

    def _start_collecting(self) -> None:
        self._collecting = True
        task = asyncio.create_task(self._flush_next(), name="intake-group-commit")
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
                _fail(r, exc if isinstance(exc, Exception) else RuntimeError("intake is stopping"))
            if not isinstance(exc, Exception):
                raise
            log.warning("intake.group_commit_failed", error=type(exc).__name__, requests=len(group))

    async def _flush(self, group: list[_Request]) -> None:
        async with self.pool.acquire() as conn:
            keyed = [r for r in group if r.key is not None]
            if keyed:
                await self._claim(conn, keyed)
            work = [r for r in group if r.key is None or r.claimed]
            if work:
                try:
                    async with asyncio.timeout(GROUP_DEADLINE_S), conn.transaction():
                        await self._apply(conn, work)
                        await self._store_answers(conn, [r for r in work if r.claimed and isinstance(r.result, Accepted)])
                except Exception as exc:  # the transaction or its commit failed: none of it is in
                    for r in work:
                        r.result = exc
                unsuccessful = [r for r in work if r.claimed and not isinstance(r.result, Accepted)]
                if unsuccessful:  # released, so each can be retried
                    await conn.execute(RELEASE, [r.who.ref for r in unsuccessful], [r.key for r in unsuccessful])
        for r in work:
            if isinstance(r.result, Exception):
                _fail(r, r.result)
            elif isinstance(r.result, Duplicate):
                _fail(r, _duplicate_problem(r.result))
            elif isinstance(r.result, Accepted):
                _answer(r, Answer(201, _accepted(r.result)))

    async def _claim(self, conn: asyncpg.Connection, keyed: list[_Request]) -> None:
        """Claim each key as run_once does (each claim commits at once, so a concurrent request
        with the key sees it); answer the requests whose key is taken, replays included. A key
        repeated within the group is taken by its first request: the later ones get 409."""
        for r in keyed:
            assert r.key is not None and r.digest is not None
            if await conn.fetchval(idempotency.CLAIM, r.who.ref, r.key, r.digest):
                r.claimed = True
                continue
            try:
                response = await idempotency._answered(conn, r.who, r.key, r.digest)  # noqa: SLF001
            except Exception as exc:
                _fail(r, exc)
            else:
                _answer(r, Answer(response.status_code, json.loads(response.body), replayed=True))

    async def _apply(self, conn: asyncpg.Connection, work: list[_Request]) -> None:
        """Submit in a savepoint; if it fails, halve until the failing request is alone."""
        try:
            async with conn.transaction():
                results = await self.intake.submit_all(conn, [r.submission for r in work])
        except (asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError, OSError):
            raise  # the connection is gone: halving would not help
        except Exception as exc:
            if len(work) == 1:
                log.warning("intake.submit_failed", error=type(exc).__name__)
                work[0].result = exc
                return
            half = len(work) // 2
            await self._apply(conn, work[:half])
            await self._apply(conn, work[half:])
            return
        for r, result in zip(work, results, strict=True):
            r.result = result

    @staticmethod
    async def _store_answers(conn: asyncpg.Connection, accepted: list[_Request]) -> None:
        if accepted:
            await conn.execute(
                STORE_ANSWERS,
                [r.who.ref for r in accepted],
                [r.key for r in accepted],
                [201] * len(accepted),
                [json.dumps(_accepted(r.result), default=str) for r in accepted],  # type: ignore[arg-type]
            )


def _accepted(result: Accepted) -> dict[str, Any]:
    return {
        "referral_id": result.referral_id,
        "candidate_id": result.candidate_id,
        "status": "submitted",
        "unknown_skills": result.unknown_skills,
    }


def _duplicate_problem(result: Duplicate) -> Problem:
    problem = Problem(
        409, result.code, "Duplicate referral", result.message, existing_referral_id=result.existing_referral_id
    )
    problem.headers["Location"] = f"/v1/referrals/{result.existing_referral_id}"
    return problem


def _answer(r: _Request, answer: Answer) -> None:
    if not r.answered.done():
        r.answered.set_result(answer)


def _fail(r: _Request, exc: BaseException) -> None:
    if not r.answered.done():
        r.answered.set_exception(exc)
