"""Employers' actions on referrals (acknowledge, decline, interviews, offers, placement,
retention, separation), committed in groups (`plumbing/group_commit.py`).

A group's actions run through `application.act_many` in one transaction: its referrals are
locked and loaded in one statement, in one order (so two groups that share referrals cannot
deadlock), each action applied to the referral as the ones before it left it, and stored in
one statement; the group's events are one outbox statement, each row keeping its own
request's trace context, not the group's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from contracts import events
from plumbing import outbox, tracing
from plumbing.auth import Principal
from plumbing.context import Deps
from plumbing.group_commit import Answer, GroupCommit
from plumbing.problems import Problem, not_found
from services.employer_gateway import application, domain
from services.employer_gateway.domain import InvalidTransition, Referral


@dataclass(frozen=True)
class _Action:
    who: Principal
    referral_id: str
    decide: Callable[[Referral], events.Payload]
    correlation_id: str
    status: int
    trace: outbox.Trace  # the request's, which its event's outbox row keeps


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
        **({"offer_id": event.offer_id} if isinstance(event, events.OfferExtendedV2) else {}),
    })


def _result(action: _Action, done: application.Acted | Exception) -> Answer | Exception:
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
    return answer_of(done, action.status)


class ActionGroups:
    """The queue of employers' actions and the flushes that apply it."""

    def __init__(self, pool: asyncpg.Pool, deps: Deps, **tuning: Any) -> None:
        self._deps = deps
        self._groups: GroupCommit[_Action] = GroupCommit(pool, self._apply_many, "gateway", **{
            "window_s": 0.002, "max_group": 200, **tuning,
        })

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
        action = _Action(who, referral_id, decide, correlation_id, status, tracing.outbox_context())
        return await self._groups.submit(who, action, key, payload)

    async def _apply_many(self, conn: asyncpg.Connection, actions: list[_Action]) -> list[Answer | Exception]:
        done = await application.act_many(self._deps.bind(conn), [
            application.Action(a.who.id, a.referral_id, a.decide, a.correlation_id, a.trace)
            for a in actions
        ])
        return [_result(a, d) for a, d in zip(actions, done, strict=True)]

