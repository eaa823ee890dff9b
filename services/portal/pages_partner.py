"""A referring organisation's pages: its referrals by status (with why, and those waiting too
long), one referral's timeline, the referral form and CSV uploads with their progress and
error report. Everything goes through the services with the organisation's own key, so
another organisation's ids answer 404 here exactly as there."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from plumbing.logging import get_logger
from services.portal import application, i18n, present, referral_names, store, web
from services.portal.application import ReferralForm, Refused
from services.portal.domain import Member
from services.portal.messages import CODES, STATUSES, UPLOAD_STATUSES
from services.portal.pages_account import Signed, portal_of

log = get_logger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(web.verify_csrf)])
PAGE_SIZE = 50  # referrals a page of My referrals shows, each name read from intake


async def _gettext(request: Request) -> i18n.Gettext:
    return i18n.gettext_for((await web.visitor(request)).language)


# --- my referrals ------------------------------------------------------------------------------


@router.get("/referrals")
async def referrals(request: Request, who: Signed, status: str = "", referred: str = "", page: int = 1) -> Response:
    web.require_referring(who)
    p = portal_of(request)
    items = await application.my_referrals(p, who)
    _ = await _gettext(request)
    counts = Counter(i["status"] for i in items)
    matching = [i for i in items if not status or i["status"] == status or (status == "waiting" and i["waiting"])]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    named = await referral_names.names(p, who, [i["referral_id"] for i in shown])
    for item in shown:
        item["why"] = present.reason(item["detail"], _, item["status"])
        item["name"] = named.get(item["referral_id"])
    return await web.page(
        request,
        "referrals.html",
        items=shown,
        page=page,
        pages=pages,
        total=len(items),
        waiting=sum(1 for i in items if i["waiting"]),
        counts=[(s, counts[s]) for s in STATUSES if counts[s]],
        chosen=status,
        statuses=STATUSES,
        referred=referred[:100],
    )


@router.get("/referrals/{referral_id}")
async def referral(request: Request, who: Signed, referral_id: str) -> Response:
    web.require_referring(who)
    timeline = await application.referral_timeline(portal_of(request), who, referral_id)
    if timeline is None:
        raise web.PageError(404, "not_found")
    _ = await _gettext(request)
    events = [
        {"occurred_at": e["occurred_at"], "label": present.event_label(e["type"], _)}
        for e in timeline.get("events", [])
    ]
    return await web.page(
        request,
        "referral.html",
        referral=timeline,
        why=present.reason(timeline["detail"], _, timeline["status"]),
        events=events,
        statuses=STATUSES,
    )


# --- refer someone -----------------------------------------------------------------------------

EMPTY_FORM = {
    "given_name": "",
    "family_name": "",
    "email": "",
    "phone": "",
    "skills": "",
    "program": "",
    "share_with_employers": False,
    "share_contact": False,
    "aggregate_reports": False,
    "notify_candidate": False,
    "preferred_language": "",
}


async def _refer_page(request: Request, form: dict[str, Any], status: int = 200, **context: Any) -> Response:
    context.setdefault("problems", {})
    return await web.page(
        request, "refer.html", status=status, form=form, form_id=uuid.uuid4().hex, codes=CODES, **context
    )


@router.get("/refer")
async def refer_form(request: Request, who: Signed) -> Response:
    web.require_referring(who, write=True)
    return await _refer_page(request, EMPTY_FORM)


@router.post("/refer")
async def refer(
    request: Request,
    who: Signed,
    form_id: Annotated[str, Form(max_length=64)],
    given_name: Annotated[str, Form(max_length=200)] = "",
    family_name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    skills: Annotated[str, Form(max_length=5000)] = "",
    program: Annotated[str, Form(max_length=200)] = "",
    share_with_employers: Annotated[bool, Form()] = False,
    share_contact: Annotated[bool, Form()] = False,
    aggregate_reports: Annotated[bool, Form()] = False,
    notify_candidate: Annotated[bool, Form()] = False,
    preferred_language: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    web.require_referring(who, write=True)
    form = ReferralForm(
        given_name,
        family_name,
        email,
        phone,
        skills,
        program,
        share_with_employers,
        share_contact,
        aggregate_reports,
        form_id,
        notify_candidate,
        preferred_language,
    )
    values = {k: getattr(form, k) for k in EMPTY_FORM}
    problems = form.problems()
    if problems:
        return await _refer_page(request, values, 422, problems=problems)
    session = await web.visitor(request)
    try:
        done = await application.refer(portal_of(request), who, session.user["org_name"], form)
    except Refused as refused:
        raise web.PageError(403 if refused.code == "not_allowed" else 502, refused.code) from None
    if done.referral_id is None:
        return await _refer_page(request, values, 422, service_errors=done.errors, duplicate_of=done.duplicate_of)
    return web.redirect(request, f"/referrals?referred={done.referral_id}")


# --- CSV uploads -------------------------------------------------------------------------------


async def _columns(request: Request, who: Member) -> str:
    """The CSV columns the organisation's adapter reads, to say what the file needs."""
    p = portal_of(request)
    assert p.services is not None
    answer = await p.services.call(who, "intake", "GET", "/v1/adapters")
    if answer.status != 200:
        return ""
    for adapter in answer.json():
        if adapter.get("format") == "csv" and adapter.get("record", "referral") == "referral":
            return ", ".join(adapter.get("columns") or [])
    return ""


