"""The gateway's event handlers: routing decisions into each employer's referral inbox, and
intake's submissions, withdrawals, updates and erasures of those referrals (which may arrive
before the decision). Glue only: each event type is one use case of `application`.

`batch_handler` applies a consumer's batch in record order: each run of consecutive
`referral.routed` or `referral.submitted` events (the bulk of the traffic) set-based, every
other event through its own handler, so the order of facts is kept. A batch may hold the
events of all the gateway's topics (`plumbing.consume_loop.across_topics`): a fetch is one
transaction, not one per topic (under single requests a fetch holds a few submissions and a
few decisions). Across topics the events of a referral arrive in any order, and each use
case copes (a decision before its submission, a withdrawal before the decision), so applying
two topics' records in one transaction, each partition's in order, changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from contracts import Envelope, events
from plumbing.consume_loop import across_topics
from plumbing.context import Context
from services.employer_gateway import application
from services.employer_gateway.application import EMPLOYER_NOTIFICATIONS

__all__ = ["EMPLOYER_NOTIFICATIONS", "HANDLERS", "batch_handler"]

HANDLERS = {
    events.ReferralRoutedV1.event_type: application.enter_inbox,
    events.ReferralWithdrawnV1.event_type: application.withdraw,
    events.ReferralSubmittedV2.event_type: application.keep_contact,
    events.ReferralUpdatedV1.event_type: application.update_profile,
    events.CandidateErasedV1.event_type: application.erase_candidate,
}

Run = list[tuple[Envelope, events.Payload]]
SET_BASED: dict[type[events.Payload], Callable[[Context, Run], Awaitable[None]]] = {
    events.ReferralRoutedV1: application.enter_inbox_many,  # type: ignore[dict-item]
    events.ReferralSubmittedV2: application.keep_contacts,  # type: ignore[dict-item]
}


@across_topics
async def batch_handler(ctx: Context, items: Run) -> None:
    kind: type[events.Payload] | None = None
    run: Run = []
    for env, payload in items:
        if type(payload) is not kind and run:
            await SET_BASED[kind](ctx, run)  # type: ignore[index]
            run = []
        if type(payload) in SET_BASED:
            kind = type(payload)
            run.append((env, payload))
        else:
            kind = None
            await HANDLERS[type(payload).event_type](ctx, env, payload)
    if run:
        await SET_BASED[kind](ctx, run)  # type: ignore[index]
