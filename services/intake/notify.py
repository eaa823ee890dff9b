"""What intake tells a candidate about their own referral, and in which words (no I/O).

A candidate who agreed to it (`consent.notify_candidate`, referral.submitted 2.6) gets one
e-mail when they are referred, one when an interview is scheduled and one when an offer is
made, in their preferred language (Spanish for a tag starting with `es`, else English). The
e-mails say what happened and who to talk to (the partner that referred them), nothing more:
no employer's name or id, no skills, no other referral.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contracts import events

LANGUAGES = ("en", "es")

# The events that ask for an e-mail, by their newest type (older versions are upcast).
KINDS = {
    events.ReferralSubmittedV2.event_type: "referred",
    events.InterviewScheduledV1.event_type: "interview",
    events.OfferExtendedV2.event_type: "offer",
}

# Events older than this are not mailed: a notifier switched on later, or a dead letter
# replayed weeks after, must not write to people about the past.
MAX_AGE = timedelta(hours=72)


def language_of(tag: str | None) -> str:
    """The language of the e-mails for a BCP 47 tag: `es`, `es-MX` -> es; anything else -> en."""
    primary = (tag or "").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else "en"


def details_of(payload: events.Payload) -> dict[str, Any]:
    """What an e-mail of this event says besides its kind (kept until it is sent or erased)."""
    if isinstance(payload, events.InterviewScheduledV1):
        return {"at": payload.scheduled_for.isoformat(), "mode": payload.mode.value}
    if isinstance(payload, events.OfferExtendedV2):
        return {"job_title": payload.job_title, "start_date": payload.start_date.isoformat()}
    return {}


def refusal(*, status: str, consented: bool, event_time: datetime, now: datetime) -> str | None:
    """Why no e-mail is queued for this event; None when one is."""
    if not consented:
        return "no consent"
    if status != "active":
        return f"referral {status}"
    if now - event_time > MAX_AGE:
        return "event too old"
    return None


@dataclass(frozen=True)
class Words:
    subject: str
    body: str


WORDS: dict[str, dict[str, Words]] = {
    "en": {
        "referred": Words(
            "You have been referred to employers",
            "{partner} has referred you to employers in its hiring network, as you agreed. An employer with a job"
            " that fits your skills may now get in touch. We will write to you again when an interview is"
            " scheduled or an offer is made.",
        ),
        "interview": Words(
            "An interview has been scheduled",
            "An employer has scheduled an interview with you on {when} ({mode}). The employer or {partner} will"
            " tell you the details.",
        ),
        "offer": Words(
            "You have a job offer",
            "An employer has offered you a job: {job_title}, starting on {start_date}. The employer or {partner}"
            " will tell you the terms and how to answer.",
        ),
    },
    "es": {
        "referred": Words(
            "Le han recomendado a empleadores",
            "{partner} le ha recomendado a empleadores de su red de contratación, como usted aceptó. Un empleador"
            " con un puesto que se ajuste a sus habilidades podría ponerse en contacto con usted. Le escribiremos"
            " de nuevo cuando se programe una entrevista o reciba una oferta.",
        ),
        "interview": Words(
            "Se ha programado una entrevista",
            "Un empleador ha programado una entrevista con usted el {when} ({mode}). El empleador o {partner} le"
            " darán los detalles.",
        ),
        "offer": Words(
            "Tiene una oferta de trabajo",
            "Un empleador le ha ofrecido un trabajo: {job_title}, a partir del {start_date}. El empleador o"
            " {partner} le explicarán las condiciones y cómo responder.",
        ),
    },
}
GREETING = {"en": "Hello {name},", "es": "Hola, {name}:"}
GREETING_NO_NAME = {"en": "Hello,", "es": "Hola:"}
FOOTER = {
    "en": "You get these e-mails because you agreed to hear about your referral. To stop them, or to have your"
    " data erased, ask {partner}.\n\nTalentLoop, on behalf of {partner}",
    "es": "Recibe estos correos porque aceptó recibir noticias de su recomendación. Para dejar de recibirlos, o"
    " para que se borren sus datos, pídalo a {partner}.\n\nTalentLoop, en nombre de {partner}",
}
MODES = {
    "en": {"in_person": "in person", "video": "by video", "phone": "by phone"},
    "es": {"in_person": "en persona", "video": "por video", "phone": "por teléfono"},
}


def _when(at: str, language: str, zone: str) -> str:
    moment = datetime.fromisoformat(at).astimezone(ZoneInfo(zone))
    if language == "es":
        return f"{moment:%d/%m/%Y} a las {moment:%H:%M} ({zone})"
    return f"{moment:%B} {moment.day}, {moment.year} at {moment:%H:%M} ({zone})"


def _day(value: str, language: str) -> str:
    day = date.fromisoformat(value)
    return f"{day:%d/%m/%Y}" if language == "es" else f"{day:%B} {day.day}, {day.year}"


def render(
    kind: str, language: str, details: dict[str, Any], *, given_name: str | None, partner: str, zone: str
) -> Words:
    """The subject and text of one e-mail. `zone`: the network's business time zone, in which
    an interview's time is written (and named)."""
    language = language if language in LANGUAGES else "en"
    words = WORDS[language][kind]
    fill: dict[str, str] = {"partner": partner}
    if kind == "interview":
        fill["when"] = _when(details["at"], language, zone)
        fill["mode"] = MODES[language].get(details.get("mode", ""), details.get("mode", ""))
    elif kind == "offer":
        fill["job_title"] = details["job_title"]
        fill["start_date"] = _day(details["start_date"], language)
    greeting = GREETING[language].format(name=given_name) if given_name else GREETING_NO_NAME[language]
    body = "\n\n".join([greeting, words.body.format(**fill), FOOTER[language].format(partner=partner)])
    return Words(words.subject, body + "\n")
