"""The support service's event handlers: who referred or enrolled whom (talentloop.referrals,
talentloop.training) and erasures (talentloop.candidates). Glue only: each event type is one
use case of `application`.

`batch_handler` applies a consumer's batch in record order: each run of referrals and
enrollments in one statement, an erasure on its own, so an erasure never overtakes the
referral it names.
"""

from __future__ import annotations

from contracts import Envelope, events
from plumbing.context import Context
from services.support import application

HANDLERS = {
    events.ReferralSubmittedV2.event_type: application.remember,
    events.TrainingEnrolledV1.event_type: application.remember,
    events.CandidateErasedV1.event_type: application.erase_candidate,
}


async def batch_handler(ctx: Context, items: list[tuple[Envelope, events.Payload]]) -> None:
    run: list[tuple[Envelope, events.Payload]] = []
    for env, payload in items:
        if isinstance(payload, events.CandidateErasedV1):
            await application.remember_many(ctx, run)
            run = []
            await application.erase_candidate(ctx, env, payload)
        else:
            run.append((env, payload))
    await application.remember_many(ctx, run)
