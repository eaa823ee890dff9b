"""The portal's use cases: sign-in, invitations, organisations, referring, uploads and the
partner's referrals. Pages (pages_*.py) call these; they take their dependencies from `Portal`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg

from plumbing.business_days import BusinessDays
from services.portal import domain, passwords, store
from services.portal.domain import Member, Role
from services.portal.services_client import Answer, Services

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")
TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,99}$")
REFERRALS_MAX = 5000  # what one page of "my referrals" reads from outcomes at most (10 pages of 500)


@dataclass
class Portal:
    """What the use cases need, passed in (the app builds it at start; tests build their own)."""

    pool: asyncpg.Pool
    services: Services | None
    limit: domain.SignInLimit
    calendar: BusinessDays
    stale_business_days: int
    clock: Callable[[], datetime]  # the system's: sessions, invitations, sign-in limits
    # The network's (plumbing/clock.py: a demo's simulated clock, else the system's), for what
    # is judged against the services' own times: which referrals wait too long.
    network_clock: Callable[[], datetime]
    session_hours: float = 12.0


class RateLimited(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"retry after {retry_after}")
        self.retry_after = retry_after


class Refused(Exception):
    """A request the rules refuse; `code` is a message id the pages translate."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- signing in --------------------------------------------------------------------------------


async def sign_in(p: Portal, email: str, password: str, address: str) -> asyncpg.Record | None:
    """The user these credentials are for, None if they are wrong; RateLimited while the
    account or the address has failed too often (then not even a right password gets in)."""
    email = email.strip().lower()[:254]
    now = await not_held(p, email, address)
    user = await store.user_by_email(p.pool, email)
    usable = user is not None and user["disabled_at"] is None
    if not passwords.verify(user["password_hash"] if usable else None, password):
        await store.record_failure(p.pool, email, address, now)
        await store.audit(
            p.pool, "sign_in_failed", org_id=user["org_id"] if user else None, user_id=user["user_id"] if user else None
        )
        return None
    assert user is not None
    if passwords.needs_rehash(user["password_hash"]):
        await store.set_password_hash(p.pool, user["user_id"], passwords.hash_password(password))
    return user


async def not_held(p: Portal, email: str, address: str) -> datetime:
    """Now, unless the address typed or the client's has failed too often: RateLimited then
    (sign-in, and asking for an e-mailed link, which counts the same)."""
    now = p.clock()
    account, here = await store.failures(p.pool, email, address, now - p.limit.window)
    wait = p.limit.retry_after(account, here, now)
    if wait is not None:
        raise RateLimited(wait)
    return now


# --- organisations and invitations -------------------------------------------------------------


async def create_org(p: Portal, by: Member, kind: str, tenant_id: str, name: str) -> str:
    if not by.is_operator or by.role != "admin":
        raise Refused("not_allowed")
    tenant_id, name = tenant_id.strip(), " ".join(name.split())
    if kind not in domain.ORG_KINDS or kind == "operators":
        raise Refused("bad_kind")
    if not TENANT_ID.match(tenant_id):
        raise Refused("bad_tenant_id")
    if not 1 <= len(name) <= 200:
        raise Refused("bad_name")
    org_id = await store.ensure_org(p.pool, kind, tenant_id, name)
    await store.audit(
        p.pool,
        "organisation_created",
        org_id=by.org_id,
        user_id=by.user_id,
        target=org_id,
        detail={"kind": kind, "tenant_id": tenant_id},
    )
    return org_id


async def invite(p: Portal, by: Member | None, org_id: str, email: str, role: str) -> str:
    """A new invitation's token (the link's secret, shown once); `by` None: the seed or bootstrap."""
    email = email.strip()
    if role not in domain.ROLES:
        raise Refused("bad_role")
    if by is not None and not domain.may_invite(by, org_id, role):  # type: ignore[arg-type]
        raise Refused("not_allowed")
    if not EMAIL.match(email):
        raise Refused("bad_email")
    if await store.org(p.pool, org_id) is None:
        raise Refused("not_allowed")
    if await store.user_by_email(p.pool, email) is not None:
        raise Refused("email_taken")
    token = domain.new_token()
    invitation_id = await store.create_invitation(
        p.pool,
        domain.token_hash(token),
        org_id,
        email,
        role,
        by.user_id if by else None,
        p.clock() + domain.INVITATION_LIFETIME,
    )
    await store.audit(
        p.pool,
        "invited",
        org_id=org_id,
        user_id=by.user_id if by else None,
        target=invitation_id,
        detail={"role": role, "by_org": by.org_id if by else None},
    )
    return token


async def disable(p: Portal, by: Member, user_id: str) -> None:
    """Take a user's access away (they left the organisation): sign-ins refused, sessions ended."""
    target = await store.user(p.pool, user_id)
    if target is None or not domain.may_disable(by, target["org_id"], user_id):
        raise Refused("not_allowed")
    async with p.pool.acquire() as conn, conn.transaction():
        await store.disable_user(conn, user_id, p.clock())
        await store.audit(conn, "user_disabled", org_id=by.org_id, user_id=by.user_id, target=user_id)


