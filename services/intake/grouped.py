"""Single referrals (`POST /v1/referrals`, the partner webhook) committed in groups
(`plumbing/group_commit.py`).

A request alone paid about ten statement round trips and a flushed commit of its own, so a
busy intake answered some 30 requests/s whatever the machine. Concurrent requests now queue
for a few milliseconds (or while earlier groups hold the connections) and a group is applied
by one `application.submit_all` in one transaction: a few statements for the whole group. Each
request is answered from its own result: 201 with its referral, or 409 naming the referral
it duplicates (a later request of the group sees an earlier one, as if it came later). Each
event keeps its request's correlation id and trace context (`Submission.trace`), not the
group's. Isolation, Idempotency-Key claims, replays and releases are the group commit's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from plumbing.auth import Principal
from plumbing.context import Context, Deps
from plumbing.group_commit import Answer, GroupCommit
from plumbing.problems import Problem
from services.intake import application
from services.intake.application import Accepted, Duplicate, Submission

SubmitAll = Callable[[Context, list[Submission]], Awaitable[list[Accepted | Duplicate]]]

__all__ = ["Answer", "ReferralGroups"]


class ReferralGroups:
    """The queue of single submissions, and the flushes that apply it."""

    def __init__(
        self, pool: asyncpg.Pool, deps: Deps, submit_all: SubmitAll = application.submit_all, **tuning: Any
    ) -> None:
        self._deps = deps
        self._submit_all = submit_all
        # One flush at a time: what queues meanwhile makes the next group larger. Against two
        # at once, on the two shared cores, intake alone answered more requests (263-365 against
        # 163-192 a second of 400 offered) at less CPU a request (intake 0.85-0.91 ms against
        # 1.00-1.02, PostgreSQL 0.19-0.20 against 0.23-0.25, Kafka 0.28-0.31 against 0.38-0.40:
        # fewer groups, fewer relay rounds) and a lower p99 (docs/performance.md, twelfth session).
        self._groups: GroupCommit[Submission] = GroupCommit(
            pool, self._apply_many, "intake", **{"connections": 1, **tuning}
        )

    async def submit(self, who: Principal, submission: Submission, key: str | None, payload: Any) -> Answer:
        """This request's answer, or raises its Problem (409, 422) or its fault."""
        return await self._groups.submit(who, submission, key, payload)

    async def _apply_many(self, conn: asyncpg.Connection, items: list[Submission]) -> list[Answer | Exception]:
        return [_answer(result) for result in await self._submit_all(self._deps.bind(conn), items)]


def _answer(result: Accepted | Duplicate) -> Answer | Exception:
    if isinstance(result, Duplicate):
        problem = Problem(
            409, result.code, "Duplicate referral", result.message, existing_referral_id=result.existing_referral_id
        )
        problem.headers["Location"] = f"/v1/referrals/{result.existing_referral_id}"
        return problem
    return Answer(201, {
        "referral_id": result.referral_id,
        "candidate_id": result.partner_candidate_id,
        "status": "submitted",
        "unknown_skills": result.unknown_skills,
    })
