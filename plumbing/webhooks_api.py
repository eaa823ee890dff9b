"""The webhooks API an owner uses to manage its endpoints and see its deliveries.

One router per kind of owner: the employer gateway mounts it for employers, outcomes for
partners. Every route is under /v1/webhooks/ (API keys need the `webhooks` scope); another
owner's endpoint or delivery id answers 404, as a missing one does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from plumbing import problems, webhooks
from plumbing.auth import Kind, Principal, principal, require
from plumbing.destinations import Destinations
from plumbing.service import pool_of

Caller = Annotated[Principal, Depends(principal)]
ERRORS = problems.responses(400, 401, 403, 404, 422)


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000, examples=["https://ats.example.com/talentloop/webhooks"])
    event_types: list[str] = Field(default_factory=list, description="Only these event types; empty: all.")


class EndpointPatch(BaseModel):
    # minProperties: the document says what `something` checks (a null is "unchanged").
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    url: str | None = Field(default=None, max_length=2000)
    event_types: list[str] | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def something(self) -> EndpointPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to update")
        return self


def destinations_of(request: Request) -> Destinations:
    """The app's rule for where tenants' webhooks may point (a test may set its own resolver)."""
    found = getattr(request.app.state, "destinations", None)
    if found is None:
        found = Destinations(allow_loopback_http=request.app.state.settings.webhooks_allow_loopback_http)
        request.app.state.destinations = found
    return found


def router_for(kind: Kind, events_sent: list[str]) -> APIRouter:
    """The routes for owners of `kind`; `events_sent` are the event types they may receive."""
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
    description = "Event types sent: " + ", ".join(f"`{t}`" for t in events_sent) + ". See docs/webhooks.md."

    def owner(who: Principal) -> str:
        require(who, kind)
        return who.ref

    def box(request: Request) -> webhooks.SecretBox:
        return request.app.state.webhook_box

    async def checked(request: Request, url: str) -> str:
        """Where `url` may point is judged now, resolving its name (and again at every delivery)."""
        try:
            await destinations_of(request).resolve(url)
        except webhooks.BadUrl as exc:
            raise bad_url(exc) from None
        return url

    def bad_url(exc: webhooks.BadUrl) -> problems.Problem:
        return problems.Problem(
            422,
            "validation",
            "Request is not valid",
            str(exc),
            errors=[{"field": "url", "code": "bad_url", "message": str(exc)}],
        )

    def check_types(event_types: list[str] | None) -> None:
        """A filter naming a type never sent would silently receive nothing: refuse it."""
        unknown = sorted(set(event_types or []) - set(events_sent))
        if unknown:
            message = f"not sent here: {', '.join(unknown)}; the types sent are {', '.join(events_sent)}"
            raise problems.Problem(
                422,
                "validation",
                "Request is not valid",
                message,
                errors=[{"field": "event_types", "code": "unknown_event_type", "message": message}],
            )

    @router.post(
        "/endpoints",
        status_code=201,
        summary="Register an endpoint (its secret is shown once)",
        description=description,
        responses=ERRORS,
    )
    async def create(body: EndpointIn, request: Request, who: Caller) -> dict[str, Any]:
        ref = owner(who)
        check_types(body.event_types)
        url = await checked(request, body.url)
        async with pool_of(request).acquire() as conn:
            view, secret = await webhooks.create_endpoint(conn, box(request), ref, url, body.event_types)
        return {**view, "secret": secret}

    @router.get("/endpoints", summary="Your endpoints", responses=ERRORS)
    async def list_(request: Request, who: Caller) -> list[dict[str, Any]]:
        return await webhooks.list_endpoints(pool_of(request), owner(who))

    @router.patch(
        "/endpoints/{endpoint_id}", summary="Change an endpoint's URL, event types or switch it off", responses=ERRORS
    )
    async def update(endpoint_id: str, body: EndpointPatch, request: Request, who: Caller) -> dict[str, Any]:
        ref = owner(who)
        check_types(body.event_types)
        changes = body.model_dump(exclude_unset=True)
        if changes.get("url") is not None:
            # Another owner's endpoint is not found before its new URL is judged: the answer
            # (and the name resolution it costs) must not depend on what a foreign id would get.
            if endpoint_id not in {e["endpoint_id"] for e in await webhooks.list_endpoints(pool_of(request), ref)}:
                raise problems.not_found("endpoint")
            await checked(request, changes["url"])
        async with pool_of(request).acquire() as conn:
            view = await webhooks.update_endpoint(conn, ref, endpoint_id, changes)
        if view is None:
            raise problems.not_found("endpoint")
        return view

    @router.delete(
        "/endpoints/{endpoint_id}", status_code=204, summary="Remove an endpoint and its deliveries", responses=ERRORS
    )
    async def delete(endpoint_id: str, request: Request, who: Caller) -> Response:
        async with pool_of(request).acquire() as conn:
            if not await webhooks.delete_endpoint(conn, owner(who), endpoint_id):
                raise problems.not_found("endpoint")
        return Response(status_code=204)

    @router.post(
        "/endpoints/{endpoint_id}/rotate-secret",
        summary="A new signing secret (shown once); the old one keeps signing for the grace period",
        responses=ERRORS,
    )
    async def rotate(endpoint_id: str, request: Request, who: Caller) -> dict[str, Any]:
        grace = timedelta(seconds=request.app.state.settings.webhook_rotation_grace_s)
        async with pool_of(request).acquire() as conn:
            found = await webhooks.rotate_secret(conn, box(request), owner(who), endpoint_id, grace)
        if found is None:
            raise problems.not_found("endpoint")
        view, secret = found
        return {**view, "secret": secret}

    @router.get("/deliveries", summary="The delivery log, newest first (paged)", responses=ERRORS)
    async def deliveries(
        request: Request,
        who: Caller,
        status: Literal["pending", "delivered", "failed"] | None = None,
        after: Annotated[
            str | None, Query(max_length=200, description="The last delivery id of the previous page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        endpoint_id: Annotated[str | None, Query(max_length=200, description="Only this endpoint's")] = None,
    ) -> dict[str, Any]:
        items = await webhooks.list_deliveries(pool_of(request), owner(who), status, after, limit, endpoint_id)
        return {"items": items, "next_after": items[-1]["delivery_id"] if len(items) == limit else None}

    @router.get("/deliveries/{delivery_id}", summary="One delivery: its body and every attempt", responses=ERRORS)
    async def delivery(delivery_id: str, request: Request, who: Caller) -> dict[str, Any]:
        found = await webhooks.delivery(pool_of(request), owner(who), delivery_id)
        if found is None:
            raise problems.not_found("delivery")
        return found

    @router.post(
        "/deliveries/{delivery_id}/redeliver", summary="Send a delivery again now (failed or not)", responses=ERRORS
    )
    async def redeliver(delivery_id: str, request: Request, who: Caller) -> dict[str, Any]:
        async with pool_of(request).acquire() as conn:
            found = await webhooks.redeliver(conn, owner(who), delivery_id)
        if found is None:
            raise problems.not_found("delivery")
        return found

    return router