async def open_invitation(p: Portal, token: str) -> asyncpg.Record:
    row = await store.invitation_by_token(p.pool, domain.token_hash(token))
    if row is None or domain.invitation_state(row["accepted_at"], row["expires_at"], p.clock()) != "open":
        raise Refused("invitation_invalid")
    return row


async def accept(p: Portal, token: str, display_name: str, password: str, language: str | None) -> str:
    """Create the invited user with this password; their id."""
    display_name = " ".join(display_name.split())
    if not 1 <= len(display_name) <= 200:
        raise Refused("bad_name")
    async with p.pool.acquire() as conn, conn.transaction():
        row = await store.invitation_for_update(conn, domain.token_hash(token))
        now = p.clock()
        if row is None or domain.invitation_state(row["accepted_at"], row["expires_at"], now) != "open":
            raise Refused("invitation_invalid")
        problem = domain.password_problem(password, row["email"])
        if problem is not None:
            raise Refused(f"password_{problem}")
        user_id = await store.create_user(
            conn, row["org_id"], row["email"], display_name, row["role"], passwords.hash_password(password), language
        )
        if user_id is None:
            raise Refused("email_taken")
        await store.mark_accepted(conn, row["invitation_id"], user_id, now)
        await store.audit(
            conn, "invitation_accepted", org_id=row["org_id"], user_id=user_id, target=row["invitation_id"]
        )
    return user_id


# --- the partner's referrals -------------------------------------------------------------------


async def my_referrals(p: Portal, member: Member) -> list[dict[str, Any]]:
    """The organisation's referrals as outcomes tells them (the closed loop), each with
    `waiting` when it waits for an answer longer than the network's stale limit."""
    now = p.network_clock()
    items = await paged(p, member, "outcomes", "/v1/partner/referrals", REFERRALS_MAX)
    for item in items:
        updated = datetime.fromisoformat(item["updated_at"])
        item["waiting"] = domain.waiting_too_long(item["status"], updated, now, p.calendar, p.stale_business_days)
    items.sort(key=lambda i: i["updated_at"], reverse=True)
    return items


async def referral_timeline(p: Portal, member: Member, referral_id: str) -> dict[str, Any] | None:
    """One referral's timeline, None when it is not the organisation's (or does not exist)."""
    return await one_of_ours(p, member, "outcomes", f"/v1/referrals/{segment(referral_id)}/timeline")


async def one_of_ours(p: Portal, member: Member, service: str, path: str) -> dict[str, Any] | None:
    """A document the organisation's key may read, None when the service answers 404 (not
    theirs, or not there: the services do not tell the two apart)."""
    assert p.services is not None
    answer = await p.services.call(member, service, "GET", path)
    if answer.status == 404:
        return None
    if answer.status != 200:
        raise Refused("service_refused")
    return answer.json()


async def audit_answer(
    p: Portal, member: Member, action: str, target: str, answer: Answer, detail: dict[str, Any] | None = None
) -> None:
    """Record that a service took `action` for the member, with the call's correlation id. Once:
    an answer replayed for an Idempotency-Key (the same form sent twice) was recorded the first time."""
    if answer.response.headers.get("Idempotent-Replayed") == "true":
        return
    await store.audit(
        p.pool,
        action,
        org_id=member.org_id,
        user_id=member.user_id,
        target=target,
        correlation_id=answer.correlation_id,
        detail=detail,
    )


PAGE_LIMIT = 500  # the most items a service's list gives in one page


async def paged(
    p: Portal,
    member: Member,
    service: str,
    path: str,
    at_most: int,
    params: dict[str, Any] | None = None,
    after: Any = None,
) -> list[dict[str, Any]]:
    """A service's list as the organisation's key reads it, a page at a time from `after` (the
    services' `{"items": [...], "next_after": cursor}`, the cursor None after the last page) until
    its end or `at_most` items; Refused("service_refused") when the service refuses."""
    assert p.services is not None
    items: list[dict[str, Any]] = []
    while len(items) < at_most:
        query = {**(params or {}), "limit": min(PAGE_LIMIT, at_most - len(items))}
        if after is not None:
            query["after"] = after
        answer = await p.services.call(member, service, "GET", path, params=query)
        if answer.status != 200:
            raise Refused("service_refused")
        page = answer.json()
        items.extend(page["items"])
        after = page.get("next_after")
        if after is None:
            break
    return items


async def send_once(
    p: Portal, member: Member, service: str, method: str, path: str, body: Any, form_id: str | None
) -> Answer:
    """A change at a service for the organisation, with the form's own id in its Idempotency-Key,
    so the same form sent twice (a double click) acts once. The caller reads the answer: what a
    refusal means differs from one form to the next."""
    assert p.services is not None
    headers = {"Idempotency-Key": f"portal-{form_id}"[:200]} if form_id else {}
    return await p.services.call(member, service, method, path, json=body, headers=headers)


def segment(value: str) -> str:
    """An id as one path segment of a service's URL."""
    return quote(value, safe="")


