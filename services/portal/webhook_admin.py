"""An organisation admin's webhook endpoints (docs/portals.md, "Webhook endpoints";
docs/webhooks.md): listed, added (the signing secret shown once), given a new secret, paused,
resumed and removed at each service that notifies the organisation, and their delivery log, one
delivery with its attempts, and a redelivery, through that service's webhooks API with the
organisation's own key, so another organisation's endpoint and delivery ids answer 404 here
exactly as there. The portal keeps no endpoint, no secret and no delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.portal.application import Portal, Refused, audit_answer, one_of_ours, segment
from services.portal.domain import Member
from services.portal.employing import problem_message
from services.portal.messages import N_
from services.portal.services_client import Answer

ENDPOINTS = "/v1/webhooks/endpoints"
DELIVERIES = "/v1/webhooks/deliveries"
LOG_PAGE = 50  # deliveries a page of the log
DELIVERY_STATUSES = {
    "pending": N_("Waiting to be sent"),
    "delivered": N_("Delivered: your endpoint accepted it"),
    "failed": N_("Failed: no more tries"),
}


@dataclass(frozen=True)
class Channel:
    """A service that sends the organisation notifications, and what it sends."""

    service: str
    title: str
    events: dict[str, str]  # event type -> what it tells, in words


# The event types are the services' own (a test keeps them equal to what each service sends).
GATEWAY = Channel(
    "employer_gateway",
    N_("What happens to the referrals routed to you"),
    {
        "referral.routed": N_("A referral entered your inbox"),
        "referral.withdrawn": N_("The partner withdrew a referral you have in progress"),
        "referral.updated": N_("The partner changed a candidate's profile"),
        "referral.stale": N_("A reminder: a referral waits for your answer"),
    },
)
OUTCOMES = Channel(
    "outcomes",
    N_("What happens to your referrals and requests"),
    {
        "referral.status_changed.v1": N_("Every change of your referrals' statuses, with why"),
        "participant.status_changed.v1": N_("Your participants' statuses (training providers)"),
        "service.status_changed.v1": N_("Every change of your supportive-service requests' statuses"),
    },
)
SUPPORT = Channel(
    "support",
    N_("Requests addressed to you as a service provider"),
    {
        "service.requested": N_("A request was addressed to you"),
        "service.cancelled": N_("Its requester withdrew a request addressed to you"),
        "service.stale": N_("A reminder: a request waits on you"),
    },
)
MESSAGES = {
    "no_webhooks_scope": N_(
        "The portal's key for your organisation may not manage webhooks. Ask the coalition's operators."
    ),
}


@dataclass(frozen=True)
class Listed:
    channel: Channel
    endpoints: list[dict[str, Any]] | None  # None: the service refused the portal's key


@dataclass(frozen=True)
class Log:
    """One page of a service's delivery log for the organisation."""

    channel: Channel
    items: list[dict[str, Any]]  # newest first within the page
    next_after: str | None  # the service's cursor to the next page, if there is one
    urls: dict[str, str]  # endpoint id -> its address


@dataclass(frozen=True)
class Added:
    endpoint_id: str | None
    secret: str | None = None
    problem: str | None = None  # the service's refusal, as a line


def channels(member: Member) -> tuple[Channel, ...]:
    """Where the organisation has endpoints; admins only (endpoints and secrets are the
    organisation's integration, as its API keys are)."""
    if not member.may_manage_users:
        raise Refused("not_allowed")
    if member.org_kind == "employer":
        return (GATEWAY,)
    if member.refers:
        return (OUTCOMES, SUPPORT)
    raise Refused("not_allowed")  # operators are told nothing by webhooks


def channel(member: Member, service: str) -> Channel:
    found = next((c for c in channels(member) if c.service == service), None)
    if found is None:
        raise LookupError(service)
    return found


async def _call(p: Portal, member: Member, service: str, method: str, path: str, **kwargs: Any) -> Answer:
    assert p.services is not None
    return await p.services.call(member, service, method, path, **kwargs)


async def listed(p: Portal, member: Member) -> list[Listed]:
    found = []
    for c in channels(member):
        answer = await _call(p, member, c.service, "GET", ENDPOINTS)
        if answer.status == 403:
            found.append(Listed(c, None))
            continue
        if answer.status != 200:
            raise Refused("service_refused")
        found.append(Listed(c, answer.json()))
    return found


