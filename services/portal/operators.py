"""The coalition's operators' work through the console's operations API and outcomes, with the
operators' organisation's own key (docs/portals.md, "Acting on the services"; docs/operators.md):
consumer lag, health, dead letters and their replay, parked outbox rows (retry, discard), the
live event stream, the funnel and good jobs. The console holds the Kafka and database access;
the portal holds the people. Every action is audited (`operator_action`) with the correlation id
that names the acting user, which the console records with the replay or discard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from services.portal import store
from services.portal.application import Portal, Refused
from services.portal.domain import Member
from services.portal.employing import problem_message
from services.portal.messages import N_

CONSOLE, OUTCOMES = "console", "outcomes"

# What each action did or why not, for the page's notice (the console's own words in `detail`).
RESULTS = {
    "replayed": N_("Replayed to its original topic."),
    "already-replayed": N_("Already replayed before: not sent again."),
    "retried": N_("Released: the relay tries it again."),
    "discarded": N_("Discarded: never published; its key's later events flow again."),
    "refused": N_("Not done:"),
    "confirm": N_("Not discarded: tick “I am sure” first."),
}


# The funnel's stages and where referrals stand now (outcomes' /v1/funnel, docs/pipeline.md).
STAGES = {
    "referred": N_("Referred"),
    "routed": N_("Routed to an employer"),
    "acknowledged": N_("Acknowledged"),
    "interviewed": N_("Interviewed"),
    "offered": N_("Offered"),
    "placed": N_("Placed"),
    "retained_90_days": N_("Still in the job after 90 days"),
    "in_progress": N_("In progress"),
    "pending": N_("Pending"),
    "offer_declined": N_("Offer turned down"),
    "declined": N_("Declined"),
    "not_matched_after_decline": N_("Not matched after a decline"),
    "not_matched_never_routed": N_("Never matched"),
    "withdrawn": N_("Withdrawn"),
}


@dataclass(frozen=True)
class Outcome:
    """What an action did: `result` a RESULTS code, `detail` the console's words when it refused."""

    subject: str
    result: str
    detail: str = ""
    status: int = 200  # the console's, when it refused


async def _read(p: Portal, member: Member, service: str, path: str, params: dict[str, str] | None = None) -> Any:
    assert p.services is not None
    answer = await p.services.call(member, service, "GET", path, params=params)
    if answer.status != 200:
        raise Refused("service_refused")
    return answer.json()


async def lag(p: Portal, member: Member) -> list[dict[str, Any]]:
    """Every service's consumer groups, those behind first."""
    groups = await _read(p, member, CONSOLE, "/api/lag")
    return sorted(groups, key=lambda g: (-g["lag"], g["service"], g["topic"]))


async def health(p: Portal, member: Member) -> dict[str, Any]:
    return await _read(p, member, CONSOLE, "/api/health")


async def dead_letters(p: Portal, member: Member, service: str | None) -> list[dict[str, Any]]:
    """Dead letters newest first, with their reasons (the console never gives their payloads)."""
    letters = await _read(p, member, CONSOLE, "/api/dead-letters", {"service": service} if service else None)
    return list(reversed(letters))


async def parked_outbox(p: Portal, member: Member) -> list[dict[str, Any]]:
    return await _read(p, member, CONSOLE, "/api/outbox")


async def funnel(p: Portal, member: Member) -> tuple[dict[str, Any], dict[str, Any]]:
    """Outcomes' funnel and its good-jobs report."""
    return await _read(p, member, OUTCOMES, "/v1/funnel"), (await _read(p, member, OUTCOMES, "/v1/reports"))[
        "good_jobs"
    ]


async def _act(p: Portal, member: Member, path: str, subject: str, action: str) -> tuple[Outcome, Any]:
    assert p.services is not None
    answer = await p.services.call(member, CONSOLE, "POST", path)
    if answer.status == 404:
        raise Refused("not_found")
    body = answer.json() if "json" in answer.response.headers.get("content-type", "") else {}
    if answer.status >= 400:
        return Outcome(subject, "refused", problem_message(body), answer.status), None
    await store.audit(
        p.pool,
        "operator_action",
        org_id=member.org_id,
        user_id=member.user_id,
        target=subject,
        correlation_id=answer.correlation_id,
        detail={"action": action},
    )
    return Outcome(subject, action), body


async def replay(p: Portal, member: Member, letter_id: str) -> Outcome:
    """Send a dead letter back to its original topic; the console sends each one once."""
    done, body = await _act(p, member, f"/api/dead-letters/{quote(letter_id, safe='')}/replay", letter_id, "replay")
    if body is None:
        return done
    return Outcome(letter_id, "replayed" if body.get("status") == "replayed" else "already-replayed")


async def retry(p: Portal, member: Member, service: str, row_id: int) -> Outcome:
    path = f"/api/outbox/{quote(service, safe='')}/{row_id}/retry"
    done, body = await _act(p, member, path, f"{service}:{row_id}", "retry")
    return done if body is None else Outcome(done.subject, "retried")


async def discard(p: Portal, member: Member, service: str, row_id: int, sure: bool) -> Outcome:
    if not sure:
        return Outcome(f"{service}:{row_id}", "confirm")
    path = f"/api/outbox/{quote(service, safe='')}/{row_id}/discard"
    done, body = await _act(p, member, path, f"{service}:{row_id}", "discard")
    return done if body is None else Outcome(done.subject, "discarded")
