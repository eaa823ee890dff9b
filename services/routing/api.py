"""Routing's HTTP API: the openings catalogue as routing sees it (operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from plumbing import problems
from plumbing.auth import Principal, principal, require
from plumbing.service import pool_of
from services.routing import store

router = APIRouter(prefix="/v1", tags=["routing"])


@router.get(
    "/openings",
    summary="Openings known to routing, with capacity used",
    responses=problems.responses(401, 403),
)
async def openings(request: Request, who: Annotated[Principal, Depends(principal)]) -> list[dict]:
    require(who, "operator")
    return await store.catalogue(pool_of(request))
