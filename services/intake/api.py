"""Intake's HTTP API for partners (and operators, for erasure)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from contracts import events
from plumbing import idempotency, problems, tracing
from plumbing.auth import Principal, principal, require
from plumbing.idempotency import IdempotencyKey
from plumbing.service import context_of, correlation_id, deps_of, pool_of
from services.intake import application, csv_import, domain, inbound, mapping, store
from services.intake.application import Conflict, NotFound, Submission
from services.intake.grouped import ReferralGroups
from services.intake.submit_route import SubmitRoute

router = APIRouter(prefix="/v1", tags=["referrals"])
problems.name_validation_error("consent_required", "consent-required", "Consent required")
Caller = Annotated[Principal, Depends(principal)]
NDJSON = "application/x-ndjson"


class ReferralAccepted(BaseModel):
    referral_id: str
    candidate_id: str = Field(
        description="Your pseudonymous id of the person: the same person referred again by you gets the same id "
        "(until you erase them). Other partners are told other ids for the same person."
    )
    status: str = "submitted"
    unknown_skills: list[str] = Field(description="Skills not in the vocabulary: kept as written, flagged for review.")


# candidate_erased is the reason an erasure gives; a partner's withdrawal cannot (see _not_erasure).
_WITHDRAWAL_REASONS = [r.value for r in events.WithdrawalReason if r is not events.WithdrawalReason.candidate_erased]


class Withdrawal(BaseModel):
    reason: Annotated[
        events.WithdrawalReason, WithJsonSchema({"type": "string", "enum": _WITHDRAWAL_REASONS})
    ] = Field(description="Why the referral is withdrawn.")

    @model_validator(mode="after")
    def _not_erasure(self) -> Withdrawal:
        if self.reason is events.WithdrawalReason.candidate_erased:
            raise ValueError("use POST /v1/erasures to erase a candidate")
        return self


class ErasureRequest(BaseModel):
    """Partners name a referral they made (their own referrals of that person are erased);
    operators name a referral or the candidate (the person is erased network-wide)."""

    # The document says what _one checks: exactly one of the two (the other left out: no null).
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["referral_id"]}, {"required": ["candidate_id"]}, {"required": ["enrollment_id"]}]})

    referral_id: str | None = Field(default=None, json_schema_extra=domain.absent_not_null)
    candidate_id: str | None = Field(default=None, json_schema_extra=domain.absent_not_null)
    enrollment_id: str | None = Field(
        default=None, description="Training providers: one of their enrollments of the person.",
        json_schema_extra=domain.absent_not_null,
    )

    @model_validator(mode="after")
    def _one(self) -> ErasureRequest:
        if [self.referral_id, self.candidate_id, self.enrollment_id].count(None) != 2:
            raise ValueError("give exactly one of referral_id, candidate_id or enrollment_id")
        return self


def _now(request: Request) -> datetime:
    return deps_of(request).clock()


def _adapter(request: Request, partner_id: str, fmt: str, record: mapping.Record = "referral") -> mapping.Adapter:
    found = request.app.state.adapters.get((partner_id, fmt, record))
    if found is None:
        kind = fmt if record == "referral" else f"{fmt} {record}"
        raise problems.Problem(
            404, "no-adapter", "No adapter", f"no {kind} adapter is configured for {partner_id} (see docs/intake.md#adapters)"
        )
    return found


def _invalid(errors: list[mapping.FieldError]) -> problems.Problem:
    return problems.Problem(
        422,
        "invalid-record",
        "The record cannot become a referral",
        f"{len(errors)} error(s)",
        errors=[e.model_dump() for e in errors],
    )


async def _submit_one(request: Request, who: Principal, referral: domain.ReferralIn, entry: str, key: str | None, payload: Any) -> JSONResponse:
    # Applied together with the requests that arrive within a few milliseconds (one
    # transaction, one commit), answered from this request's own result (grouped.py).
    submission = Submission(who.id, referral, entry, correlation_id(request), tracing.outbox_context())
    answer = await _group(request).submit(who, submission, key, payload)
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def _group(request: Request) -> ReferralGroups:
    group = getattr(request.app.state, "group_commit", None)
    if group is None:  # an app started without intake's on_start (tests)
        group = request.app.state.group_commit = ReferralGroups(pool_of(request), deps_of(request))
    return group


async def submit_referral(
    body: domain.ReferralIn, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")
    _publishable(request, body)
    # The payload an Idempotency-Key is checked against; without a key, nothing to dump.
    payload = body.model_dump(mode="json") if idempotency_key is not None else None
    return await _submit_one(request, who, body, "api", idempotency_key, payload)


# Declared as the decorator would (the OpenAPI document is FastAPI's), handled by SubmitRoute:
# the common request without FastAPI's dependency solving (submit_route.py).
router.add_api_route(
    "/referrals",
    submit_referral,
    methods=["POST"],
    status_code=201,
    response_model=ReferralAccepted,
    summary="Refer a candidate (TalentLoop's own JSON shape)",
    responses=problems.responses(400, 401, 403, 409, 422),
    route_class_override=SubmitRoute,
)


def _publishable(request: Request, referral: domain.ReferralIn | domain.Profile) -> None:
    """422 naming the field when the referral cannot be accepted now (consent in the future)
    or its event could not be published or stored: refused here, before anything is
    written, never a failure after the answer."""
    errors = domain.refused(referral, _now(request))
    if errors:
        raise problems.invalid(errors)


@router.post(
    "/webhooks/referrals",
    status_code=201,
    response_model=ReferralAccepted,
    summary="Refer a candidate in the partner's own JSON shape, mapped by its adapter",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def partner_webhook(
    request: Request,
    who: Caller,
    record: Annotated[dict[str, Any], Body(description="One record, shaped as the partner's system sends it.")],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    require(who, "partner")
    adapter = _adapter(request, who.id, "json")
    referral, errors = mapping.referral_from(adapter, record, now=_now(request))
    if referral is None:
        raise _invalid(errors)
    return await _submit_one(request, who, referral, "webhook", idempotency_key, record)


@router.get(
    "/referrals/{referral_id}",
    summary="A referral this partner submitted, as intake holds it now",
    responses=problems.responses(401, 403, 404),
)
async def get_referral(referral_id: str, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "partner")
    async with pool_of(request).acquire() as conn:
        row = await store.find(conn, referral_id, who.id)
        if row is None:
            raise problems.not_found("referral")
        submission = json.loads(row["submission"])
        contact = None
        if row["status"] != "erased":
            current = await application.current(context_of(request, conn), row)
            contact = current.candidate.model_dump()
    return {
        "referral_id": row["referral_id"],
        "external_id": row["external_id"],
        "candidate_id": row["partner_candidate_id"] or "erased",
        "status": row["status"],
        "entry": row["entry"],
        "candidate": contact,
        "demographics_on_file": row["demographics_sealed"] is not None,
        "skills": submission.get("skills", []),
        "credentials": submission.get("credentials", []),
        "training": submission.get("training"),
        "target_onet_soc_code": submission.get("target_onet_soc_code"),
        "target_opening_id": submission.get("target_opening_id"),
        "consent": submission.get("consent"),
        "submitted_at": row["submitted_at"].isoformat(),
        "updated_at": _iso(row["updated_at"]),
        "withdrawn_at": _iso(row["withdrawn_at"]),
        "withdrawal_reason": row["withdrawal_reason"],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _conflict(exc: Conflict) -> problems.Problem:
    return problems.Problem(409, "invalid-transition", "Not possible now", str(exc), current_state=exc.state)


@router.patch(
    "/referrals/{referral_id}",
    summary="Update the candidate's profile (contact, skills, credentials, training, demographics)",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def update_referral(
    referral_id: str, change: domain.Profile, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")
    _publishable(request, change)

    async def effect(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        try:
            changed = await application.update(context_of(request, conn), who.id, referral_id, change, correlation_id(request))
        except NotFound:
            raise problems.not_found("referral") from None
        except Conflict as exc:
            raise _conflict(exc) from None
        return 200, {"referral_id": referral_id, "changed": changed}

    payload = {"referral_id": referral_id, **change.model_dump(mode="json", exclude_unset=True)}
    return await idempotency.run_once(pool_of(request), who, idempotency_key, payload, effect)


@router.post(
    "/referrals/{referral_id}/withdraw",
    summary="Withdraw a referral: nobody may act on it any more",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def withdraw_referral(
    referral_id: str, body: Withdrawal, request: Request, who: Caller, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    require(who, "partner")

    async def effect(conn: asyncpg.Connection) -> tuple[int, dict[str, Any]]:
        try:
            ctx = context_of(request, conn)
            at = await application.withdraw(ctx, who.id, referral_id, body.reason, correlation_id(request))
        except NotFound:
            raise problems.not_found("referral") from None
        except Conflict as exc:
            raise _conflict(exc) from None
        return 200, {"referral_id": referral_id, "status": "withdrawn", "withdrawn_at": at.isoformat()}

    payload = {"referral_id": referral_id, **body.model_dump(mode="json")}
    return await idempotency.run_once(pool_of(request), who, idempotency_key, payload, effect)


@router.post(
    "/erasures",
    tags=["personal data"],
    summary="Erase personal data: a partner's own referrals of a person, or (an operator) the person everywhere",
    description="A partner names one of its referrals (a training provider may name one of its enrollments "
    "instead): every referral and enrollment it made of that person is erased (sealed "
    "contact and demographics, profile, its reference and their link to the candidate) and withdrawn where still "
    "open; other partners' referrals of the person stay, and the answer counts only the caller's own. An operator "
    "names a referral or the candidate id: the person is erased network-wide (their key destroyed, so every sealed "
    "copy becomes unreadable; their identities unlinked; every partner's referrals withdrawn). Either way "
    "`candidate.erased` tells every service to drop what it holds of those referrals. Counts remain. The answer's "
    "`candidate_id` is the caller's id of the person: a partner's own (it is dropped with the erasure, so the "
    "partner's next referral of the same person gets a new one), an operator's the network's.",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def erase(body: ErasureRequest, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "partner", "operator")
    if who.kind == "partner" and body.candidate_id is not None:
        raise problems.Problem(
            403, "forbidden", "Forbidden", "partners name a referral_id or an enrollment_id, not a candidate_id"
        )
    if who.kind != "partner" and body.enrollment_id is not None:
        raise problems.Problem(403, "forbidden", "Forbidden", "operators name a referral_id or the candidate_id")
    async with pool_of(request).acquire() as conn, conn.transaction():
        ctx = context_of(request, conn)
        try:
            if who.kind == "partner":
                done = await application.erase_own(
                    ctx, who.id, body.referral_id, who.ref, correlation_id(request), enrollment_id=body.enrollment_id
                )
            else:
                done = await application.erase_person(
                    ctx, referral_id=body.referral_id, candidate_id=body.candidate_id, principal=who.ref,
                    correlation_id=correlation_id(request),
                )
        except NotFound as exc:
            what = "candidate" if exc.args == ("candidate",) else "enrollment" if body.enrollment_id else "referral"
            raise problems.not_found(what) from None
        except Conflict:
            raise problems.Problem(409, "already-erased", "Already erased", current_state="erased") from None
    return {"candidate_id": done.candidate_id, "referrals": done.referrals, "erased_at": done.erased_at.isoformat()}


# --- bulk CSV ------------------------------------------------------------------------------

imports = APIRouter(prefix="/v1/imports", tags=["imports"])


def _summary(row: asyncpg.Record) -> dict[str, Any]:
    unknown = json.loads(row["unknown_skills"]) if isinstance(row["unknown_skills"], str) else row["unknown_skills"]
    return {
        "import_id": row["import_id"],
        "status": row["status"],
        "filename": row["filename"],
        "rows": row["rows"],
        "accepted": row["accepted"],
        "duplicates": row["duplicates"],
        "rejected": row["rejected"],
        "unknown_skills": unknown,
        "failure": row["failure"],
        "started_at": row["started_at"].isoformat(),
        "finished_at": _iso(row["finished_at"]),
        "error_report": f"/v1/imports/{row['import_id']}/errors",
    }


@imports.post(
    "",
    status_code=201,
    summary="Import a CSV of referrals in the partner's own columns (mapped by its adapter)",
    description="Good rows are accepted even when others fail. `Accept: application/json` (default) answers with "
    "the summary when done; `Accept: text/csv` with the error report (row, column, code, message, "
    "existing_referral_id) and the counts in X-Import-* headers; `Accept: application/x-ndjson` streams one "
    "progress line per committed batch, then the summary.",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def import_csv(
    request: Request,
    who: Caller,
    file: Annotated[UploadFile, File(description="The CSV, UTF-8, with the header row the adapter names.")],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    require(who, "partner")
    return await _import(request, who, _adapter(request, who.id, "csv"), file, idempotency_key)


@imports.post(
    "/training",
    status_code=201,
    summary="Import a training provider's CSV of enrollments in its own columns (mapped by its training adapter)",
    description="Each row states one participant's enrollment as it now stands; a row that adds nothing to what was"
    " reported before (the same file again) publishes nothing and counts as a duplicate. Answers as `POST"
    " /v1/imports`.",
    responses=problems.responses(400, 401, 403, 404, 409, 422),
)
async def import_training_csv(
    request: Request,
    who: Caller,
    file: Annotated[UploadFile, File(description="The CSV, UTF-8, with the header row the adapter names.")],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    require(who, "partner")
    return await _import(request, who, _adapter(request, who.id, "csv", "training"), file, idempotency_key)


async def _import(
    request: Request, who: Principal, adapter: mapping.Adapter, file: UploadFile, idempotency_key: str | None
) -> Response:
    pool = pool_of(request)
    digest, size = await asyncio.to_thread(csv_import.sha256_of, file.file)
    if idempotency_key is not None:
        earlier = await store.import_by_key(pool, who.id, idempotency_key)
        if earlier is not None:
            if earlier["file_sha256"] != digest:
                raise problems.Problem(422, "idempotency-key-reused", "Idempotency-Key reused with a different file")
            if earlier["status"] == "running":
                raise problems.Problem(409, "idempotency-key-in-use", "This import is still running")
            return JSONResponse(_summary(earlier), status_code=201, headers={"Idempotent-Replayed": "true"})
    max_row = request.app.state.settings.max_json_body_bytes  # a row is one referral, as a JSON body is
    try:
        await asyncio.to_thread(csv_import.check_header, file.file, adapter, max_row)
    except csv_import.ImportRefused as exc:
        raise problems.Problem(422, exc.code, "The file cannot be imported", exc.message) from None
    import_id = f"imp_{uuid.uuid4().hex}"
    if await store.start_import(pool, import_id, who.id, _filename(file), digest, idempotency_key) is None:
        raise problems.Problem(409, "idempotency-key-in-use", "An import with this Idempotency-Key just started")
    progress = csv_import.Progress(import_id, size)
    steps = _drive(request, adapter, file, progress, max_row)
    accept = request.headers.get("accept", "")
    if NDJSON in accept:
        return StreamingResponse((json.dumps(step) + "\n" async for step in steps), media_type=NDJSON)
    final: dict[str, Any] = {}
    async for step in steps:
        final = step
    if "text/csv" in accept:
        rows = await store.import_errors(pool, import_id)
        headers = {f"X-Import-{k.replace('_', '-').title()}": str(final[k]) for k in ("import_id", "rows", "accepted", "duplicates", "rejected", "status")}
        return Response("".join(csv_import.error_report(rows)), media_type="text/csv", status_code=201, headers=headers)
    return JSONResponse(final, status_code=201)


def _filename(file: UploadFile) -> str | None:
    # Shown back as given, so only what PostgreSQL can store and a screen can show.
    name = "".join(c for c in file.filename or "" if c.isprintable())[:255]
    return name or None


async def _drive(
    request: Request, adapter: mapping.Adapter, file: UploadFile, progress: csv_import.Progress, max_row: int
) -> AsyncIterator[dict[str, Any]]:
    pool = pool_of(request)
    # Until the last batch is in, a stop for any reason (the client went away, the
    # database failed) leaves the import "failed"; its committed batches stay accepted.
    status, failure = "failed", "interrupted before the end of the file"
    try:
        async for step in csv_import.run(
            pool, deps_of(request), adapter, file.file, progress,
            correlation_id=correlation_id(request), max_row_bytes=max_row,
        ):
            yield step.as_dict()
        status, failure = "done", None
    except csv_import.ImportRefused as exc:
        failure = f"{exc.code}: {exc.message}"
    except Exception as exc:
        failure = f"internal: {type(exc).__name__}"
        raise
    finally:
        top = dict(progress.unknown_skills.most_common(50))
        row = await store.finish_import(pool, progress.import_id, status, top, failure)
        await file.close()
    yield _summary(row)


@imports.get("/{import_id}", summary="An import's summary", responses=problems.responses(401, 403, 404))
async def get_import(import_id: str, request: Request, who: Caller) -> dict[str, Any]:
    require(who, "partner")
    row = await store.get_import(pool_of(request), import_id, who.id)
    if row is None:
        raise problems.not_found("import")
    return _summary(row)


@imports.get(
    "/{import_id}/errors",
    summary="An import's error report (CSV: row, column, code, message, existing_referral_id)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problems.responses(401, 403, 404)},
)
async def get_import_errors(import_id: str, request: Request, who: Caller) -> Response:
    require(who, "partner")
    pool = pool_of(request)
    if await store.get_import(pool, import_id, who.id) is None:
        raise problems.not_found("import")
    return Response("".join(csv_import.error_report(await store.import_errors(pool, import_id))), media_type="text/csv")


@router.get(
    "/adapters",
    tags=["adapters"],
    summary="The adapters configured for this partner: formats, CSV columns, Kafka topic",
    responses=problems.responses(401, 403),
)
async def my_adapters(request: Request, who: Caller) -> list[dict[str, Any]]:
    require(who, "partner")
    return [
        {
            "format": a.format,
            "description": a.description,
            "columns": sorted(a.columns()) if a.format == "csv" else None,
            "record": a.record,
            "kafka_topic": a.topic if a.kafka else None,
            "fields": {target: rule.model_dump(by_alias=True, exclude_defaults=True) for target, rule in a.fields.items()},
        }
        for (partner, *_), a in sorted(request.app.state.adapters.items())
        if partner == who.id
    ]


@router.post(
    "/adapters/reload",
    tags=["adapters"],
    summary="Operators: re-read the adapters folder (TALENTLOOP_ADAPTERS) without a restart",
    description="Every adapter is validated first; an invalid one leaves the running adapters unchanged (422 "
    "`invalid-adapters`, naming the file and field). Records read after the reload, replayed dead letters "
    "included, use the new mappings. A partner topic that is new to `kafka: true` is subscribed at the next start "
    "(`restart_required_for`). Repeating it is harmless (it re-reads the same files), so `Idempotency-Key` is "
    "ignored.",
    responses=problems.responses(401, 403, 422),
)
async def reload_adapters(request: Request, who: Caller) -> dict[str, Any]:
    require(who, "operator")
    folder = request.app.state.settings.adapters_dir
    try:
        adapters = mapping.load_all(folder)
    except ValueError as exc:
        raise problems.Problem(422, "invalid-adapters", "Invalid adapters", str(exc)) from None
    request.app.state.adapters = adapters
    new: list[str] = []
    consumer = getattr(request.app.state, "consumer", None)
    if isinstance(consumer, inbound.InboundConsumer):
        topics = inbound.inbound_topics(adapters)
        new = sorted(set(topics) - set(consumer.adapters))
        # Only the topics intake is subscribed to; one whose adapter went away dead-letters as `NoAdapter`.
        consumer.adapters = {t: topics[t] for t in consumer.adapters if t in topics}
    return {
        "folder": str(folder),
        "adapters": [
            {"partner_id": a.partner_id, "format": a.format, "record": a.record,
             "kafka_topic": a.topic if a.kafka else None}
            for _, a in sorted(adapters.items())
        ],
        "restart_required_for": new,
    }