async def add(p: Portal, member: Member, service: str, url: str, event_types: list[str]) -> Added:
    c = channel(member, service)
    chosen = [t for t in c.events if t in event_types]  # in the page's order; none: all
    answer = await _call(p, member, service, "POST", ENDPOINTS, json={"url": url.strip(), "event_types": chosen})
    if answer.status == 201:
        doc = answer.json()
        await audit_answer(p, member, "webhook_added", doc["endpoint_id"], answer, {"service": service})
        return Added(doc["endpoint_id"], doc["secret"])
    if answer.status in (403, 422):
        return Added(None, problem=problem_message(answer.json()))
    raise Refused("service_refused")


async def rotate(p: Portal, member: Member, service: str, endpoint_id: str) -> str:
    """A new signing secret (shown once; the old one signs beside it for the grace period)."""
    answer = await _on_endpoint(p, member, service, endpoint_id, "POST", "/rotate-secret", 200)
    await audit_answer(p, member, "webhook_secret_rotated", endpoint_id, answer, {"service": service})
    return answer.json()["secret"]


async def remove(p: Portal, member: Member, service: str, endpoint_id: str) -> None:
    answer = await _on_endpoint(p, member, service, endpoint_id, "DELETE", "", 204)
    await audit_answer(p, member, "webhook_removed", endpoint_id, answer, {"service": service})


async def switch(p: Portal, member: Member, service: str, endpoint_id: str, active: bool) -> None:
    """Pause an endpoint (what is queued for it waits, spending no tries; what happens meanwhile
    is not queued for it) or resume it: the service's PATCH `active`."""
    answer = await _on_endpoint(p, member, service, endpoint_id, "PATCH", "", 200, json={"active": active})
    await audit_answer(
        p, member, "webhook_resumed" if active else "webhook_paused", endpoint_id, answer, {"service": service}
    )


async def _on_endpoint(
    p: Portal, member: Member, service: str, endpoint_id: str, method: str, suffix: str, done: int, **kwargs: Any
) -> Answer:
    return await _on(p, member, service, method, f"{ENDPOINTS}/{segment(endpoint_id)}{suffix}", done, **kwargs)


async def _on(p: Portal, member: Member, service: str, method: str, path: str, done: int, **kwargs: Any) -> Answer:
    """An action on one endpoint or delivery; LookupError when it is not the organisation's (the
    service's 404), Refused when the service answers anything but `done`."""
    channel(member, service)
    answer = await _call(p, member, service, method, path, **kwargs)
    if answer.status == 404:
        raise LookupError(path)
    if answer.status != done:
        raise Refused("service_refused")
    return answer


async def _urls(p: Portal, member: Member, service: str) -> dict[str, str]:
    answer = await _call(p, member, service, "GET", ENDPOINTS)
    if answer.status != 200:
        raise Refused("service_refused")
    return {e["endpoint_id"]: e["url"] for e in answer.json()}


async def log(
    p: Portal, member: Member, service: str, status: str | None, after: str | None, endpoint: str | None = None
) -> Log:
    """A page of the service's delivery log, newest first (`status`: one of DELIVERY_STATUSES,
    else all; `endpoint`: only that endpoint's, one of the organisation's at the service)."""
    c = channel(member, service)
    params: dict[str, Any] = {"limit": LOG_PAGE}
    if status in DELIVERY_STATUSES:
        params["status"] = status
    if after:
        params["after"] = after[:200]
    if endpoint:
        params["endpoint_id"] = endpoint[:200]
    answer = await _call(p, member, service, "GET", DELIVERIES, params=params)
    if answer.status != 200:
        raise Refused("service_refused")
    page = answer.json()
    return Log(c, page["items"], page.get("next_after"), await _urls(p, member, service))


async def delivery(p: Portal, member: Member, service: str, delivery_id: str) -> tuple[Channel, dict[str, Any]]:
    """One delivery with its body and every attempt, and its endpoint's address (`url`, None
    when it was removed meanwhile); LookupError when it is not the organisation's."""
    c = channel(member, service)
    found = await one_of_ours(p, member, service, f"{DELIVERIES}/{segment(delivery_id)}")
    if found is None:
        raise LookupError(delivery_id)
    return c, {**found, "url": (await _urls(p, member, service)).get(found["endpoint_id"])}


async def redeliver(p: Portal, member: Member, service: str, delivery_id: str) -> None:
    """Send it again now with a fresh budget of tries (delivered or failed alike)."""
    answer = await _on(p, member, service, "POST", f"{DELIVERIES}/{segment(delivery_id)}/redeliver", 200)
    await audit_answer(p, member, "webhook_redelivered", delivery_id, answer, {"service": service})
