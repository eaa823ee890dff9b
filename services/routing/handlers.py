"""Routing's event handlers: each passes its event to a use case (`application.py`) with the
transaction's context; the batch handler applies a run of submissions set-based."""

from __future__ import annotations

from contracts import Envelope, events
from plumbing import heap
from plumbing.consume_loop import across_topics
from plumbing.consumer import BatchHandler
from plumbing.context import Context
from services.routing import application, store
from services.routing.application import Cause


async def on_opening_posted(ctx: Context, env: Envelope, event: events.OpeningPostedV1) -> None:
    await application.post_opening(ctx, Cause.of(env), event)


async def on_opening_updated(ctx: Context, env: Envelope, event: events.OpeningUpdatedV1) -> None:
    await application.post_opening(ctx, Cause.of(env), event)


async def on_opening_closed(ctx: Context, env: Envelope, event: events.OpeningClosedV1) -> None:
    await application.close_opening(ctx, event)


async def on_referral_submitted(ctx: Context, env: Envelope, event: events.ReferralSubmittedV2) -> None:
    await application.decide_first(ctx, application.submission(env, event))


async def on_referral_updated(ctx: Context, env: Envelope, event: events.ReferralUpdatedV1) -> None:
    await application.update_profile(ctx, Cause.of(env), event)


async def on_referral_declined(ctx: Context, env: Envelope, event: events.ReferralDeclinedV1) -> None:
    await application.decline(ctx, Cause.of(env), event)


async def on_placement_reported(ctx: Context, env: Envelope, event: events.PlacementReportedV2) -> None:
    await application.place(ctx, event)


async def on_offer_declined(ctx: Context, env: Envelope, event: events.OfferDeclinedV1) -> None:
    await application.offer_declined(ctx, event)


async def on_referral_withdrawn(ctx: Context, env: Envelope, event: events.ReferralWithdrawnV1) -> None:
    await application.withdraw(ctx, [event.referral_id], event.withdrawn_at, event.reason.value)


async def on_candidate_erased(ctx: Context, env: Envelope, event: events.CandidateErasedV1) -> None:
    await application.erase(ctx, event)


def batch_handler_for(postings: store.Postings) -> BatchHandler:
    """A batch in record order: each run of consecutive submissions set-based
    (`application.decide_first_many`), anything else through its own handler, so the order of
    facts is kept. `postings` caches the openings' postings of one database schema. A batch
    may hold the events of all routing's topics (`plumbing.consume_loop.across_topics`: a
    fetch is one transaction, not one per topic); across topics events arrive in any order
    anyway (an opening's change, a referral's, an employer's action), so each partition's
    records in order is all the order there is to keep."""

    async def batch_handler(ctx: Context, items: list[tuple[Envelope, events.Payload]]) -> None:
        run: list[application.Submission] = []
        # The collector off while the batch applies (plumbing.heap.paused): a batch's objects
        # (submissions, decisions, events, their JSON) live until its events are written, and
        # collections meanwhile were about a fifth of routing's CPU (bench/routing.py, 10,000
        # decisions: 1.1 s of 4.6 s; 0.3 s with this and `heap.SERVICE_YOUNG_THRESHOLD`).
        with heap.paused():
            for env, payload in items:
                if isinstance(payload, events.ReferralSubmittedV2):
                    run.append(application.submission(env, payload))
                    continue
                if run:
                    await application.decide_first_many(ctx, run, postings)
                    run = []
                await HANDLERS[type(payload).event_type](ctx, env, payload)
            if run:
                await application.decide_first_many(ctx, run, postings)

    return across_topics(batch_handler)


HANDLERS = {
    events.OpeningPostedV1.event_type: on_opening_posted,
    events.OpeningUpdatedV1.event_type: on_opening_updated,
    events.OpeningClosedV1.event_type: on_opening_closed,
    events.ReferralSubmittedV2.event_type: on_referral_submitted,
    events.ReferralUpdatedV1.event_type: on_referral_updated,
    events.ReferralWithdrawnV1.event_type: on_referral_withdrawn,
    events.ReferralDeclinedV1.event_type: on_referral_declined,
    events.PlacementReportedV2.event_type: on_placement_reported,
    events.OfferDeclinedV1.event_type: on_offer_declined,
    events.CandidateErasedV1.event_type: on_candidate_erased,
}
