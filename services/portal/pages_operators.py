"""The coalition's operators' pages (what the console's were): live events, consumer lag and
health, dead letters with replay, parked outbox rows with retry and discard, the funnel and good
jobs. Every user of the operators' organisation sees them; admins and staff act, read-only users
do not (403 before the console is asked). Other organisations get 403."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import httpx
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response, StreamingResponse

from services.portal import domain, operators, store, web
from services.portal.application import Refused
from services.portal.domain import Member
from services.portal.pages_account import Signed, portal_of

T = TypeVar("T")
router = APIRouter(prefix="/operators", include_in_schema=False, dependencies=[Depends(web.verify_csrf)])
SERVICES = ("intake", "routing", "employer_gateway", "outcomes", "support")  # those with dead letters


def _operating(who: Member, act: bool = False) -> None:
    if not who.is_operator or (act and not who.may_write):
        raise web.PageError(403, "not_allowed")


async def _asked(call: Awaitable[T]) -> T:
    """The console's (or outcomes') answer; what they refuse as the error page (404, else 502)."""
    try:
        return await call
    except Refused as refused:
        raise web.PageError(404 if refused.code == "not_found" else 502, refused.code) from None


def _notice(done: str, subject: str) -> dict[str, str] | None:
    """The result a redirect after an action names (only codes the page has words for)."""
    return {"result": done, "subject": subject[:200], "detail": ""} if done in operators.RESULTS else None


async def _outcome_page(request: Request, template: str, outcome: operators.Outcome, back: str) -> Response:
    """After an action: to the list with its result, or the list with the console's refusal."""
    if outcome.result == "refused":
        notice = {"result": outcome.result, "subject": outcome.subject, "detail": outcome.detail}
        return await _pages[template](request, notice=notice, status=outcome.status)
    return web.redirect(request, f"{back}?done={outcome.result}&subject={outcome.subject}")


# --- live events -------------------------------------------------------------------------------


@router.get("/events")
async def events(
    request: Request, who: Signed, type: str = "", partner: str = "", employer: str = "", referral: str = ""
) -> Response:
    _operating(who)
    chosen = {"type": type, "partner": partner, "employer": employer, "referral": referral}
    query = httpx.QueryParams({k: v.strip() for k, v in chosen.items() if v.strip()})
    return await web.page(
        request, "operators/events.html", chosen=chosen, stream_url=f"/operators/events/stream?{query}"
    )


@router.get("/events/stream")
async def event_stream(
    request: Request,
    who: Signed,
    type: Annotated[str, Query(max_length=500)] = "",
    partner: Annotated[str, Query(max_length=200)] = "",
    employer: Annotated[str, Query(max_length=200)] = "",
    referral: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The console's stream (server-sent events) relayed to the browser. It ends when the browser
    leaves, or at the first keep-alive after the session ended (signed out, access taken away)."""
    _operating(who)
    p = portal_of(request)
    assert p.services is not None
    params = [("type", t.strip()) for t in type.split(",") if t.strip()]
    params += [
        (k, v.strip()) for k, v in (("partner", partner), ("employer", employer), ("referral", referral)) if v.strip()
    ]
    _, opened = await p.services.stream(
        who, operators.CONSOLE, "GET", "/api/stream", params=params, timeout=httpx.Timeout(30.0, read=None)
    )
    token = request.cookies.get(web.COOKIE, "")

    async def relay() -> Any:
        try:
            async with opened as answer:
                if answer.status_code != 200:
                    yield b"event: failed\ndata: {}\n\n"
                    return
                async for chunk in answer.aiter_raw():
                    yield chunk
                    if (
                        b": keep-alive" in chunk
                        and await store.session(p.pool, domain.token_hash(token), web.now()) is None
                    ):
                        return
        except httpx.HTTPError:
            yield b"event: failed\ndata: {}\n\n"

    return web.respond(
        request, StreamingResponse(relay(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})
    )


# --- lag and health ----------------------------------------------------------------------------


@router.get("/lag")
async def lag(request: Request, who: Signed) -> Response:
    _operating(who)
    groups = await _asked(operators.lag(portal_of(request), who))
    return await web.page(request, "operators/lag.html", groups=groups, behind=sum(1 for g in groups if g["lag"]))


@router.get("/health")
async def health(request: Request, who: Signed) -> Response:
    _operating(who)
    report = await _asked(operators.health(portal_of(request), who))
    checks = [("broker", report["broker"]), ("database", report["database"]), *report["services"].items()]
    return await web.page(request, "operators/health.html", report=report, checks=checks)


# --- dead letters ------------------------------------------------------------------------------


async def _dead_letters_page(request: Request, notice: dict[str, str] | None = None, status: int = 200) -> Response:
    who = await web.member_of(request)
    service = request.query_params.get("service", "")
    service = service if service in SERVICES else ""
    letters = await _asked(operators.dead_letters(portal_of(request), who, service or None))
    return await web.page(
        request,
        "operators/dead_letters.html",
        status=status,
        letters=letters,
        services=SERVICES,
        chosen=service,
        notice=notice,
        results=operators.RESULTS,
    )


@router.get("/dead-letters")
async def dead_letters(request: Request, who: Signed, done: str = "", subject: str = "") -> Response:
    _operating(who)
    return await _dead_letters_page(request, _notice(done, subject))


@router.post("/dead-letters/{letter_id}/replay")
async def replay(request: Request, who: Signed, letter_id: str) -> Response:
    _operating(who, act=True)
    outcome = await _asked(operators.replay(portal_of(request), who, letter_id[:200]))
    return await _outcome_page(request, "dead_letters", outcome, "/operators/dead-letters")


# --- parked outbox rows ------------------------------------------------------------------------


async def _outbox_page(request: Request, notice: dict[str, str] | None = None, status: int = 200) -> Response:
    who = await web.member_of(request)
    rows = await _asked(operators.parked_outbox(portal_of(request), who))
    return await web.page(
        request, "operators/outbox.html", status=status, rows=rows, notice=notice, results=operators.RESULTS
    )


@router.get("/outbox")
async def outbox(request: Request, who: Signed, done: str = "", subject: str = "") -> Response:
    _operating(who)
    return await _outbox_page(request, _notice(done, subject))


@router.post("/outbox/{service}/{row_id}/retry")
async def retry(request: Request, who: Signed, service: str, row_id: int) -> Response:
    _operating(who, act=True)
    outcome = await _asked(operators.retry(portal_of(request), who, service[:40], row_id))
    return await _outcome_page(request, "outbox", outcome, "/operators/outbox")


@router.post("/outbox/{service}/{row_id}/discard")
async def discard(
    request: Request, who: Signed, service: str, row_id: int, sure: Annotated[str, Form()] = ""
) -> Response:
    _operating(who, act=True)
    outcome = await _asked(operators.discard(portal_of(request), who, service[:40], row_id, sure == "yes"))
    return await _outcome_page(request, "outbox", outcome, "/operators/outbox")


_pages = {"dead_letters": _dead_letters_page, "outbox": _outbox_page}


# --- the funnel and good jobs ------------------------------------------------------------------


@router.get("/funnel")
async def funnel(request: Request, who: Signed) -> Response:
    _operating(who)
    counts, good = await _asked(operators.funnel(portal_of(request), who))
    return await web.page(request, "operators/funnel.html", funnel=counts, good=good, stages=operators.STAGES)
