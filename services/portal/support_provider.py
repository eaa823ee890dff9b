"""A service provider's side of supportive services (docs/portals.md, "A service provider's
side"; docs/support.md, "As a service provider"): its entry in the directory, the requests
addressed to it and its answers (accept, decline with a reason, record the delivery), all
through the support service's API with the organisation's own key. The service shows a provider
the kind of support, the requester's reason and the amount asked, never which referral or
enrollment a request is about, and the portal shows no more; another organisation's request
answers 404 here exactly as there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from services.portal import money, store
from services.portal.application import Portal, Refused, audit_answer, one_of_ours, paged, segment, send_once
from services.portal.domain import Member
from services.portal.employing import problem_message
from services.portal.messages import N_
from services.portal.support_requests import OPEN_STATES, SERVICE_TYPES

OPEN_MAX = 2000  # the open requests the list reads at most (4 pages of 500)
PAGE = 100  # an ended state's requests, a page at a time (the service lists oldest first)
NAME_MAX = 200
DETAIL_MAX = 1000

# The states as the provider reads them (support_requests.REQUEST_STATES are the requester's words).
STATES = {
    "requested": N_("New: waiting for your answer"),
    "accepted": N_("Accepted: to deliver"),
    "delivered": N_("Delivered"),
    "declined": N_("Declined by you"),
    "cancelled": N_("Withdrawn by the requester"),
}
# The contracts' reason codes (events.ServiceDeclineReason), in the provider's words.
DECLINE_REASONS = {
    "not_eligible": N_("The person is not eligible"),
    "no_capacity": N_("We have no capacity"),
    "out_of_area": N_("Outside our area"),
    "unreachable": N_("We could not reach the person"),
    "duplicate": N_("A duplicate of another request"),
    "other": N_("Another reason (say which)"),
}
STEPS = {"accept": "service_accepted", "decline": "service_declined", "deliver": "service_delivered"}  # -> audit
MESSAGES = {
    "bad_name": N_("Enter your organisation's name as requesters should see it, in 1 to 200 characters."),
    "bad_service_types": N_("Tick at least one kind of support you offer."),
    "bad_reason_code": N_("Choose why you decline it."),
    "bad_detail": N_("Say why in a few words (up to 1,000 characters): the reason 'another reason' needs them."),
    "bad_date": N_("Enter the day it was delivered."),
    **money.MESSAGES,
    "not_in_directory": N_(
        "Your organisation is not in the directory yet: requesters cannot ask you until you enter it."
    ),
}


@dataclass(frozen=True)
class EntryForm:
    """The organisation's entry in the directory: its name and the kinds of support it offers."""

    name: str
    service_types: tuple[str, ...]
    form_id: str

    def problems(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if not 1 <= len(" ".join(self.name.split())) <= NAME_MAX:
            found["name"] = "bad_name"
        if not self.service_types or any(t not in SERVICE_TYPES for t in self.service_types):
            found["service_types"] = "bad_service_types"
        return found

    def body(self) -> dict[str, Any]:
        kinds = [t for t in SERVICE_TYPES if t in self.service_types]  # each once, in the directory's order
        return {"name": " ".join(self.name.split()), "service_types": kinds}


@dataclass(frozen=True)
class Answering:
    """One of the provider's answers to a request, from its form: the service's body."""

    step: str  # accept, decline or deliver
    form_id: str  # the form's own id: a double click answers once (Idempotency-Key)
    reason_code: str = ""
    detail: str = ""
    delivered_on: str = ""
    amount: str = ""
    currency: str = ""

    def problems(self) -> dict[str, str]:
        """Field -> message id, for what the portal can tell before asking the service."""
        found: dict[str, str] = {}
        if self.step == "decline":
            if self.reason_code not in DECLINE_REASONS:
                found["reason_code"] = "bad_reason_code"
            if len(self.detail.strip()) > DETAIL_MAX or (self.reason_code == "other" and not self.detail.strip()):
                found["detail"] = "bad_detail"
        elif self.step == "deliver":
            try:
                date.fromisoformat(self.delivered_on.strip())
            except ValueError:
                found["delivered_on"] = "bad_date"
            found.update(money.problems(self.amount, self.currency))
        return found

    def body(self) -> dict[str, Any] | None:
        if self.step == "decline":
            return {"reason_code": self.reason_code, **({"detail": self.detail.strip()} if self.detail.strip() else {})}
        if self.step == "deliver":
            value = money.body(self.amount, self.currency)
            return {"delivered_on": self.delivered_on.strip(), **({"value": value} if value else {})}
        return None


def require(member: Member, write: bool = False) -> None:
    """A service provider's own pages: 403 to other kinds, and to a read-only user for a form."""
    if member.org_kind != "service_provider" or (write and not member.may_write):
        raise Refused("not_allowed")


async def entry(p: Portal, member: Member) -> dict[str, Any] | None:
    """The organisation's entry in the directory, None before it enters."""
    require(member)
    return await one_of_ours(p, member, "support", "/v1/service-provider")


async def enter(p: Portal, member: Member, form: EntryForm) -> str | None:
    """Enter the directory or change the entry: None when done, else the service's refusal as a line."""
    require(member, write=True)
    answer = await send_once(p, member, "support", "POST", "/v1/service-provider", form.body(), form.form_id)
    if answer.status in (200, 201):
        doc = answer.json()
        event = (doc.get("event") or {}).get("type")
        await audit_answer(p, member, "provider_entry_saved", doc["provider_id"], answer, {"event": event})
        return None
    if answer.status in (409, 422):
        return problem_message(answer.json())
    raise Refused("service_refused")


async def addressed(
    p: Portal, member: Member, state: str | None, after: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """The requests addressed to the organisation and the cursor of the next page (None: no more).
    The open ones (`state` None) are read whole, those waiting longest first; an ended state's
    a page at a time, oldest first, as the service lists them."""
    require(member)
    if state is None:
        items: list[dict[str, Any]] = []
        for open_state in OPEN_STATES:
            items.extend(await _read(p, member, open_state, None, OPEN_MAX - len(items)))
        items.sort(key=lambda r: (r["due_at"] or "9999", r["cursor"]))
        return items, None
    page = await _read(p, member, state, after, PAGE)
    return page, (page[-1]["cursor"] if len(page) == PAGE else None)


async def _read(p: Portal, member: Member, state: str, after: int | None, at_most: int) -> list[dict[str, Any]]:
    return await paged(p, member, "support", "/v1/service-provider/requests", at_most, {"status": state}, after)


async def one(p: Portal, member: Member, request_id: str) -> dict[str, Any] | None:
    """One request addressed to the organisation, None when it is not (another organisation's,
    one the organisation made as a requester, or none)."""
    require(member)
    found = await one_of_ours(p, member, "support", f"/v1/service-requests/{segment(request_id)}")
    if found is None or found["provider_id"] != await tenant_of(p, member):
        return None
    return found


async def tenant_of(p: Portal, member: Member) -> str:
    """The organisation's network id: the provider id the service knows it by."""
    org = await store.org(p.pool, member.org_id)
    assert org is not None
    return org["tenant_id"]


async def requesters(p: Portal) -> dict[str, str]:
    """The organisations' names by network id: who asked, as the portal knows them."""
    return {o["tenant_id"]: o["name"] for o in await store.orgs(p.pool)}


async def answer(p: Portal, member: Member, request_id: str, form: Answering) -> tuple[int, str] | None:
    """Accept, decline or record the delivery: None when done, else the service's refusal (its
    status and its words as a line: a request withdrawn meanwhile 409, a day before the request
    422); LookupError when the
    request is not addressed to the organisation."""
    require(member, write=True)
    if form.step not in STEPS:
        raise LookupError(form.step)
    if await one(p, member, request_id) is None:
        raise LookupError(request_id)
    path = f"/v1/service-requests/{segment(request_id)}/{form.step}"
    done = await send_once(p, member, "support", "POST", path, form.body(), form.form_id)
    if done.status == 404:
        raise LookupError(request_id)
    if done.status == 200:
        detail = {"reason_code": form.reason_code} if form.step == "decline" else None
        await audit_answer(p, member, STEPS[form.step], request_id, done, detail)
        return None
    if done.status in (409, 422):
        return done.status, problem_message(done.json())
    raise Refused("service_refused")
