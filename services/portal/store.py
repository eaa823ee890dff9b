"""The portal's SQL (its own schema, `portal`; migrations/*.sql). Every read of an
organisation's rows names the organisation, so one organisation's id never finds another's."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

Db = asyncpg.Pool | asyncpg.Connection

_USER = (
    "SELECT u.user_id::text, u.org_id::text, u.email, u.display_name, u.role, u.password_hash, u.language,"
    " u.disabled_at, o.kind AS org_kind, o.tenant_id, o.name AS org_name FROM users u JOIN organisations o USING (org_id)"
)


# --- organisations -----------------------------------------------------------------------------


async def ensure_org(db: Db, kind: str, tenant_id: str, name: str) -> str:
    """The organisation of this kind and tenant id, created if missing (its id)."""
    row = await db.fetchrow(
        "INSERT INTO organisations (org_id, kind, tenant_id, name) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (kind, tenant_id) DO NOTHING RETURNING org_id::text",
        uuid.uuid4(),
        kind,
        tenant_id,
        name,
    )
    if row is not None:
        return row["org_id"]
    return await db.fetchval(
        "SELECT org_id::text FROM organisations WHERE kind = $1 AND tenant_id = $2", kind, tenant_id
    )


async def org(db: Db, org_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT org_id::text, kind, tenant_id, name FROM organisations WHERE org_id = $1::uuid", org_id
    )


async def orgs(db: Db) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT o.org_id::text, o.kind, o.tenant_id, o.name, count(u.user_id) AS users FROM organisations o"
        " LEFT JOIN users u ON u.org_id = o.org_id AND u.disabled_at IS NULL GROUP BY o.org_id ORDER BY o.name"
    )


# --- users and invitations ---------------------------------------------------------------------


async def user_by_email(db: Db, email: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_USER} WHERE lower(u.email) = lower($1)", email)


async def user(db: Db, user_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_USER} WHERE u.user_id = $1::uuid", user_id)


async def members(db: Db, org_id: str) -> list[asyncpg.Record]:
    return await db.fetch(f"{_USER} WHERE u.org_id = $1::uuid ORDER BY u.display_name", org_id)


async def create_invitation(
    db: Db, token_sha256: bytes, org_id: str, email: str, role: str, invited_by: str | None, expires_at: datetime
) -> str:
    return await db.fetchval(
        "INSERT INTO invitations (invitation_id, token_sha256, org_id, email, role, invited_by, expires_at)"
        " VALUES ($1, $2, $3::uuid, $4, $5, $6::uuid, $7) RETURNING invitation_id::text",
        uuid.uuid4(),
        token_sha256,
        org_id,
        email,
        role,
        invited_by,
        expires_at,
    )


async def invitations(db: Db, org_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT invitation_id::text, email, role, created_at, expires_at, accepted_at FROM invitations"
        " WHERE org_id = $1::uuid ORDER BY created_at DESC LIMIT 100",
        org_id,
    )


async def invitation_for_update(conn: asyncpg.Connection, token_sha256: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT i.invitation_id::text, i.org_id::text, i.email, i.role, i.expires_at, i.accepted_at,"
        " o.name AS org_name FROM invitations i JOIN organisations o USING (org_id)"
        " WHERE i.token_sha256 = $1 FOR UPDATE OF i",
        token_sha256,
    )


async def invitation_by_token(db: Db, token_sha256: bytes) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT i.invitation_id::text, i.org_id::text, i.email, i.role, i.expires_at, i.accepted_at,"
        " o.name AS org_name FROM invitations i JOIN organisations o USING (org_id) WHERE i.token_sha256 = $1",
        token_sha256,
    )


async def create_user(
    conn: asyncpg.Connection,
    org_id: str,
    email: str,
    display_name: str,
    role: str,
    password_hash: str,
    language: str | None,
) -> str | None:
    """The new user's id; None if the e-mail address has an account already."""
    return await conn.fetchval(
        "INSERT INTO users (user_id, org_id, email, display_name, role, password_hash, language)"
        " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING user_id::text",
        uuid.uuid4(),
        org_id,
        email,
        display_name,
        role,
        password_hash,
        language,
    )


async def mark_accepted(conn: asyncpg.Connection, invitation_id: str, user_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE invitations SET accepted_at = $2, accepted_user = $3::uuid WHERE invitation_id = $1::uuid",
        invitation_id,
        now,
        user_id,
    )


