"""What the portal sends by e-mail (docs/portals.md, "Links by e-mail"): invitations, a one-time
sign-in link, and a one-time link to choose a new password.

A link's token is 256 random bits; the database keeps its SHA-256 (`email_links`, migration
002). It works once, until it expires (a sign-in link 15 minutes, a password link an hour),
and asking for a new one ends the older ones of the same purpose. Asking is limited like
signing in, and counts there (`signin_failures`: per address typed and per client address),
for addresses with and without an account alike. The answer never says whether an account
exists: the page is the same, and the e-mail is sent after the answer (a background task),
so neither the words nor the time tell. Sent with `plumbing/mail.py`; without SMTP settings
the pages answer 404 and invitations show their link, as before.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from plumbing.logging import get_logger
from plumbing.mail import Mail, Mailer, MailError
from services.portal import domain, i18n, passwords, store
from services.portal.application import Portal, RateLimited, Refused, not_held
from services.portal.messages import N_

log = get_logger(__name__)

Purpose = Literal["sign_in", "reset"]
LIFETIME: dict[str, timedelta] = {"sign_in": timedelta(minutes=15), "reset": timedelta(hours=1)}
PATH = {"sign_in": "/sign-in/email/", "reset": "/password/reset/"}

SUBJECTS = {
    "sign_in": N_("Your sign-in link for the TalentLoop portal"),
    "reset": N_("Choose a new password for the TalentLoop portal"),
    "invitation": N_("You are invited to the TalentLoop portal"),
}
BODIES = {
    "sign_in": N_(
        "Someone asked to sign in to the TalentLoop portal with this e-mail address. To sign in, open this"
        " link within 15 minutes; it works once:\n\n%(link)s\n\nIf it was not you, ignore this e-mail."
    ),
    "reset": N_(
        "Someone asked to choose a new password for the TalentLoop portal account of this e-mail address."
        " Open this link within an hour to choose it; it works once:\n\n%(link)s\n\nIf it was not you, ignore"
        " this e-mail: your password stays as it is."
    ),
    "invitation": N_(
        "You are invited to join %(org)s on the TalentLoop portal. Open this link within 7 days to choose your"
        " name and password; it works once:\n\n%(link)s"
    ),
}


def mail_of(kind: str, language: str, to: str, **values: str) -> Mail:
    _ = i18n.gettext_for(language)
    return Mail(to, _(SUBJECTS[kind]), _(BODIES[kind], **values) + "\n", language)


async def request_link(
    p: Portal, mailer: Mailer, purpose: Purpose, email: str, address: str, base_url: str, language: str
) -> Mail | None:
    """The e-mail to send (None when there is no such usable account: the caller answers the
    same either way); RateLimited while the address typed or the client asked too often."""
    email = email.strip().lower()[:254]
    now = await not_held(p, email, address)
    await store.record_failure(p.pool, email, address, now)  # a request counts like a failed sign-in
    user = await store.user_by_email(p.pool, email)
    if user is None or user["disabled_at"] is not None:
        await store.audit(p.pool, f"{purpose}_link_refused", org_id=None, user_id=None)
        return None
    token = domain.new_token()
    async with p.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE email_links SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
            user["user_id"],
            purpose,
            now,
        )
        await conn.execute(
            "INSERT INTO email_links (token_sha256, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            domain.token_hash(token),
            user["user_id"],
            purpose,
            now,
            now + LIFETIME[purpose],
        )
    await store.audit(p.pool, f"{purpose}_link_sent", org_id=str(user["org_id"]), user_id=str(user["user_id"]))
    link = f"{base_url.rstrip('/')}{PATH[purpose]}{token}"
    return mail_of(purpose, user["language"] or language, user["email"], link=link)


async def link_user(
    db: asyncpg.Pool | asyncpg.Connection, purpose: Purpose, token: str, now: datetime
) -> asyncpg.Record | None:
    """The account an unused, unexpired link is for (not using it)."""
    return await db.fetchrow(
        "SELECT u.* FROM email_links l JOIN users u USING (user_id) WHERE l.token_sha256 = $1 AND l.purpose = $2"
        " AND l.used_at IS NULL AND l.expires_at > $3 AND u.disabled_at IS NULL",
        domain.token_hash(token[:100]),
        purpose,
        now,
    )


async def _use(conn: asyncpg.Connection, purpose: Purpose, token: str, now: datetime) -> asyncpg.Record:
    """Use the link, once: two requests racing with it, one wins."""
    user = await link_user(conn, purpose, token, now)
    used = await conn.fetchval(
        "UPDATE email_links SET used_at = $3 WHERE token_sha256 = $1 AND purpose = $2 AND used_at IS NULL"
        " AND expires_at > $3 RETURNING true",
        domain.token_hash(token[:100]),
        purpose,
        now,
    )
    if user is None or not used:
        raise Refused("link_invalid")
    return user


async def sign_in_by_link(p: Portal, token: str) -> asyncpg.Record:
    async with p.pool.acquire() as conn, conn.transaction():
        return await _use(conn, "sign_in", token, p.clock())


async def reset_password(p: Portal, token: str, password: str, again: str) -> asyncpg.Record:
    """Choose the new password: every session of the account ends (the caller starts a new one)."""
    now = p.clock()
    user = await link_user(p.pool, "reset", token, now)
    if user is None:
        raise Refused("link_invalid")
    if password != again:
        raise Refused("password_mismatch")
    problem = domain.password_problem(password, user["email"])
    if problem is not None:
        raise Refused(f"password_{problem}")
    password_hash = passwords.hash_password(password)  # argon2id, outside the transaction
    async with p.pool.acquire() as conn, conn.transaction():
        user = await _use(conn, "reset", token, now)
        await store.set_password_hash(conn, str(user["user_id"]), password_hash)
        await conn.execute("DELETE FROM sessions WHERE user_id = $1", user["user_id"])
        await conn.execute(
            "UPDATE email_links SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL", user["user_id"], now
        )
    await store.audit(p.pool, "password_reset", org_id=str(user["org_id"]), user_id=str(user["user_id"]))
    return user


async def send(mailer: Mailer, mail: Mail, what: str) -> bool:
    """Send now; False (and a log line, without the address) when the server did not take it."""
    try:
        await mailer.send(mail)
    except MailError as exc:
        log.error("portal.mail_failed", what=what, error=str(exc))
        return False
    log.info("portal.mail_sent", what=what)
    return True


def send_later(tasks: set[asyncio.Task[bool]], mailer: Mailer, mail: Mail, what: str) -> None:
    """After the answer: how long sending takes must not tell whether the account exists."""
    task = asyncio.create_task(send(mailer, mail, what), name=f"portal-mail-{what}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def send_invitation(request: Any, link: str, email: str, org_id: str) -> bool:
    """E-mail an invitation now (the inviter sees whether it went); False without mail settings."""
    mailer: Mailer = request.app.state.mailer
    if not mailer.configured:
        return False
    org = await store.org(request.app.state.pool, org_id)
    language = getattr(request.state, "web_session", None)
    language = language.language if language is not None else "en"
    mail = mail_of("invitation", language, email, link=link, org=org["name"] if org else "")
    return await send(mailer, mail, "invitation")


__all__ = ["Refused", "RateLimited", "link_user", "request_link", "reset_password", "sign_in_by_link"]
