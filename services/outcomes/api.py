"""Outcomes' HTTP API: referral timelines and the funnel, scoped to the caller."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from contracts import events
from plumbing import problems
from plumbing.auth import Principal, principal, require
from plumbing.service import pool_of
from services.outcomes import domain, store
from services.outcomes.timeline import for_partner

router = APIRouter(prefix="/v1", tags=["outcomes"])
Caller = Annotated[Principal, Depends(principal)]


@router.get(
    "/referrals/{referral_id}/timeline",
    summary="Every recorded event of a referral, in the order they happened",
    description="Partners see their own referrals, with every event, but of an employer's event only its ids, "
    "codes, dates and the job's terms: a wage as `wage_band` (the closed loop's band of the hourly wage, not the "
    "exact figure) and no free text (`detail`). Employers see their part of referrals routed to them (their events "
    "only, as they reported them, without the referral's overall status); operators see everything.",
    responses=problems.responses(401, 404),
)
async def timeline(referral_id: str, request: Request, who: Caller) -> dict[str, Any]:
    employer = who.id if who.kind == "employer" else None
    # One snapshot: the status and the events it follows from, never a mix of two moments.
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        view = await store.referral_view(conn, referral_id)
        rows = await store.timeline(conn, referral_id, employer) if view is not None else []
    visible = view is not None and (
        who.kind == "operator" or (who.kind == "partner" and view["partner_id"] == who.id) or (employer and rows)
    )
    if not visible:
        raise problems.not_found("referral")
    # An employer sees its own part only: not what became of the referral elsewhere.
    whole = {} if employer else {
        "status": view["status"],
        "detail": json.loads(view["partner_detail"]),
        "stages": list(view["stages"]),
        "anomalies": list(view["anomalies"]),
    }
    entries = [
        {
            "seq": r["seq"],
            "event_id": str(r["event_id"]),
            "type": r["event_type"],
            "occurred_at": r["occurred_at"].isoformat(),
            "recorded_at": r["recorded_at"].isoformat(),
            "data": json.loads(r["envelope"])["data"],
        }
        for r in rows
    ]
    # A partner is told of a hire what the closed loop tells it: a wage band, no employer's words.
    if who.kind == "partner":
        entries = for_partner(entries)
    return {"referral_id": referral_id, **whole, "events": entries}


@router.get(
    "/funnel",
    summary="Referrals per funnel stage, in total, by partner and by employer",
    description="Stages are cumulative and derived from facts (a placement counts as acknowledged even if "
    "the acknowledgement has not arrived yet). Partners and employers see only their own referrals, and the "
    "coalition-wide totals (`coalition`).",
    responses=problems.responses(401),
)
async def funnel(request: Request, who: Caller) -> dict[str, Any]:
    pool = pool_of(request)
    partner_id = who.id if who.kind == "partner" else None
    employer_id = who.id if who.kind == "employer" else None
    result: dict[str, Any] = {"stages": list(domain.STAGES), "scope": who.ref}
    if who.kind != "operator":
        # Everyone may compare with the whole network's totals (counts only, no one's referrals).
        coalition = await store.funnel_counts(pool, None, None, None)
        result["coalition"] = {s: 0 for s in domain.STAGES} | {r["stage"]: r["n"] for r in coalition}
    for name, group in (("total", None), ("by_partner", "partner"), ("by_employer", "employer")):
        rows = await store.funnel_counts(pool, group, partner_id, employer_id)
        table: dict[str, dict[str, int]] = {}
        for r in rows:
            if r["key"] is not None:
                table.setdefault(r["key"], {s: 0 for s in domain.STAGES})[r["stage"]] = r["n"]
        result[name] = table.get("all", {s: 0 for s in domain.STAGES}) if group is None else dict(sorted(table.items()))
    return result


@router.get(
    "/partner/referrals",
    summary="Your referrals and what became of them (the closed loop), paged",
    description="Each referral's partner-facing status with why (missing skills, the decline reason, the job's "
    "title, wage band and benefits, why it closed). The same changes arrive as `referral.status_changed` events on "
    "`talentloop.partner-status` and as signed webhooks.",
    responses=problems.responses(401, 403, 422),
)
async def partner_referrals(
    request: Request,
    who: Caller,
    status: Annotated[events.PartnerStatus | None, Query(description="Only referrals with this status")] = None,
    after: Annotated[str | None, Query(max_length=200, description="The last referral id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    require(who, "partner")
    rows = await store.partner_referrals(pool_of(request), who.id, status.value if status else None, after, limit)
    items = [
        {
            "referral_id": r["referral_id"],
            "status": r["status"],
            "detail": json.loads(r["partner_detail"]),
            "stages": list(r["stages"]),
            "updated_at": r["updated_at"].isoformat(),
        }
        for r in rows
    ]
    return {"items": items, "next_after": items[-1]["referral_id"] if len(items) == limit else None}
