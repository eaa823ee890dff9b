"""`/v1/keys`: every caller lists and rotates its own API keys; operators issue and revoke any.

Mounted by plumbing/service.py in every service (the keys are shared, so any service answers).
These POSTs ignore Idempotency-Key: a replayed answer would have to keep the new key's
plaintext, which is never stored. Rotating twice answers 409, so a retry cannot mint two keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from contracts.bounds import ID_MAX
from plumbing import problems
from plumbing.apikeys import ApiKeys, KeyConflict, KeyInfo, KeyNotFound
from plumbing.auth import Kind, Principal, Scope, principal, require

router = APIRouter(prefix="/v1/keys", tags=["API keys"])
Caller = Annotated[Principal, Depends(principal)]


class PrincipalRef(BaseModel):
    kind: Kind
    id: str = Field(min_length=1, max_length=ID_MAX, pattern=r"^[\x21-\x7e]+$")


class KeyOut(BaseModel):
    """An API key as listed: never its secret."""

    key_id: str = Field(examples=["key_4f0c2a9e1b7d3c5a8e6f"])
    principal: PrincipalRef
    scopes: list[Scope]
    label: str | None = None
    status: str = Field(description="active, expired or revoked (a rotated key stays active for its grace period)")
    created_at: datetime
    expires_at: datetime | None = Field(default=None, description="null: no expiry")
    revoked_at: datetime | None = None
    last_used_at: datetime | None = Field(default=None, description="Updated at most once a minute")
    replaced_by: str | None = Field(default=None, description="The key that replaced it by rotation")


class NewKey(KeyOut):
    key: str = Field(description="The key itself, shown once: store it now. Send it as 'Authorization: Bearer <key>'.")


class Rotated(BaseModel):
    new: NewKey
    previous: KeyOut = Field(description="The key you rotated, valid until its expires_at (the grace period)")


class IssueKey(BaseModel):
    principal: PrincipalRef
    scopes: list[Scope] | None = Field(
        default=None,
        min_length=1,
        description="Default: all (read, write, webhooks) for operators, read and write otherwise",
    )
    label: str | None = Field(default=None, max_length=200)
    expires_at: datetime | None = Field(default=None, description="null: no expiry")


def keys_of(request: Request) -> ApiKeys:
    return request.app.state.keys


def _out(request: Request, info: KeyInfo) -> dict[str, Any]:
    return info.public(keys_of(request).clock())


@router.get(
    "",
    response_model=list[KeyOut],
    summary="Your API keys (operators: any principal's, with kind and id)",
    responses=problems.responses(401, 403, 422),
)
async def list_keys(
    request: Request,
    who: Caller,
    kind: Annotated[Kind | None, Query(description="Operators only: whose keys")] = None,
    id: Annotated[str | None, Query(description="Operators only: whose keys")] = None,
) -> list[dict[str, Any]]:
    if kind is not None or id is not None:
        if (kind, id) != (who.kind, who.id):
            require(who, "operator")
    else:
        kind, id = who.kind, who.id
    return [_out(request, k) for k in await keys_of(request).list(kind, id)]


@router.post(
    "",
    status_code=201,
    response_model=NewKey,
    summary="Issue an API key for a principal (operators)",
    responses=problems.responses(401, 403, 422),
)
async def issue_key(body: IssueKey, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "operator")
    kind = body.principal.kind
    scopes = body.scopes or (["read", "write", "webhooks"] if kind == "operator" else ["read", "write"])
    issued = await keys_of(request).issue(kind, body.principal.id, scopes, label=body.label, expires_at=body.expires_at)
    return {**_out(request, issued.info), "key": issued.key}


@router.post(
    "/rotate",
    status_code=201,
    response_model=Rotated,
    summary="Replace the key you call with by a new one (same principal and scopes)",
    description="The new key is shown once. The key you called with keeps working for the grace period "
    "(TALENTLOOP_KEY_ROTATION_GRACE_S, 24 hours by default), then expires. A key rotates once: 409 after.",
    responses=problems.responses(401, 409, 422),
)
async def rotate_key(request: Request, who: Caller) -> dict[str, Any]:
    assert who.key_id is not None
    try:
        new, previous = await keys_of(request).rotate(who.key_id)
    except KeyConflict as exc:
        raise problems.Problem(409, "key-already-rotated", "Key already rotated", str(exc)) from None
    return {"new": {**_out(request, new.info), "key": new.key}, "previous": _out(request, previous)}


@router.post(
    "/{key_id}/revoke",
    response_model=KeyOut,
    summary="Revoke an API key at once (operators)",
    description="Other service processes cache keys for TALENTLOOP_KEY_CACHE_S seconds (5 by default); "
    "after that the key answers 401 everywhere.",
    responses=problems.responses(401, 403, 404, 409, 422),
)
async def revoke_key(key_id: str, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "operator")
    try:
        info = await keys_of(request).revoke(key_id)
    except KeyNotFound:
        raise problems.not_found("API key") from None
    except KeyConflict as exc:
        raise problems.Problem(409, "key-already-revoked", "Key already revoked", str(exc)) from None
    return _out(request, info)