async def set_password_hash(db: Db, user_id: str, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE user_id = $1::uuid", user_id, password_hash)


async def disable_user(db: Db, user_id: str, now: datetime) -> None:
    """No more sign-ins, and every session of the user ends now."""
    await db.execute("UPDATE users SET disabled_at = coalesce(disabled_at, $2) WHERE user_id = $1::uuid", user_id, now)
    await db.execute("DELETE FROM sessions WHERE user_id = $1::uuid", user_id)


async def set_user_language(db: Db, user_id: str, language: str) -> None:
    await db.execute("UPDATE users SET language = $2 WHERE user_id = $1::uuid", user_id, language)


# --- sessions ----------------------------------------------------------------------------------


async def create_session(
    db: Db, token_sha256: bytes, user_id: str | None, csrf_token: str, language: str | None, expires_at: datetime
) -> None:
    await db.execute(
        "INSERT INTO sessions (token_sha256, user_id, csrf_token, language, expires_at)"
        " VALUES ($1, $2::uuid, $3, $4, $5)",
        token_sha256,
        user_id,
        csrf_token,
        language,
        expires_at,
    )


async def session(db: Db, token_sha256: bytes, now: datetime) -> asyncpg.Record | None:
    """A live session with its user (null columns for a visitor); disabled users have none."""
    return await db.fetchrow(
        "SELECT s.csrf_token, s.language AS session_language, s.expires_at, u.user_id::text, u.org_id::text,"
        " u.email, u.display_name, u.role, u.language, o.kind AS org_kind, o.tenant_id, o.name AS org_name"
        " FROM sessions s LEFT JOIN users u ON u.user_id = s.user_id LEFT JOIN organisations o ON o.org_id = u.org_id"
        " WHERE s.token_sha256 = $1 AND s.expires_at > $2 AND (s.user_id IS NULL OR u.disabled_at IS NULL)",
        token_sha256,
        now,
    )


async def drop_session(db: Db, token_sha256: bytes) -> None:
    await db.execute("DELETE FROM sessions WHERE token_sha256 = $1", token_sha256)


async def set_session_language(db: Db, token_sha256: bytes, language: str) -> None:
    await db.execute("UPDATE sessions SET language = $2 WHERE token_sha256 = $1", token_sha256, language)


async def prune(db: Db, now: datetime, failures_before: datetime) -> None:
    await db.execute("DELETE FROM sessions WHERE expires_at <= $1", now)
    await db.execute("DELETE FROM signin_failures WHERE at < $1", failures_before)


# --- sign-in failures --------------------------------------------------------------------------


async def record_failure(db: Db, email: str, address: str, now: datetime) -> None:
    await db.execute("INSERT INTO signin_failures (email, address, at) VALUES ($1, $2, $3)", email, address, now)


async def failures(db: Db, email: str, address: str, since: datetime) -> tuple[list[datetime], list[datetime]]:
    rows = await db.fetch(
        "SELECT email = $1 AS mine, address = $2 AS here, at FROM signin_failures"
        " WHERE at > $3 AND (email = $1 OR address = $2)",
        email,
        address,
        since,
    )
    return [r["at"] for r in rows if r["mine"]], [r["at"] for r in rows if r["here"]]


# --- audit -------------------------------------------------------------------------------------


async def audit(
    db: Db,
    action: str,
    *,
    org_id: str | None,
    user_id: str | None,
    target: str | None = None,
    correlation_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        "INSERT INTO audit (org_id, user_id, action, target, correlation_id, detail)"
        " VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::jsonb)",
        org_id,
        user_id,
        action,
        target,
        correlation_id,
        json.dumps(detail or {}),
    )


async def audit_of(db: Db, org_id: str, limit: int = 100) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT at, user_id::text, action, target, correlation_id FROM audit WHERE org_id = $1::uuid"
        " ORDER BY audit_id DESC LIMIT $2",
        org_id,
        limit,
    )


# --- machine keys ------------------------------------------------------------------------------


async def org_key(db: Db, org_id: str) -> bytes | None:
    return await db.fetchval("SELECT sealed FROM org_keys WHERE org_id = $1::uuid", org_id)


async def put_org_key(db: Db, org_id: str, key_id: str, sealed: bytes) -> bool:
    """False if another process stored one first (keep theirs)."""
    done = await db.fetchval(
        "INSERT INTO org_keys (org_id, key_id, sealed) VALUES ($1::uuid, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
        org_id,
        key_id,
        sealed,
    )
    return done is True


# --- uploads -----------------------------------------------------------------------------------

_UPLOAD = (
    "SELECT upload_id::text, user_id::text, filename, status, bytes_total, bytes_read, rows, accepted,"
    " duplicates, rejected, import_id, failure, started_at, finished_at FROM uploads"
)


async def start_upload(db: Db, org_id: str, user_id: str, filename: str | None, bytes_total: int) -> str:
    return await db.fetchval(
        "INSERT INTO uploads (upload_id, org_id, user_id, filename, bytes_total) VALUES ($1, $2::uuid, $3::uuid, $4, $5)"
        " RETURNING upload_id::text",
        uuid.uuid4(),
        org_id,
        user_id,
        filename,
        bytes_total,
    )


async def upload_progress(db: Db, upload_id: str, step: dict[str, Any]) -> None:
    await db.execute(
        "UPDATE uploads SET bytes_read = $2, rows = $3, accepted = $4, duplicates = $5, rejected = $6,"
        " import_id = coalesce(import_id, $7) WHERE upload_id = $1::uuid",
        upload_id,
        step.get("bytes_read", 0),
        step.get("rows", 0),
        step.get("accepted", 0),
        step.get("duplicates", 0),
        step.get("rejected", 0),
        step.get("import_id"),
    )


async def finish_upload(db: Db, upload_id: str, status: str, failure: str | None, now: datetime) -> None:
    await db.execute(
        "UPDATE uploads SET status = $2, failure = $3, finished_at = $4,"
        " bytes_read = CASE WHEN $2 = 'done' THEN bytes_total ELSE bytes_read END WHERE upload_id = $1::uuid",
        upload_id,
        status,
        failure,
        now,
    )


async def upload(db: Db, org_id: str, upload_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_UPLOAD} WHERE org_id = $1::uuid AND upload_id = $2::uuid", org_id, upload_id)


async def uploads(db: Db, org_id: str, limit: int = 20) -> list[asyncpg.Record]:
    return await db.fetch(f"{_UPLOAD} WHERE org_id = $1::uuid ORDER BY started_at DESC LIMIT $2", org_id, limit)
