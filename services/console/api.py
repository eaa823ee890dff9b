"""The console's JSON API and its live stream (server-sent events); operators only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from plumbing import problems
from plumbing.operations import OperationError, Operations, TailFilter
from services.console.sessions import Operator, operator, require_operator

router = APIRouter(prefix="/api", tags=["console"])
Caller = Annotated[Operator, Depends(require_operator)]
KEEP_ALIVE_S = 10.0


def ops_of(request: Request) -> Operations:
    return request.app.state.ops


def _problem(exc: OperationError, status: int = 409) -> problems.Problem:
    return problems.Problem(status, "operation-refused", "Operation refused", str(exc))


async def outcomes(request: Request, who: Operator, path: str) -> dict[str, Any]:
    """GET from the outcomes service with the operator's own key."""
    url = ops_of(request).service_urls.get("outcomes")
    if url is None:
        raise problems.Problem(503, "unavailable", "Outcomes unknown", "no outcomes URL is configured")
    try:
        async with httpx.AsyncClient(timeout=15.0) as client:
            r = await client.get(f"{url}{path}", headers={"Authorization": f"Bearer {who.key}"})
    except httpx.HTTPError as exc:
        raise problems.Problem(503, "unavailable", "Outcomes unreachable", f"{url}: {type(exc).__name__}") from None
    if r.status_code != 200:
        raise problems.Problem(502, "upstream-error", "Outcomes answered an error", f"{path}: HTTP {r.status_code}")
    return r.json()


def tail_filter(types: list[str], partner: str | None, employer: str | None, referral: str | None) -> TailFilter:
    return TailFilter(
        tuple(t.strip() for t in types if t.strip()),
        (partner or "").strip() or None,
        (employer or "").strip() or None,
        (referral or "").strip() or None,
    )


def sse_message(view: dict[str, Any]) -> str:
    """An event view as a server-sent event: `event` for events, `undecodable` for records no
    consumer can read (their position, key and reason, never their bytes)."""
    kind = "undecodable" if view.get("undecodable") else "event"
    return f"event: {kind}\ndata: {json.dumps(view)}\n\n"


@router.get("/stream", summary="Live events (server-sent events), filtered; ids and status fields only")
async def stream(
    request: Request,
    who: Caller,
    type: Annotated[list[str], Query(description="Event type or prefix; repeatable")] = [],  # noqa: B006
    partner: str | None = None,
    employer: str | None = None,
    referral: str | None = None,
) -> StreamingResponse:
    filt = tail_filter(type, partner, employer, referral)
    tail = ops_of(request).tail(filt)

    async def events() -> AsyncIterator[str]:
        async with tail:
            yield "event: ready\ndata: {}\n\n"  # positions are fixed: whatever happens from now on is shown
            async for view in tail.events(idle_s=KEEP_ALIVE_S):
                if view is not None:
                    yield sse_message(view)
                    continue
                if await request.is_disconnected() or await operator(request) is None:
                    return  # gone, or the key was revoked
                yield ": keep-alive\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@router.get("/lag", summary="Consumer lag per service, topic and partition")
async def lag(request: Request, who: Caller, service: str | None = None) -> list[dict[str, Any]]:
    try:
        return [g.to_dict() for g in await ops_of(request).lag(service)]
    except OperationError as exc:
        raise _problem(exc, 503) from None


@router.get("/dead-letters", summary="Dead letters with their reasons (never their payloads)")
async def dead_letters(request: Request, who: Caller, service: str | None = None) -> list[dict[str, Any]]:
    try:
        return [d.summary() for d in await ops_of(request).dead_letters(service)]
    except OperationError as exc:
        raise _problem(exc, 422) from None


@router.post("/dead-letters/{letter_id}/replay", summary="Replay one dead letter to its original topic (once)")
async def replay(letter_id: str, request: Request, who: Caller) -> dict[str, Any]:
    try:
        result = await ops_of(request).replay_dead_letter(letter_id, by=who.acting)
    except OperationError as exc:
        raise _problem(exc) from None
    return result.to_dict()


@router.get("/outbox", summary="Parked outbox rows of every service (never their contents)")
async def parked_outbox(request: Request, who: Caller, service: str | None = None) -> list[dict[str, Any]]:
    try:
        return [r.to_dict() for r in await ops_of(request).parked_outbox(service)]
    except OperationError as exc:
        raise _problem(exc, 422) from None


@router.post("/outbox/{service}/{row_id}/retry", summary="Release one parked outbox row: the relay tries it again")
async def retry_outbox(service: str, row_id: int, request: Request, who: Caller) -> dict[str, Any]:
    try:
        (change,) = await ops_of(request).retry_outbox(service, [row_id])
    except OperationError as exc:
        raise _problem(exc, 422) from None
    if change.not_parked:
        raise _problem(OperationError(f"{service} outbox row {row_id} is not parked"))
    return change.to_dict()


@router.post(
    "/outbox/{service}/{row_id}/discard",
    summary="Discard one parked outbox row: never published, kept and marked; its key flows again",
)
async def discard_outbox(service: str, row_id: int, request: Request, who: Caller) -> dict[str, Any]:
    try:
        change = await ops_of(request).discard_outbox(service, [row_id], by=who.acting)
    except OperationError as exc:
        raise _problem(exc, 422) from None
    if change.not_parked:
        raise _problem(OperationError(f"{service} outbox row {row_id} is not parked"))
    return change.to_dict()


@router.get("/health", summary="Every service's /health, the broker and the database")
async def health(request: Request, who: Caller) -> dict[str, Any]:
    return await ops_of(request).health()


@router.get("/funnel", summary="The funnel, from outcomes")
async def funnel(request: Request, who: Caller) -> dict[str, Any]:
    return await outcomes(request, who, "/v1/funnel")


@router.get("/good-jobs", summary="Good jobs, from outcomes' reports")
async def good_jobs(request: Request, who: Caller) -> dict[str, Any]:
    return (await outcomes(request, who, "/v1/reports"))["good_jobs"]
