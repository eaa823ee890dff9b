"""Outcomes' event handlers: each passes its events to a use case (`application.py`) with the
transaction's context. One event at a time (`handlers`: a record the batch could not apply
comes this way) or a batch (`batch_handler`: openings one by one, then every event about a
referral together; an erasure on its own, between the events before it and those after, in
order, because an erasure changes how the events after it are stored).

A batch may hold the events of all of outcomes' topics (`plumbing.consume_loop.across_topics`):
a process's consume loops have the fetches that wait for a transaction applied together in
the next one, so a referral with events on several topics at the same moment is derived once.
Two batches are applied at once (`plumbing.consume_loop.lanes`): `application` locks what it
touches in one order, as two instances need anyway, and while one batch waits for PostgreSQL
the other is derived (docs/performance.md, twelfth session).

A rebuild (`services/outcomes/rebuild.py`) runs the same code with `live=False`: the same
ledger and projections, but no notification is sent again; its first pass appends with
`batch_handler(project=False)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from contracts import Envelope, events, latest_type
from contracts.events import Payload
from contracts.registry import latest_types
from plumbing.consume_loop import across_topics, lanes
from plumbing.consumer import BatchHandler, Handler
from plumbing.context import Context
from services.outcomes import application, domain, store

OPENING_EVENTS = (events.OpeningPostedV1, events.OpeningUpdatedV1, events.OpeningClosedV1)
# The same test by exact type, for the batch path: pydantic's models are ABCs, and isinstance
# on an ABC (several per event) was a visible share of a batch. No contract model is subclassed.
_OPENING_TYPES = frozenset(OPENING_EVENTS)
_LATER_TYPES = frozenset({events.CandidateErasedV1, *OPENING_EVENTS})
# Issue 15 slice 6: training in the ledger. Programs go one by one like openings; an
# enrollment's events are locked and projected per enrollment, not as a referral's.
PROGRAM_EVENTS = (events.ProgramRegisteredV1, events.ProgramUpdatedV1)
TRAINING_EVENTS = (
    events.TrainingEnrolledV1, events.TrainingProgressedV1, events.TrainingCompletedV1, events.TrainingExitedV1,
    events.CredentialEarnedV1,
)
_PROGRAM_TYPES = frozenset(PROGRAM_EVENTS)
_TRAINING_TYPES = frozenset(TRAINING_EVENTS)
# Issue 15 item 3: supportive services. A request's events are locked and projected per request
# (in the referrals' walk, as enrollments); the providers' directory only goes to the ledger.
SERVICE_PROVIDER_EVENTS = (events.ServiceProviderRegisteredV1, events.ServiceProviderUpdatedV1)
SERVICE_EVENTS = (
    events.ServiceRequestedV1, events.ServiceAcceptedV1, events.ServiceDeclinedV1, events.ServiceDeliveredV1,
    events.ServiceCancelledV1, events.ServiceStaleV1,
)
_SERVICE_PROVIDER_TYPES = frozenset(SERVICE_PROVIDER_EVENTS)
_SERVICE_TYPES = frozenset(SERVICE_EVENTS)
# Issue 16: employers' demand forecasts, hiring standards and publication choices (on
# talentloop.openings), one by one.
DEMAND_EVENTS = (events.DemandForecastV1, events.HiringStandardsPublishedV1, events.HiringPublicationChosenV1)
_DEMAND_TYPES = frozenset(DEMAND_EVENTS)
# Set aside by the rebuild's first pass (which COPYs referral events only) and applied after it:
# programs, training, service and demand events.
APPLIED_AFTER_LOAD = _PROGRAM_TYPES | _TRAINING_TYPES | _SERVICE_PROVIDER_TYPES | _SERVICE_TYPES | _DEMAND_TYPES
_OWN_PATH = APPLIED_AFTER_LOAD | _OPENING_TYPES
# Batches a process applies at once: one deriving while the other waits for PostgreSQL.
LANES = 2


def handlers(*, live: bool) -> dict[str, Handler]:
    """One event at a time (a record the batch could not apply comes this way)."""

    async def on_lifecycle_event(ctx: Context, env: Envelope, payload: Payload) -> None:
        await application.record_about_referrals(ctx, [(env, payload)], live)

    lifecycle = {t: on_lifecycle_event for t in latest_types() if domain.fact_of(t) or t.startswith("skills.")}
    openings = {t: application.record_opening for t in latest_types() if t.startswith("opening.")}

    async def on_training_event(ctx: Context, env: Envelope, payload: Payload) -> None:
        await application.record_training(ctx, [(env, payload)], live)

    async def on_service_event(ctx: Context, env: Envelope, payload: Payload) -> None:
        await application.record_services(ctx, [(env, payload)], live)

    programs = {e.event_type: application.record_program for e in PROGRAM_EVENTS}
    training = {e.event_type: on_training_event for e in TRAINING_EVENTS}
    directory = {e.event_type: application.record_service_provider for e in SERVICE_PROVIDER_EVENTS}
    services = {e.event_type: on_service_event for e in SERVICE_EVENTS}
    demand = {e.event_type: application.record_demand for e in DEMAND_EVENTS}
    return {**lifecycle, **openings, **programs, **training, **directory, **services, **demand,  # type: ignore[dict-item]
            events.CandidateErasedV1.event_type: application.erase}


def batch_handler(*, live: bool, project: bool = True) -> BatchHandler:
    """Several events in the caller's transaction, as one by one would give.

    `project=False` is the rebuild's first pass (services/outcomes/rebuild.py): events about
    referrals are only appended to the ledger, by COPY (a fresh ledger without its indexes,
    nor the unique one on event ids: the rebuild removes repeated events), never redacted nor
    projected; the rebuild applies openings and erasures afterwards through this handler and
    derives every projection from the ledger once at the end, as `store.reproject_many` would."""
    one_by_one: dict[str, Callable[..., Awaitable[None]]] = handlers(live=live)

    async def load(ctx: Context, items: list[tuple[Envelope, Payload]]) -> None:
        later = [env.type for env, p in items if type(p) in _LATER_TYPES or type(p) in APPLIED_AFTER_LOAD]
        if later:
            raise ValueError(f"the rebuild applies {sorted(set(later))} after its first pass, not in it")
        await store.copy_events(ctx.conn, application.referral_events(items))

    async def ingest(ctx: Context, items: list[tuple[Envelope, Payload]]) -> None:
        start = 0
        for i, (env, payload) in enumerate(items):
            if type(payload) is events.CandidateErasedV1:
                await ingest_without_erasures(ctx, items[start:i])
                await one_by_one[latest_type(env.type)](ctx, env, payload)
                start = i + 1
        await ingest_without_erasures(ctx, items[start:])

    async def ingest_without_erasures(ctx: Context, items: list[tuple[Envelope, Payload]]) -> None:
        for env, payload in items:
            if type(payload) in _OPENING_TYPES:
                await application.record_opening(ctx, env, payload)
            elif type(payload) in _PROGRAM_TYPES:
                await application.record_program(ctx, env, payload)
            elif type(payload) in _SERVICE_PROVIDER_TYPES:
                await application.record_service_provider(ctx, env, payload)
            elif type(payload) in _DEMAND_TYPES:
                await application.record_demand(ctx, env, payload)
        # Enrollments and service requests are locked in the referrals' walk (one key space, one order).
        training = [(env, p) for env, p in items if type(p) in _TRAINING_TYPES]
        services = [(env, p) for env, p in items if type(p) in _SERVICE_TYPES]
        about = [(env, p) for env, p in items if type(p) not in _OWN_PATH]
        if about or training or services:
            await application.record_about_referrals(ctx, about, live, training, services)

    return lanes(LANES)(across_topics(ingest)) if project else load


HANDLERS = handlers(live=True)
