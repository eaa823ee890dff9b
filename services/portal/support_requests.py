"""A referring organisation's supportive-service requests (docs/portals.md, "Supportive
services"; docs/support.md): the directory of providers, asking one for a person the
organisation referred, following what came of it and withdrawing it, all through the support
service's API with the organisation's own key, so another organisation's requests and
referrals answer 404 here exactly as there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.portal import money
from services.portal.application import Portal, Refused, audit_answer, one_of_ours, paged, segment, send_once
from services.portal.domain import Member
from services.portal.employing import problem_message
from services.portal.messages import N_

REQUESTS_MAX = 2000  # what the list reads from the support service at most (4 pages of 500)
REASON_MAX = 500

SERVICE_TYPES = {
    "transportation": N_("Transportation"),
    "childcare": N_("Childcare"),
    "technology": N_("Technology, such as a laptop or internet"),
    "housing": N_("Housing"),
    "food": N_("Food"),
    "legal": N_("Legal help"),
    "financial_coaching": N_("Financial coaching"),
    "other": N_("Other support"),
}
REQUEST_STATES = {
    "requested": N_("Asked: waiting for the provider"),
    "accepted": N_("Accepted: the provider is arranging it"),
    "delivered": N_("Delivered"),
    "declined": N_("Declined by the provider"),
    "cancelled": N_("Withdrawn by your organisation"),
}
OPEN_STATES = ("requested", "accepted")
DECLINE_REASONS = {
    "not_eligible": N_("the person is not eligible"),
    "no_capacity": N_("the provider has no capacity"),
    "out_of_area": N_("outside the provider's area"),
    "unreachable": N_("the provider could not reach the person"),
    "duplicate": N_("a duplicate of another request"),
    "other": N_("another reason"),
}
MESSAGES = {
    "bad_referral": N_("Enter the id of one of your referrals, such as ref_…, as My referrals shows it."),
    "bad_provider": N_("Choose a provider."),
    "bad_service_type": N_("Choose the kind of support."),
    "bad_reason": N_("Say why the person needs it, in 1 to 500 characters."),
    **money.MESSAGES,
    "unknown_referral": N_(
        "The support service does not know this referral as yours. A referral made a moment ago takes a few "
        "seconds to reach it: try again shortly."
    ),
}


@dataclass(frozen=True)
class ServiceRequestForm:
    referral_id: str
    provider_id: str
    service_type: str
    reason: str
    amount: str
    currency: str
    form_id: str  # the form's own id: submitting it twice asks once (Idempotency-Key)

    def problems(self) -> dict[str, str]:
        """Field -> message id, for what the portal can tell before asking the service."""
        found: dict[str, str] = {}
        if not re.fullmatch(r"[\x21-\x7e]{1,100}", self.referral_id.strip()):
            found["referral_id"] = "bad_referral"
        if not self.provider_id.strip():
            found["provider_id"] = "bad_provider"
        if self.service_type not in SERVICE_TYPES:
            found["service_type"] = "bad_service_type"
        if not 1 <= len(self.reason.strip()) <= REASON_MAX:
            found["reason"] = "bad_reason"
        found.update(money.problems(self.amount, self.currency))
        return found

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "provider_id": self.provider_id.strip(),
            "service_type": self.service_type,
            "referral_id": self.referral_id.strip(),
            "reason": self.reason.strip(),
        }
        asked = money.body(self.amount, self.currency)
        if asked is not None:
            body["amount_requested"] = asked
        return body


@dataclass(frozen=True)
class Asked:
    request_id: str | None
    problem: str | None = None  # a message id of MESSAGES, or None
    service_problem: str | None = None  # the service's own words (its problem detail), as a line


def _requester(member: Member, write: bool = False) -> None:
    if not member.refers or (write and not member.may_write):
        raise Refused("not_allowed")


async def providers(p: Portal, member: Member) -> list[dict[str, Any]]:
    """The directory: every provider and what it offers."""
    _requester(member)
    assert p.services is not None
    answer = await p.services.call(member, "support", "GET", "/v1/service-providers")
    if answer.status != 200:
        raise Refused("service_refused")
    return answer.json()


async def requests(p: Portal, member: Member) -> list[dict[str, Any]]:
    """The organisation's requests, newest first, as the support service holds them now."""
    _requester(member)
    items = await paged(p, member, "support", "/v1/service-requests", REQUESTS_MAX)
    items.sort(key=lambda r: r["cursor"], reverse=True)
    return items


async def one(p: Portal, member: Member, request_id: str) -> dict[str, Any] | None:
    """One request of the organisation, None when it is not theirs (or does not exist)."""
    _requester(member)
    found = await one_of_ours(p, member, "support", f"/v1/service-requests/{segment(request_id)}")
    if found is None or "referral_id" not in found:  # addressed to it as a provider: not its request
        return None
    return found


async def ask(p: Portal, member: Member, form: ServiceRequestForm) -> Asked:
    _requester(member, write=True)
    answer = await send_once(p, member, "support", "POST", "/v1/service-requests", form.body(), form.form_id)
    doc = answer.json()
    if answer.status in (200, 201):
        await audit_answer(p, member, "service_requested", doc["request_id"], answer)
        return Asked(doc["request_id"])
    if answer.status == 404 and "referral" in str(doc.get("detail", "")).lower():
        return Asked(None, "unknown_referral")
    if answer.status in (404, 409, 422):
        return Asked(None, service_problem=problem_message(doc))
    raise Refused("service_refused")


async def cancel(p: Portal, member: Member, request_id: str, reason: str, form_id: str) -> str | None:
    """Withdraw the request: None when done, else the service's refusal as a line (a request
    already delivered or declined); LookupError when it is not the organisation's."""
    _requester(member, write=True)
    if await one(p, member, request_id) is None:
        raise LookupError(request_id)
    path = f"/v1/service-requests/{segment(request_id)}/cancel"
    answer = await send_once(p, member, "support", "POST", path, {"reason": reason.strip()[:REASON_MAX]}, form_id)
    if answer.status == 404:
        raise LookupError(request_id)
    if answer.status == 200:
        await audit_answer(p, member, "service_cancelled", request_id, answer)
        return None
    if answer.status in (409, 422):
        return problem_message(answer.json())
    raise Refused("service_refused")
