"""API keys in PostgreSQL: issue, authenticate, rotate, revoke and list (see docs/api-keys.md).

Keys live in the shared `credentials` schema, created idempotently by every service at start
(and by `talentloop up`), so every service authenticates every caller and a key issued or
revoked through one service holds for all. A row keeps the SHA-256 of the key's secret,
never the secret.

Each process caches the rows it has seen for `cache_s` seconds (5 by default): a key revoked
elsewhere keeps working for at most that long in another process; in the process that
revoked it, at once. Expiry is decided on every request from the cached `expires_at`, so it
is exact. Unknown key ids are never cached: a key is usable as soon as it is issued.
`last_used_at` is written at most once a minute per key (and per process).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from contracts.bounds import ID_MAX
from plumbing.auth import (
    ALL_SCOPES,
    KIND_TAGS,
    KINDS,
    SCOPES,
    InvalidKey,
    Kind,
    Principal,
    format_key,
    hash_secret,
    new_key_id,
    new_secret,
    parse_key,
)

SCHEMA = "credentials"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
TOUCH_EVERY = timedelta(minutes=1)


def schema_sql(schema: str = SCHEMA) -> str:
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    scopes = ", ".join(f"'{s}'" for s in SCOPES)
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.api_keys (
    key_id         text PRIMARY KEY,
    principal_kind text        NOT NULL CHECK (principal_kind IN ({kinds})),
    principal_id   text        NOT NULL,
    scopes         text[]      NOT NULL CHECK (scopes <@ ARRAY[{scopes}]::text[]),
    secret_sha256  bytea       NOT NULL,
    label          text,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz,
    revoked_at     timestamptz,
    last_used_at   timestamptz,
    replaced_by    text REFERENCES {schema}.api_keys (key_id)
);
CREATE INDEX IF NOT EXISTS api_keys_principal ON {schema}.api_keys (principal_kind, principal_id);
"""


async def ensure_schema(conn: asyncpg.Connection, schema: str = SCHEMA) -> None:
    """Create the schema and table if missing; safe when several services start at once."""
    if not _IDENT.match(schema):
        raise ValueError(f"bad schema name {schema!r}")
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}.api_keys")
        await conn.execute(schema_sql(schema))


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    unknown = [s for s in chosen if s not in ALL_SCOPES]
    if unknown or not chosen:
        raise ValueError(f"scopes must be one or more of {', '.join(SCOPES)} (got {', '.join(chosen) or 'none'})")
    return chosen


_PRINCIPAL_ID = re.compile(r"[\x21-\x7e]{1,%d}" % ID_MAX)


class KeyNotFound(Exception):
    pass


class KeyConflict(Exception):
    """The key cannot change that way (already revoked, already rotated, no longer valid)."""


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    kind: Kind
    principal_id: str
    scopes: tuple[str, ...]
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    replaced_by: str | None
    secret_sha256: bytes

    @classmethod
    def of(cls, row: asyncpg.Record) -> KeyInfo:
        return cls(
            row["key_id"],
            row["principal_kind"],
            row["principal_id"],
            tuple(row["scopes"]),
            row["label"],
            row["created_at"],
            row["expires_at"],
            row["revoked_at"],
            row["last_used_at"],
            row["replaced_by"],
            bytes(row["secret_sha256"]),
        )

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def public(self, now: datetime) -> dict[str, Any]:
        """What an API or CLI shows of a key: everything but its hash."""
        return {
            "key_id": self.key_id,
            "principal": {"kind": self.kind, "id": self.principal_id},
            "scopes": list(self.scopes),
            "label": self.label,
            "status": self.status(now),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "replaced_by": self.replaced_by,
        }


@dataclass(frozen=True)
class Issued:
    """A new key: `key` is the only copy of its plaintext, shown once."""

    key: str
    info: KeyInfo


