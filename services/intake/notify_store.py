"""The SQL of intake's e-mails to candidates (`candidate_notices`, migration 006)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

# How long a finished notice (sent, failed, cancelled) is kept for operators to look at.
KEEP_FINISHED = timedelta(days=30)
# A notice still `sending` this long after it was claimed was interrupted (the process died
# mid-send): whether it went is unknown, so it is not sent again.
SENDING_LEASE = timedelta(minutes=10)


async def referral(conn: asyncpg.Connection, referral_id: str) -> asyncpg.Record | None:
    """What deciding on an e-mail needs of a referral, without opening anything."""
    return await conn.fetchrow(
        "SELECT status, partner_id, (submission->'consent'->>'notify_candidate')::boolean IS TRUE AS consented,"
        " submission->>'preferred_language' AS language FROM referrals WHERE referral_id = $1",
        referral_id,
    )


async def enqueue(
    conn: asyncpg.Connection,
    event_id: uuid.UUID,
    referral_id: str,
    kind: str,
    language: str,
    details: dict[str, Any],
    due: datetime,
) -> None:
    """Due at the service's clock's `now` (a demo's simulated time, not the database's)."""
    await conn.execute(
        "INSERT INTO candidate_notices (event_id, referral_id, kind, language, details, next_attempt_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        event_id,
        referral_id,
        kind,
        language,
        json.dumps(details),
        due,
    )


async def erase(conn: asyncpg.Connection, referral_ids: list[str]) -> int:
    """Erased referrals: nothing more is sent, and what their notices said goes."""
    done = await conn.execute(
        "UPDATE candidate_notices SET details = '{}',"
        " status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,"
        " last_error = CASE WHEN status = 'pending' THEN 'erased' ELSE last_error END, updated_at = now()"
        " WHERE referral_id = ANY($1::text[])",
        referral_ids,
    )
    return int(done.split()[-1])


async def claim_due(conn: asyncpg.Connection, now: datetime) -> asyncpg.Record | None:
    """The next notice due, locked for this transaction (another sender skips it), with what
    sending needs of its referral."""
    return await conn.fetchrow(
        "SELECT n.event_id, n.referral_id, n.kind, n.language, n.details, n.attempts,"
        " r.status AS referral_status, r.partner_id, r.candidate_id, r.contact_sealed"
        " FROM candidate_notices n JOIN referrals r USING (referral_id)"
        " WHERE n.status = 'pending' AND n.next_attempt_at <= $1"
        " ORDER BY n.next_attempt_at LIMIT 1 FOR UPDATE OF n SKIP LOCKED",
        now,
    )


async def mark_sending(conn: asyncpg.Connection, event_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE candidate_notices SET status = 'sending', attempts = attempts + 1, updated_at = now()"
        " WHERE event_id = $1",
        event_id,
    )


async def finish(conn: asyncpg.Connection | asyncpg.Pool, event_id: uuid.UUID, status: str, error: str | None) -> None:
    await conn.execute(
        "UPDATE candidate_notices SET status = $2, last_error = $3, updated_at = now(),"
        " details = CASE WHEN $2 = 'cancelled' THEN '{}'::jsonb ELSE details END WHERE event_id = $1",
        event_id,
        status,
        error,
    )


async def retry_later(pool: asyncpg.Pool, event_id: uuid.UUID, at: datetime, error: str) -> None:
    await pool.execute(
        "UPDATE candidate_notices SET status = 'pending', next_attempt_at = $2, last_error = $3, updated_at = now()"
        " WHERE event_id = $1 AND status = 'sending'",
        event_id,
        at,
        error,
    )


async def interrupted(pool: asyncpg.Pool) -> int:
    """Notices left `sending` by a process that died: failed, never sent again."""
    done = await pool.execute(
        "UPDATE candidate_notices SET status = 'failed', updated_at = now(),"
        " last_error = 'interrupted while sending: it may or may not have been delivered, so it is not sent again'"
        " WHERE status = 'sending' AND updated_at < now() - $1::interval",
        SENDING_LEASE,
    )
    return int(done.split()[-1])


async def prune(pool: asyncpg.Pool) -> int:
    done = await pool.execute(
        "DELETE FROM candidate_notices WHERE status IN ('sent', 'failed', 'cancelled')"
        " AND updated_at < now() - $1::interval",
        KEEP_FINISHED,
    )
    return int(done.split()[-1])


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    """Notices by status (`/health`'s `candidate_mail`)."""
    rows = await pool.fetch("SELECT status, count(*) AS n FROM candidate_notices GROUP BY status")
    return {r["status"]: r["n"] for r in rows}