@dataclass(frozen=True)
class ReferralForm:
    given_name: str
    family_name: str
    email: str
    phone: str
    skills: str
    program: str
    share_with_employers: bool
    share_contact: bool
    aggregate_reports: bool
    form_id: str  # the form's own id: submitting it twice refers once (Idempotency-Key)
    notify_candidate: bool = False  # the network may e-mail them about this referral (intake)
    preferred_language: str = ""  # "en", "es", or "" (not said)

    def problems(self) -> dict[str, str]:
        """Field -> message id, for what the portal can tell before asking intake."""
        found: dict[str, str] = {}
        for name in ("given_name", "family_name"):
            if not getattr(self, name).strip():
                found[name] = "required"
        if not EMAIL.match(self.email.strip()):
            found["email"] = "bad_email"
        if not self.skill_list():
            found["skills"] = "required"
        if not self.share_with_employers:
            found["share_with_employers"] = "consent_required"
        return found

    def skill_list(self) -> list[str]:
        return [s.strip() for s in re.split(r"[,;\n]", self.skills) if s.strip()]

    def body(self, org_name: str, now: datetime) -> dict[str, Any]:
        candidate = {
            "given_name": self.given_name.strip(),
            "family_name": self.family_name.strip(),
            "email": self.email.strip(),
        }
        if self.phone.strip():
            candidate["phone"] = self.phone.strip()
        body: dict[str, Any] = {
            "candidate": candidate,
            "skills": self.skill_list(),
            "consent": {
                "share_with_employers": self.share_with_employers,
                "share_contact": self.share_contact,
                "aggregate_reports": self.aggregate_reports,
                "notify_candidate": self.notify_candidate,
                "given_at": now.isoformat(),
            },
        }
        if self.preferred_language in domain.LANGUAGES:
            body["preferred_language"] = self.preferred_language
        if self.program.strip():
            body["training"] = {"program": self.program.strip(), "provider": org_name}
        return body


@dataclass(frozen=True)
class Referred:
    referral_id: str | None
    errors: list[dict[str, Any]]  # intake's field errors, when it refused
    duplicate_of: str | None = None


async def refer(p: Portal, member: Member, org_name: str, form: ReferralForm) -> Referred:
    if not member.may_write or not member.refers:
        raise Refused("not_allowed")
    answer = await send_once(p, member, "intake", "POST", "/v1/referrals", form.body(org_name, p.clock()), form.form_id)
    doc = answer.json()
    if answer.status in (200, 201):
        await store.audit(
            p.pool,
            "referred",
            org_id=member.org_id,
            user_id=member.user_id,
            target=doc["referral_id"],
            correlation_id=answer.correlation_id,
        )
        return Referred(doc["referral_id"], [])
    if answer.status == 409 and doc.get("existing_referral_id"):
        return Referred(None, [], duplicate_of=doc["existing_referral_id"])
    if answer.status == 422:
        return Referred(None, doc.get("errors") or [{"field": "", "message": doc.get("detail", "")}])
    raise Refused("service_refused")


# --- uploads -----------------------------------------------------------------------------------


async def drive_upload(p: Portal, member: Member, upload_id: str, filename: str, data: Any, size: int) -> None:
    """Send the file to intake's import, recording its progress lines as they come; the page
    reads them (`store.upload`). Runs after the upload's page has answered."""
    assert p.services is not None
    status, failure = "failed", "interrupted"
    correlation = None
    try:
        correlation, streaming = await p.services.stream(
            member,
            "intake",
            "POST",
            "/v1/imports",
            files={"file": (filename, data, "text/csv")},
            headers={"Accept": "application/x-ndjson", "Idempotency-Key": f"portal-upload-{upload_id}"},
        )
        async with streaming as response:
            if response.status_code >= 400:
                body = (await response.aread()).decode("utf-8", "replace")
                failure = _problem_text(body, response.status_code)
            else:
                async for line in response.aiter_lines():
                    if line.strip():
                        step = json.loads(line)
                        await store.upload_progress(p.pool, upload_id, step)
                        if "status" in step:  # the summary, last
                            status, failure = (
                                ("done", None)
                                if step["status"] == "done"
                                else ("failed", step.get("failure") or "failed")
                            )
    except Exception as exc:  # the page says it failed; the log says why
        failure = f"internal: {type(exc).__name__}"
        raise
    finally:
        await store.finish_upload(p.pool, upload_id, status, failure, p.clock())
        await store.audit(
            p.pool,
            "uploaded",
            org_id=member.org_id,
            user_id=member.user_id,
            target=upload_id,
            correlation_id=correlation,
            detail={"status": status},
        )
        close = getattr(data, "close", None)
        if close is not None:
            close()


def _problem_text(body: str, status: int) -> str:
    try:
        doc = json.loads(body)
        return f"{doc.get('title', status)}: {doc.get('detail') or ''}".strip(": ")[:500]
    except ValueError:
        return f"HTTP {status}"


def role_of(value: str) -> Role:
    if value not in domain.ROLES:
        raise Refused("bad_role")
    return value  # type: ignore[return-value]