class ApiKeys:
    """The key store of one process, over the service's pool (which reaches the shared schema)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schema: str = SCHEMA,
        cache_s: float = 5.0,
        grace_s: float = 86400.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not _IDENT.match(schema):
            raise ValueError(f"bad schema name {schema!r}")
        self.pool = pool
        self.table = f"{schema}.api_keys"
        self.cache_s = cache_s
        self.grace = timedelta(seconds=grace_s)
        self.clock = clock
        self._cache: dict[str, tuple[float, KeyInfo]] = {}
        self._touched: dict[str, datetime] = {}

    # -- authentication --------------------------------------------------------------------

    async def _row(self, key_id: str) -> KeyInfo | None:
        cached = self._cache.get(key_id)
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        row = await self.pool.fetchrow(f"SELECT * FROM {self.table} WHERE key_id = $1", key_id)
        if row is None:
            self._cache.pop(key_id, None)
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        info = KeyInfo.of(row)
        self._cache[key_id] = (time.monotonic(), info)
        return info

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def authenticate(self, presented: str) -> Principal:
        """The principal a presented key stands for; InvalidKey if it does not authenticate."""
        key = parse_key(presented)
        info = await self._row(key.key_id)
        if (
            info is None
            or KIND_TAGS[info.kind] != key.kind_tag
            or not hmac.compare_digest(info.secret_sha256, hash_secret(key.secret))
        ):
            raise InvalidKey("unknown API key")
        now = self.clock()
        status = info.status(now)
        if status == "revoked":
            raise InvalidKey(f"API key {info.key_id} was revoked")
        if status == "expired":
            rotated = f" (rotated to {info.replaced_by})" if info.replaced_by else ""
            raise InvalidKey(f"API key {info.key_id} expired{rotated}")
        await self._touch(info.key_id, now)
        return Principal(info.kind, info.principal_id, frozenset(info.scopes), info.key_id)

    async def _touch(self, key_id: str, now: datetime) -> None:
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[key_id] = now
        await self.pool.execute(
            f"UPDATE {self.table} SET last_used_at = $2 WHERE key_id = $1"
            " AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '1 minute')",
            key_id,
            now,
        )

    # -- management ------------------------------------------------------------------------

    async def _insert(
        self,
        conn: asyncpg.Connection,
        kind: Kind,
        principal_id: str,
        scopes: Iterable[str],
        *,
        label: str | None,
        expires_at: datetime | None,
        key_id: str | None = None,
        secret: str | None = None,
    ) -> Issued | None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if not _PRINCIPAL_ID.fullmatch(principal_id or ""):
            # Events carry it (partnerid, employerid): one no event could carry would make
            # every action of that principal unpublishable.
            raise ValueError(f"a principal id is 1 to {ID_MAX} printable ASCII characters without spaces")
        key_id, secret = key_id or new_key_id(), secret or new_secret()
        row = await conn.fetchrow(
            f"INSERT INTO {self.table} (key_id, principal_kind, principal_id, scopes, secret_sha256, label,"
            " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (key_id) DO NOTHING RETURNING *",
            key_id,
            kind,
            principal_id,
            check_scopes(scopes),
            hash_secret(secret),
            label,
            self.clock(),
            expires_at,
        )
        return None if row is None else Issued(format_key(kind, key_id, secret), KeyInfo.of(row))

    async def issue(
        self,
        kind: Kind,
        principal_id: str,
        scopes: Iterable[str] = ALL_SCOPES,
        *,
        label: str | None = None,
        expires_at: datetime | None = None,
    ) -> Issued:
        async with self.pool.acquire() as conn:
            issued = await self._insert(conn, kind, principal_id, scopes, label=label, expires_at=expires_at)
        assert issued is not None  # a fresh random key id
        return issued

    async def seed(self, key: str, kind: Kind, principal_id: str, scopes: Iterable[str], label: str) -> bool:
        """Store a key whose plaintext the caller already holds (the local demo's keys.json);
        False if its key id is stored already (then nothing changes, not even a revocation)."""
        parsed = parse_key(key)
        if parsed.kind_tag != KIND_TAGS[kind]:
            raise ValueError(f"{parsed.key_id} is not a {kind} key")
        async with self.pool.acquire() as conn:
            issued = await self._insert(
                conn,
                kind,
                principal_id,
                scopes,
                label=label,
                expires_at=None,
                key_id=parsed.key_id,
                secret=parsed.secret,
            )
        return issued is not None

    async def rotate(self, key_id: str, grace_s: float | None = None) -> tuple[Issued, KeyInfo]:
        """A new key for the same principal and scopes; the old one expires after the grace period.

        A key with a lifetime passes it on: the new key lives as long as the old one was meant to.
        Returns the new key and the old key as it is now.
        """
        grace = self.grace if grace_s is None else timedelta(seconds=grace_s)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"SELECT * FROM {self.table} WHERE key_id = $1 FOR UPDATE", key_id)
            if row is None:
                raise KeyNotFound(key_id)
            old, now = KeyInfo.of(row), self.clock()
            if old.status(now) != "active":
                raise KeyConflict(f"{key_id} is {old.status(now)}")
            if old.replaced_by is not None:
                raise KeyConflict(f"{key_id} was already rotated, to {old.replaced_by}")
            lifetime = old.expires_at - old.created_at if old.expires_at is not None else None
            new = await self._insert(
                conn,
                old.kind,
                old.principal_id,
                old.scopes,
                label=old.label,
                expires_at=now + lifetime if lifetime is not None else None,
            )
            assert new is not None
            ends = now + grace if old.expires_at is None else min(old.expires_at, now + grace)
            row = await conn.fetchrow(
                f"UPDATE {self.table} SET replaced_by = $2, expires_at = $3 WHERE key_id = $1 RETURNING *",
                key_id,
                new.info.key_id,
                ends,
            )
        self.forget(key_id)
        return new, KeyInfo.of(row)

    async def revoke(self, key_id: str) -> KeyInfo:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"SELECT * FROM {self.table} WHERE key_id = $1 FOR UPDATE", key_id)
            if row is None:
                raise KeyNotFound(key_id)
            if row["revoked_at"] is not None:
                raise KeyConflict(f"{key_id} was already revoked at {row['revoked_at'].isoformat()}")
            row = await conn.fetchrow(
                f"UPDATE {self.table} SET revoked_at = $2 WHERE key_id = $1 RETURNING *", key_id, self.clock()
            )
        self.forget(key_id)
        return KeyInfo.of(row)

    async def get(self, key_id: str) -> KeyInfo | None:
        row = await self.pool.fetchrow(f"SELECT * FROM {self.table} WHERE key_id = $1", key_id)
        return None if row is None else KeyInfo.of(row)

    async def list(self, kind: Kind | None = None, principal_id: str | None = None) -> list[KeyInfo]:
        """Keys, newest first: of one principal, of one kind, or all."""
        rows = await self.pool.fetch(
            f"SELECT * FROM {self.table} WHERE ($1::text IS NULL OR principal_kind = $1)"
            " AND ($2::text IS NULL OR principal_id = $2) ORDER BY created_at DESC, key_id",
            kind,
            principal_id,
        )
        return [KeyInfo.of(r) for r in rows]
