"""Intake's e-mails to candidates, as intake's event consumer: the events that ask for one
are queued in `candidate_notices` in the transaction that claims them in the inbox (one row
per event id: a redelivery queues nothing), and an erasure cancels and empties what its
referrals had queued. `notify_sender` sends the queue (`start`, from intake's `on_start`).

The consumer is intake's own (`intake` in the inbox, its group `intake.events`, its ACLs
and dead-letter topic; intake's `ServiceDefinition` names `CONSUMES` for the ACLs and
`document` puts it in the AsyncAPI document): intake's referrals (referral.submitted), the
gateway's employer actions (interview.scheduled, offer.extended) and the candidates topic
(erasure). It runs only when mail is configured: a network without SMTP settings reads none
of it, and when mail is switched on later the events of before are older than
`notify.MAX_AGE` and are not mailed (nor is an old event replayed from a dead letter).
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from contracts import Envelope, events
from contracts.topics import CANDIDATES, EMPLOYER_ACTIONS, REFERRALS
from plumbing import mail, subscriber
from plumbing.consumer import EventConsumer, Handler
from plumbing.context import Context
from plumbing.logging import get_logger
from plumbing.service import Runtime
from services.intake import notify, notify_sender, notify_store

log = get_logger(__name__)

CONSUMES = (REFERRALS, EMPLOYER_ACTIONS, CANDIDATES)


async def on_mail_event(ctx: Context, envelope: Envelope, payload: events.Payload) -> None:
    if not mail.configured(ctx.settings):
        return
    referral_id = payload.referral_id  # type: ignore[attr-defined]  # every event of KINDS names it
    row = await notify_store.referral(ctx.conn, referral_id)
    if row is None:
        return  # not a referral intake holds (erased and pruned, or another network's)
    why_not = notify.refusal(status=row["status"], consented=row["consented"], event_time=envelope.time, now=ctx.now())
    if why_not is not None:
        log.info("notify.not_queued", event_type=envelope.type, referral_id=referral_id, reason=why_not)
        return
    await notify_store.enqueue(
        ctx.conn,
        envelope.id,
        referral_id,
        notify.KINDS[payload.event_type],
        notify.language_of(row["language"]),
        notify.details_of(payload),
        ctx.now(),
    )


async def on_erased(ctx: Context, envelope: Envelope, payload: events.Payload) -> None:
    assert isinstance(payload, events.CandidateErasedV1)
    redacted = await notify_store.erase(ctx.conn, list(payload.referral_ids))
    if redacted:
        log.info("notify.erased", notices=redacted)


HANDLERS: dict[str, Handler] = {
    **{event_type: on_mail_event for event_type in notify.KINDS},
    events.CandidateErasedV1.event_type: on_erased,
}


def service_of(rt: Runtime) -> str:
    """The service's name, from its events' source (`intake`; a test's own copy, its own name,
    so its inbox, group and dead letters are its own)."""
    return rt.deps.source.removeprefix("/talentloop/").replace("-", "_")


def consumer(rt: Runtime | None = None) -> EventConsumer:
    if rt is None:  # for the AsyncAPI document only
        return EventConsumer("intake", None, None, handlers=HANDLERS)  # type: ignore[arg-type]
    return EventConsumer(
        service_of(rt),
        rt.pool,
        rt.producer,
        handlers=HANDLERS,
        deps=rt.deps,
        max_attempts=rt.settings.max_attempts,
        backoff_s=rt.settings.retry_backoff_s,
    )


def start(rt: Runtime) -> None:
    """Consume and send when mail is configured; say in the logs either way."""
    log.info("notify.mail", smtp=mail.describe(rt.settings))
    if not mail.configured(rt.settings):
        return
    rt.app.state.notify_consumer = consumer(rt)
    rt.consume(rt.app.state.notify_consumer, [t.name for t in CONSUMES])
    rt.app.state.notifier = notify_sender.Sender(rt.pool, rt.deps, mail.Mailer(rt.settings))
    rt.tasks.append(notify_sender.run_in(rt.app.state.notifier))


def document(broker: KafkaBroker) -> None:
    subscriber.attach(broker, consumer(), [t.name for t in CONSUMES])
