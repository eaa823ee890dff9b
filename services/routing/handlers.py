"""Routing's event handlers: each passes its event to a use case (`application.py`) with the
transaction's context; the batch handler applies a run of submissions set-based."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from contracts import Envelope, events
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
    facts is kept. `postings` caches the openings' postings of one database schema."""

    async def batch_handler(ctx: Context, items: list[tuple[Envelope, events.Payload]]) -> None:
        run: list[application.Submission] = []
        with collector_paused():
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

    return batch_handler


class _Pauses:
    """How many batches apply now with the collector paused, and whether it was on before the first."""

    count = 0
    resume = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off while a batch is applied, on again after it (also when it
    fails), unless it was off before. A batch's objects (submissions, decisions, events, their
    JSON) live until its events are written and almost none is in a cycle: reference counting
    frees them then. Collections during the batch only walked them, again in each older
    generation they were promoted to (bench/routing.py, 10,000 decisions: about 1.1 s of
    collections in 4.6 s of routing's CPU; 0.3 s with this and `app.YOUNG_THRESHOLD`: the first
    batch's settle of the new index, and collections outside the handler while decoding and in
    the relay). What the batch leaves in cycles is collected after it. Counted, so batches applied at once turn it on only when the last one ends."""
    if _Pauses.count == 0:
        _Pauses.resume = gc.isenabled()
        gc.disable()
    _Pauses.count += 1
    try:
        yield
    finally:
        _Pauses.count -= 1
        if _Pauses.count == 0 and _Pauses.resume:
            gc.enable()


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
