"""Outcomes' HTTP API: referral timelines and the funnel, scoped to the caller."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from contracts import events
from plumbing import problems
from plumbing.auth import Principal, principal, require
from plumbing.service import pool_of
from services.outcomes import pipeline, reports_api, store
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
    summary="Referrals and people per funnel stage and outcome, in total, by partner and by employer",
    description="Every number is defined in `definitions` (docs/pipeline.md). Stages are cumulative (a referral is "
    "at a stage if it reached it or any later one, so no stage counts more than the one before; "
    "`interviews_recorded` counts the interviews actually recorded); `outcomes` are exclusive (where each referral "
    "stands now: they add up to `referred`), `placed` holds placed's sub-lines and `flags` the declines. `referrals` "
    "counts referrals, `people` counts people (a person referred twice is one, with the best of their outcomes). "
    "Partners and employers see only their own referrals, and the coalition-wide totals (`coalition`). `pipeline` "
    "(operators, and a training provider over its own enrollments) counts people from training: enrolled, completed "
    "training, credential earned (cumulative), then how far the same people went with their referrals (joined by "
    "person), placed by employment type (not exclusive) and retained at 180 days.",
    responses=problems.responses(401),
)
async def funnel(request: Request, who: Caller) -> dict[str, Any]:
    pool = pool_of(request)
    partner_id = who.id if who.kind == "partner" else None
    employer_id = who.id if who.kind == "employer" else None
    result: dict[str, Any] = {
        "definitions": pipeline.DEFINITIONS,
        "stages": list(pipeline.STAGES),
        "outcomes": list(pipeline.OUTCOMES),
        "placed": list(pipeline.PLACED_DETAILS),
        "scope": who.ref,
    }
    # One snapshot: the total and the groups of one moment.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if who.kind != "operator":
            # Everyone may compare with the whole network's totals (counts only, no one's referrals).
            result["coalition"] = (await store.funnel_counts(conn, None, None, None)).get("all", pipeline.empty())
        result["total"] = (await store.funnel_counts(conn, None, partner_id, employer_id)).get("all", pipeline.empty())
        for name, group in (("by_partner", "partner"), ("by_employer", "employer")):
            result[name] = dict(sorted((await store.funnel_counts(conn, group, partner_id, employer_id)).items()))
        # The coalition funnel from training: operators over every enrollment, a training
        # provider over its own (an employer has none).
        if who.kind in ("operator", "partner"):
            result["pipeline"] = {
                "training_stages": list(pipeline.TRAINING_STAGES),
                "job_stages": list(pipeline.JOB_STAGES),
                "employment_types": list(pipeline.EMPLOYMENT_TYPES),
                **pipeline.pipeline_funnel(*await store.pipeline_inputs(conn, partner_id)),
            }
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


@router.get(
    "/partner/participants",
    summary="Your participants and what came of their referrals by other partners (the training provider's closed "
    "loop), paged",
    description="A training provider's enrollments whose participant agreed at enrollment that it may hear what came "
    "of them (`share_outcomes_with_provider`), each with the person's referrals by other partners and their status "
    "with why, as the referring partner sees it (a wage band, never the exact wage). Your own referrals of them are "
    "in `GET /v1/partner/referrals`. The same changes arrive as `participant.status_changed` events on "
    "`talentloop.partner-status` and as signed webhooks. With `status`: only participants with a referral in it.",
    responses=problems.responses(401, 403, 422),
)
async def partner_participants(
    request: Request,
    who: Caller,
    status: Annotated[events.PartnerStatus | None, Query(description="Only participants with a referral in this status")] = None,
    after: Annotated[str | None, Query(max_length=200, description="The last enrollment id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    require(who, "partner")
    rows = await store.provider_participants(pool_of(request), who.id, status.value if status else None, after, limit)
    items = [
        {
            "enrollment_id": r["enrollment_id"],
            "program_id": r["program_id"],
            "training_status": r["training_status"],
            "referrals": [
                {**f, "detail": f["detail"] or {}, "stages": f["stages"] or []} for f in json.loads(r["referrals"])
            ],
        }
        for r in rows
    ]
    return {"items": items, "next_after": items[-1]["enrollment_id"] if len(items) == limit else None}


@router.get(
    "/partner/service-requests",
    summary="Your supportive-service requests and what became of them (the requester's closed loop), paged",
    description="Each request you made with the status you were told (requested, accepted, declined, delivered, "
    "cancelled, or stale while it waits longer than the business-day limit) and why: the service type, a decline's "
    "reason code, the delivery's day and value. The same changes arrive as `service.status_changed` events on "
    "`talentloop.partner-status` and as signed webhooks.",
    responses=problems.responses(401, 403, 422),
)
async def partner_service_requests(
    request: Request,
    who: Caller,
    status: Annotated[events.ServiceStatus | None, Query(description="Only requests with this status")] = None,
    after: Annotated[str | None, Query(max_length=200, description="The last request id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    require(who, "partner")
    rows = await store.requester_requests(pool_of(request), who.id, status.value if status else None, after, limit)
    items = [
        {
            "request_id": r["request_id"],
            "provider_id": r["provider_id"],
            "referral_id": r["referral_id"],
            "enrollment_id": r["enrollment_id"],
            "status": r["partner_status"],
            "detail": json.loads(r["detail"]),
            "changed_at": r["changed_at"].isoformat(),
        }
        for r in rows
    ]
    return {"items": items, "next_after": items[-1]["request_id"] if len(items) == limit else None}


@router.get(
    "/people/{candidate_id}/journey",
    summary="One person's whole journey: enrollments, referrals, service requests and every event in order "
    "(operators)",
    description="Operators only (partners and employers are refused by their kind, 403, before any person is "
    "looked up; an unknown person is 404). The person by the network's "
    "pseudonymous candidate id: their enrollments, referrals and service requests as projected, and every ledger "
    "event about any of them in the order they happened (arrival breaks ties), each with its kind (`enrollment`, "
    "`referral`, `service_request`) and ids, its data as recorded. After an erasure the person is not found by "
    "that id any more.",
    responses=problems.responses(401, 403, 404),
)
async def journey(candidate_id: Annotated[str, Path(max_length=200)], request: Request,
                  who: Caller) -> dict[str, Any]:
    require(who, "operator")
    if candidate_id.startswith(pipeline.ERASED_PREFIX):  # an erased person is found by no id
        raise problems.not_found("person")
    async with pool_of(request).acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        found = await store.journey(conn, candidate_id)
    if not (found["enrollments"] or found["referrals"] or found["service_requests"]):
        raise problems.not_found("person")
    return {"candidate_id": candidate_id, **journey_view(found)}


def journey_view(found: dict[str, list[Any]]) -> dict[str, Any]:
    """The journey's rows as the answer shows them (`store.journey`)."""
    return {
        "enrollments": [
            {"enrollment_id": e["enrollment_id"], "provider_id": e["partner_id"], "program_id": e["program_id"],
             "status": e["status"], "record": json.loads(e["record"])}
            for e in found["enrollments"]
        ],
        "referrals": [
            {"referral_id": r["referral_id"], "partner_id": r["partner_id"], "employer_id": r["employer_id"],
             "status": r["status"], "stages": list(r["stages"]), "outcome": r["outcome"],
             "detail": json.loads(r["partner_detail"])}
            for r in found["referrals"]
        ],
        "service_requests": [
            {"request_id": q["request_id"], "requester_id": q["requester_id"], "provider_id": q["provider_id"],
             "referral_id": q["referral_id"], "enrollment_id": q["enrollment_id"], "service_type": q["service_type"],
             "status": q["status"], "partner_status": q["partner_status"], "detail": json.loads(q["detail"])}
            for q in found["service_requests"]
        ],
        "events": [
            {"seq": e["seq"], "event_id": str(e["event_id"]), "type": e["event_type"], "kind": _kind(e),
             **{k: e[k] for k in ("referral_id", "enrollment_id", "request_id", "program_id") if e[k] is not None},
             "occurred_at": e["occurred_at"].isoformat(), "recorded_at": e["recorded_at"].isoformat(),
             "data": json.loads(e["envelope"])["data"]}
            for e in found["events"]
        ],
    }


def _kind(row: Any) -> str:
    return "referral" if row["referral_id"] else "enrollment" if row["enrollment_id"] else "service_request"


# The demand board (issue 16 items 3 and 4): partners and operators; the use case is the reports'.
router.add_api_route(
    "/demand",
    reports_api.demand_board,
    methods=["GET"],
    summary="The demand board: what open openings and employers' forecasts ask for, by occupation and employment"
    " type, cells from fewer employers than the setting withheld, no employer named; and the hiring standards"
    " employers published, under their names",
    tags=["reports"],
    responses=problems.responses(401, 403),
)
