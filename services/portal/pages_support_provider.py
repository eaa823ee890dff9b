"""A service provider's pages (docs/portals.md, "A service provider's side"): the requests
addressed to the organisation by state, one request with what the requester said, and the
answers the support service takes (accept, decline with a reason, record the delivery); its
entry in the directory. Other kinds of organisation get 403; read-only users see the pages
without the forms (403 if they post anyway, before the service is asked)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.portal import support_provider, support_requests, web
from services.portal.application import Refused
from services.portal.domain import Member
from services.portal.pages_account import Signed, portal_of
from services.portal.support_provider import Answering, EntryForm

router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])
WORDS = {
    "service_types": support_requests.SERVICE_TYPES,
    "states": support_provider.STATES,
    "decline_reasons": support_provider.DECLINE_REASONS,
    "messages": support_provider.MESSAGES,
}
ENDED = ("delivered", "declined", "cancelled")


@contextlib.contextmanager
def _as_pages() -> Iterator[None]:
    """A use case's refusal as the page (403, or 502 when the service refused), a request not
    addressed to the organisation as 404."""
    try:
        yield
    except Refused as refused:
        raise web.refusal_page(refused.code) from None
    except LookupError:
        raise web.PageError(404, "not_found") from None


def _allowed(who: Member, write: bool = False) -> None:
    with _as_pages():
        support_provider.require(who, write)


@router.get("/provider/requests")
async def requests(request: Request, who: Signed, state: str = "", after: str = "") -> Response:
    _allowed(who)
    p = portal_of(request)
    chosen = state if state in ENDED else None  # else the open ones, whole
    cursor = int(after) if chosen and after.isdigit() and len(after) < 19 else None
    with _as_pages():
        items, next_after = await support_provider.addressed(p, who, chosen, cursor)
        entry = await support_provider.entry(p, who)
    return await web.page(
        request,
        "support_provider.html",
        items=items,
        next_after=next_after,
        chosen=chosen or "",
        ended=ENDED,
        waiting=sum(1 for i in items if i["waiting_too_long"]),
        in_directory=entry is not None,
        requesters=await support_provider.requesters(p),
        **WORDS,
    )


async def _request_page(request: Request, who: Member, request_id: str, status: int = 200, **context: Any) -> Response:
    p = portal_of(request)
    with _as_pages():
        found = await support_provider.one(p, who, request_id)
    if found is None:
        raise web.PageError(404, "not_found")
    today = p.network_clock().astimezone(p.calendar.tz).date()  # the day in the network's business time zone
    context.setdefault("problems", {})
    context.setdefault("form", {})
    return await web.page(
        request,
        "support_provider_request.html",
        status=status,
        r=found,
        requester=(await support_provider.requesters(p)).get(found["requester_id"]),
        today=today.isoformat(),
        form_id=uuid.uuid4().hex,
        **WORDS,
        **context,
    )


@router.get("/provider/requests/{request_id}")
async def one_request(request: Request, who: Signed, request_id: str, done: str = "") -> Response:
    _allowed(who)
    return await _request_page(request, who, request_id, done=done if done in support_provider.STEPS else "")


@router.post("/provider/requests/{request_id}/{step}")
async def answer(
    request: Request,
    who: Signed,
    request_id: str,
    step: str,
    form_id: Annotated[str, Form(max_length=64)] = "",
    reason_code: Annotated[str, Form(max_length=40)] = "",
    detail: Annotated[str, Form(max_length=4000)] = "",
    delivered_on: Annotated[str, Form(max_length=40)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    currency: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    _allowed(who, write=True)
    if step not in support_provider.STEPS:
        raise web.PageError(404, "not_found")
    form = Answering(step, form_id or uuid.uuid4().hex, reason_code, detail, delivered_on, amount, currency)
    problems = form.problems()
    if problems:
        values = {"step": step, "reason_code": reason_code, "detail": detail, "delivered_on": delivered_on}
        values |= {"amount": amount, "currency": currency}
        return await _request_page(request, who, request_id, 422, problems=problems, form=values)
    with _as_pages():
        refusal = await support_provider.answer(portal_of(request), who, request_id, form)
    if refusal is not None:
        return await _request_page(request, who, request_id, refusal[0], problem=refusal[1])
    return web.redirect(request, f"/provider/requests/{request_id}?done={step}")


async def _entry_page(request: Request, who: Member, status: int = 200, **context: Any) -> Response:
    with _as_pages():
        entry = await support_provider.entry(portal_of(request), who)
    form = context.pop("form", None) or {
        "name": entry["name"] if entry else (await web.visitor(request)).user.get("org_name") or "",
        "service_types": entry["service_types"] if entry else [],
    }
    context.setdefault("problems", {})
    return await web.page(
        request,
        "support_provider_entry.html",
        status=status,
        entry=entry,
        form=form,
        form_id=uuid.uuid4().hex,
        **WORDS,
        **context,
    )


@router.get("/provider/entry")
async def entry(request: Request, who: Signed, saved: str = "") -> Response:
    _allowed(who)
    return await _entry_page(request, who, saved=bool(saved))


@router.post("/provider/entry")
async def enter(
    request: Request,
    who: Signed,
    form_id: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    service_types: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006 - FastAPI copies a form's default
) -> Response:
    _allowed(who, write=True)
    form = EntryForm(name, tuple(service_types), form_id or uuid.uuid4().hex)
    problems = form.problems()
    values = {"name": name, "service_types": list(service_types)}
    if problems:
        return await _entry_page(request, who, 422, problems=problems, form=values)
    with _as_pages():
        refusal = await support_provider.enter(portal_of(request), who, form)
    if refusal is not None:
        return await _entry_page(request, who, 422, problem=refusal, form=values)
    return web.redirect(request, "/provider/entry?saved=1")
