"""Sends intake's queued e-mails to candidates (`candidate_notices`), at most once each.

A notice is claimed (`FOR UPDATE SKIP LOCKED`: several intake instances share the queue),
checked against its referral as it is now (erased or withdrawn: cancelled; the contact is
opened with the candidate's key only now, so the queue never holds an address), marked
`sending` and committed, then handed to the SMTP server. The server's answer decides: sent;
refused for good or tried `TALENTLOOP_MAIL_MAX_ATTEMPTS` times, failed (logged as an error,
counted in `/metrics`); otherwise tried again after a doubling backoff. A
process that dies mid-send leaves the row `sending`: it is marked failed after a lease, never
sent again, because the server may have taken it (at most once rather than at least once: a
person should not get the same e-mail twice).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

from plumbing import metrics
from plumbing.context import Deps
from plumbing.faults import describe
from plumbing.logging import get_logger
from plumbing.mail import Mail, Mailer, MailError
from plumbing.vault import Unreadable
from services.intake import notify, notify_store, store

log = get_logger(__name__)

MAILS = Counter(
    "talentloop_candidate_mails_total",
    "E-mails to candidates about their referral, by kind and outcome (sent, retry, failed, cancelled).",
    ["kind", "outcome"],
    registry=metrics.REGISTRY,
)
POLL_S = 0.5
HOUSEKEEPING_S = 600.0


class Sender:
    def __init__(self, pool: asyncpg.Pool, deps: Deps, mailer: Mailer) -> None:
        self.pool, self.deps, self.mailer = pool, deps, mailer

    async def send_due(self) -> bool:
        """Send (or settle) the next notice due; False when none is."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await notify_store.claim_due(conn, self.deps.clock())
            if row is None:
                return False
            mail, why_not = await self._mail_of(conn, row)
            if mail is None:
                await notify_store.finish(conn, row["event_id"], "cancelled", why_not)
                MAILS.labels(row["kind"], "cancelled").inc()
                log.info("notify.cancelled", event_id=str(row["event_id"]), kind=row["kind"], reason=why_not)
                return True
            await notify_store.mark_sending(conn, row["event_id"])
        # Committed as `sending`: from here on a crash leaves it unsent-or-sent, never sent twice.
        await self._send(row, mail)
        return True

    async def _mail_of(self, conn: asyncpg.Connection, row: asyncpg.Record) -> tuple[Mail | None, str | None]:
        if row["referral_status"] != "active" or row["contact_sealed"] is None:
            return None, "erased" if row["referral_status"] == "erased" else f"referral {row['referral_status']}"
        vault = self.deps.vault
        assert vault is not None  # intake always has one
        try:
            contact = await vault.open(conn, row["candidate_id"], store.sealed(row["contact_sealed"]), "contact")  # type: ignore[arg-type]
        except Unreadable:
            return None, "erased"
        if not contact.get("email"):
            return None, "no e-mail address"
        words = notify.render(
            row["kind"],
            row["language"],
            _json(row["details"]),
            given_name=contact.get("given_name"),
            partner=row["partner_id"],
            zone=self.deps.settings.business_timezone,
        )
        return Mail(
            contact["email"], words.subject, words.body, row["language"], f"<{row['event_id']}@talentloop>"
        ), None

    async def _send(self, row: asyncpg.Record, mail: Mail) -> None:
        event_id, kind, attempt = row["event_id"], row["kind"], row["attempts"] + 1
        settings = self.mailer.settings
        try:
            await self.mailer.send(mail)
        except MailError as exc:
            if exc.permanent or attempt >= settings.mail_max_attempts:
                await notify_store.finish(self.pool, event_id, "failed", f"attempt {attempt}: {exc}")
                MAILS.labels(kind, "failed").inc()
                log.error("notify.failed", event_id=str(event_id), kind=kind, attempts=attempt, error=str(exc))
                return
            later = self.deps.clock() + timedelta(seconds=settings.mail_backoff_s * 2 ** (attempt - 1))
            await notify_store.retry_later(self.pool, event_id, later, f"attempt {attempt}: {exc}")
            MAILS.labels(kind, "retry").inc()
            log.warning("notify.retry", event_id=str(event_id), kind=kind, attempts=attempt, error=str(exc))
            return
        await notify_store.finish(self.pool, event_id, "sent", None)
        MAILS.labels(kind, "sent").inc()
        log.info("notify.sent", event_id=str(event_id), kind=kind, language=mail.language)

    async def housekeeping(self) -> None:
        stuck = await notify_store.interrupted(self.pool)
        if stuck:
            log.error("notify.interrupted", notices=stuck)
        await notify_store.prune(self.pool)

    async def run(self) -> None:
        await self.housekeeping()
        last = asyncio.get_running_loop().time()
        while True:
            try:
                while await self.send_due():
                    pass
                if asyncio.get_running_loop().time() - last > HOUSEKEEPING_S:
                    await self.housekeeping()
                    last = asyncio.get_running_loop().time()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("notify.database_unavailable", error=describe(exc, 300))
            await asyncio.sleep(POLL_S)


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def run_in(sender: Sender) -> asyncio.Task[None]:
    return asyncio.create_task(sender.run(), name="intake-candidate-mail")