async def _uploads_page(request: Request, who: Member, error: str | None = None, status: int = 200) -> Response:
    return await web.page(
        request,
        "uploads.html",
        status=status,
        uploads=await store.uploads(portal_of(request).pool, who.org_id),
        upload_statuses=UPLOAD_STATUSES,
        columns=await _columns(request, who),
        error=error,
    )


@router.get("/uploads")
async def uploads(request: Request, who: Signed) -> Response:
    web.require_referring(who, write=True)
    return await _uploads_page(request, who)


@router.post("/uploads")
async def upload(request: Request, who: Signed, file: UploadFile | None = None) -> Response:
    web.require_referring(who, write=True)
    if file is None or not file.filename:
        _ = await _gettext(request)
        return await _uploads_page(request, who, _(CODES["no_file"]), 422)
    p = portal_of(request)
    file.file.seek(0, 2)
    size = file.file.tell()
    file.file.seek(0)
    name = "".join(c for c in file.filename if c.isprintable())[:255] or "upload.csv"
    upload_id = await store.start_upload(p.pool, who.org_id, who.user_id, name, size)
    # The file outlives this request (Starlette closes the UploadFile when it answers): a copy.
    data = await asyncio.to_thread(_spool, file)
    task = asyncio.create_task(
        application.drive_upload(p, who, upload_id, name, data, size), name=f"upload-{upload_id}"
    )
    request.app.state.upload_tasks.add(task)
    task.add_done_callback(_forget(request))
    return web.redirect(request, f"/uploads/{upload_id}")


def _spool(file: UploadFile) -> Any:
    copy = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - closed by drive_upload
    file.file.seek(0)
    shutil.copyfileobj(file.file, copy)
    copy.seek(0)
    return copy


def _forget(request: Request) -> Any:
    tasks = request.app.state.upload_tasks

    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("portal.upload_failed", task=task.get_name(), error=repr(task.exception())[:300])

    return done


async def _upload_row(request: Request, who: Member, upload_id: str) -> Any:
    if not web.is_uuid(upload_id):
        raise web.PageError(404, "not_found")
    row = await store.upload(portal_of(request).pool, who.org_id, upload_id)
    if row is None:
        raise web.PageError(404, "not_found")
    return row


@router.get("/uploads/{upload_id}")
async def upload_page(request: Request, who: Signed, upload_id: str) -> Response:
    web.require_referring(who)
    row = await _upload_row(request, who, upload_id)
    percent = round(100 * row["bytes_read"] / row["bytes_total"]) if row["bytes_total"] else 0
    return await web.page(request, "upload.html", upload=row, percent=percent, upload_statuses=UPLOAD_STATUSES)


@router.get("/uploads/{upload_id}/progress")
async def upload_progress(request: Request, who: Signed, upload_id: str) -> Response:
    web.require_referring(who)
    row = await _upload_row(request, who, upload_id)
    keys = ("status", "bytes_total", "bytes_read", "rows", "accepted", "duplicates", "rejected")
    return web.respond(request, JSONResponse({k: row[k] for k in keys}))


@router.get("/uploads/{upload_id}/errors.csv")
async def upload_errors(request: Request, who: Signed, upload_id: str) -> Response:
    web.require_referring(who)
    row = await _upload_row(request, who, upload_id)
    if row["import_id"] is None:
        raise web.PageError(404, "not_found")
    p = portal_of(request)
    assert p.services is not None
    answer = await p.services.call(who, "intake", "GET", f"/v1/imports/{row['import_id']}/errors")
    if answer.status != 200:
        raise web.PageError(404, "not_found")
    filename = f"errors-{(row['filename'] or 'upload').rsplit('.', 1)[0]}.csv"
    safe = "".join(c for c in filename if c.isalnum() or c in "._-")
    return web.respond(
        request,
        Response(
            answer.response.content,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{safe}"'},
        ),
    )
