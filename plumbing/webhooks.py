"""Outbound webhooks: signed notifications to the systems of employers and partners.

- An owner (a principal ref, `employer:<id>` or `partner:<id>`) registers endpoints. Each
  has a signing secret, stored encrypted under a key derived from the master key, shown
  once; a rotation keeps the previous secret signing alongside for a grace period.
- `enqueue` runs inside the caller's transaction (like `outbox.emit`): one delivery per
  matching active endpoint, at most one per event id and endpoint.
- `Dispatcher` posts due deliveries. At most one request per endpoint is in flight and each
  has a timeout, so a slow or failing endpoint never delays the others. A failure is retried
  with exponential backoff (full jitter on the upper half, capped) until the attempt limit;
  then the delivery is `failed` until someone redelivers it. Every attempt is logged.

The signature (docs/webhooks.md shows how to check it):

    TalentLoop-Webhook-Id: whd_...
    TalentLoop-Webhook-Timestamp: 1763870400
    TalentLoop-Signature: t=1763870400,v1=<hex HMAC-SHA256(secret, "1763870400." + raw body)>[,v1=<with the previous secret>]
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plumbing.destinations import Destinations, Refused
from plumbing.logging import get_logger
from plumbing.settings import Settings

log = get_logger(__name__)

SIGNATURE = "TalentLoop-Signature"
TIMESTAMP = "TalentLoop-Webhook-Timestamp"
WEBHOOK_ID = "TalentLoop-Webhook-Id"
EXCERPT = 500


# --- signing ---------------------------------------------------------------------------


def sign(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """The signature header's value: one v1= per secret (two during a rotation)."""
    macs = [hmac.new(s.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest() for s in secrets_]
    return ",".join([f"t={timestamp}", *(f"v1={m}" for m in macs)])


class InvalidSignature(Exception):
    pass


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance_s: int = 300, now: float | None = None
) -> None:
    """What a receiver does: the signature must match `secret` over the raw body and the
    timestamp, and the timestamp must be recent (replays of old requests fail)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    parts = [p.split("=", 1) for p in lowered.get(SIGNATURE.lower(), "").split(",") if "=" in p]
    stamp = next((v for k, v in parts if k == "t"), None)
    if stamp is None or not stamp.isdigit():
        raise InvalidSignature("no timestamp in the signature header")
    if abs((now if now is not None else time.time()) - int(stamp)) > tolerance_s:
        raise InvalidSignature("timestamp outside the tolerance (a replay?)")
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts):
        raise InvalidSignature("no signature matches the secret")


def backoff(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (1 after the first failure): base x 2^(attempt-1),
    capped, then a random point in its upper half (so retries of many deliveries spread out)."""
    ceiling = min(cap_s, base_s * 2 ** (attempt - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


# --- secrets at rest -------------------------------------------------------------------------


class SecretBox:
    """Signing secrets encrypted with a key derived from the master key (HKDF, own purpose).

    Seals with the current master key only; opens with it or any previous one, so the services
    keep signing while `talentloop keys rotate-master` re-wraps the stored secrets (docs/deploy.md).
    """

    def __init__(self, master_key: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._aeads = [AESGCM(_secret_key(key)) for key in (master_key, *previous)]

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aeads[0].encrypt(nonce, secret.encode(), endpoint_id.encode())

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        for aead in self._aeads[:-1]:
            try:
                return aead.decrypt(sealed[:12], sealed[12:], endpoint_id.encode()).decode()
            except InvalidTag:
                continue
        return self._aeads[-1].decrypt(sealed[:12], sealed[12:], endpoint_id.encode()).decode()


def _secret_key(master_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"talentloop webhook signing secrets").derive(
        master_key
    )


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


BadUrl = Refused  # what the API answers 422 for


# --- endpoints and deliveries (owner-scoped: another owner's ids are simply not found) -------


ENDPOINT_COLUMNS = "endpoint_id, url, event_types, active, previous_until, created_at, updated_at"


def endpoint_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "endpoint_id": row["endpoint_id"],
        "url": row["url"],
        "event_types": list(row["event_types"]),
        "active": row["active"],
        "previous_secret_valid_until": row["previous_until"].isoformat() if row["previous_until"] else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def create_endpoint(
    conn: asyncpg.Connection, box: SecretBox, owner: str, url: str, event_types: list[str]
) -> tuple[dict[str, Any], str]:
    endpoint_id, secret = f"whe_{uuid.uuid4().hex}", new_secret()
    row = await conn.fetchrow(
        f"INSERT INTO webhook_endpoints (endpoint_id, owner, url, event_types, secret_sealed)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {ENDPOINT_COLUMNS}",
        endpoint_id,
        owner,
        url,  # checked by the caller (`Destinations.resolve`): where it may point depends on the network
        sorted(set(event_types)),
        box.seal(endpoint_id, secret),
    )
    return endpoint_view(row), secret


async def list_endpoints(conn: asyncpg.Connection | asyncpg.Pool, owner: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE owner = $1 ORDER BY created_at, endpoint_id", owner
    )
    return [endpoint_view(r) for r in rows]


async def update_endpoint(
    conn: asyncpg.Connection, owner: str, endpoint_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"UPDATE webhook_endpoints SET url = coalesce($3, url), event_types = coalesce($4, event_types),"
        f" active = coalesce($5, active), updated_at = now() WHERE owner = $1 AND endpoint_id = $2"
        f" RETURNING {ENDPOINT_COLUMNS}",
        owner,
        endpoint_id,
        changes.get("url"),
        sorted(set(changes["event_types"])) if changes.get("event_types") is not None else None,
        changes.get("active"),
    )
    return endpoint_view(row) if row else None


async def delete_endpoint(conn: asyncpg.Connection, owner: str, endpoint_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "DELETE FROM webhook_endpoints WHERE owner = $1 AND endpoint_id = $2 RETURNING 1", owner, endpoint_id
        )
    )


async def rotate_secret(
    conn: asyncpg.Connection, box: SecretBox, owner: str, endpoint_id: str, grace: timedelta
) -> tuple[dict[str, Any], str] | None:
    """A new secret; the current one keeps signing beside it until the grace period ends."""
    secret = new_secret()
    row = await conn.fetchrow(
        f"UPDATE webhook_endpoints SET previous_sealed = secret_sealed, previous_until = now() + $3,"
        f" secret_sealed = $4, updated_at = now() WHERE owner = $1 AND endpoint_id = $2 RETURNING {ENDPOINT_COLUMNS}",
        owner,
        endpoint_id,
        grace,
        box.seal(endpoint_id, secret),
    )
    return (endpoint_view(row), secret) if row else None


@dataclass(frozen=True)
class Notification:
    """One notification to an owner's endpoints (see `enqueue`)."""

    owner: str
    event_id: uuid.UUID
    event_type: str
    subject: str
    data: dict[str, Any]
    occurred_at: datetime | None = None

    def body(self) -> str:
        return json.dumps({
            "id": str(self.event_id),
            "type": self.event_type,
            "occurred_at": (self.occurred_at or datetime.now(UTC)).isoformat(),
            "subject": self.subject,
            "data": self.data,
        })


async def enqueue(
    conn: asyncpg.Connection,
    owner: str,
    *,
    event_id: uuid.UUID,
    event_type: str,
    subject: str,
    data: dict[str, Any],
    occurred_at: datetime | None = None,
) -> list[str]:
    """Queue a notification to `owner` (`employer:<id>`, `partner:<id>`) for each of its
    active endpoints whose filter takes `event_type`. Call it inside the transaction that
    records the change (as `outbox.emit`): the notification exists if and only if the change
    committed, and the dispatcher is woken at commit.

    The body sent is `{"id": event_id, "type", "occurred_at" (default: now), "subject",
    "data"}`. Pass only data the owner may see, and nothing personal: ids and states; the
    details stay behind the API. Idempotent: an `event_id` already queued to an endpoint is
    not queued again (redelivered events are harmless). Returns the new delivery ids."""
    return await enqueue_many(conn, [Notification(owner, event_id, event_type, subject, data, occurred_at)])


async def enqueue_many(conn: asyncpg.Connection, notifications: list[Notification]) -> list[str]:
    """`enqueue` for several notifications in one statement (a consumer's batch), in their
    order; the same rules, the same rows."""
    if not notifications:
        return []
    rows = await conn.fetch(
        "INSERT INTO webhook_deliveries (delivery_id, endpoint_id, owner, event_id, event_type, body)"
        " SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), e.endpoint_id, e.owner, n.event_id,"
        "   n.event_type, n.body::jsonb"
        " FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS n(owner, event_id, event_type, body, i)"
        " JOIN webhook_endpoints e ON e.owner = n.owner AND e.active"
        "   AND (cardinality(e.event_types) = 0 OR n.event_type = ANY(e.event_types))"
        " ORDER BY n.i, e.endpoint_id"
        " ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING delivery_id",
        [n.owner for n in notifications],
        [n.event_id for n in notifications],
        [n.event_type for n in notifications],
        [n.body() for n in notifications],
    )
    return [r["delivery_id"] for r in rows]


def delivery_view(row: asyncpg.Record) -> dict[str, Any]:
    when = {k: row[k].isoformat() if row[k] else None for k in ("next_attempt_at", "delivered_at", "created_at")}
    return {
        "delivery_id": row["delivery_id"],
        "endpoint_id": row["endpoint_id"],
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        **when,
    }


async def list_deliveries(
    pool: asyncpg.Pool,
    owner: str,
    status: str | None,
    after: str | None,
    limit: int,
    endpoint_id: str | None = None,
) -> list[dict[str, Any]]:
    """The owner's deliveries, newest first (by when they were queued; ids break ties), from the
    one after `after` (a delivery id of the page before: a cursor that holds while new ones come)."""
    rows = await pool.fetch(
        "SELECT * FROM webhook_deliveries d WHERE owner = $1 AND ($2::text IS NULL OR status = $2)"
        " AND ($5::text IS NULL OR endpoint_id = $5)"
        " AND ($3::text IS NULL OR (created_at, delivery_id) < ("
        "   SELECT created_at, delivery_id FROM webhook_deliveries WHERE owner = $1 AND delivery_id = $3))"
        " ORDER BY created_at DESC, delivery_id DESC LIMIT $4",
        owner,
        status,
        after,
        limit,
        endpoint_id,
    )
    return [delivery_view(r) for r in rows]


async def delivery(pool: asyncpg.Pool, owner: str, delivery_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT * FROM webhook_deliveries WHERE owner = $1 AND delivery_id = $2", owner, delivery_id
    )
    if row is None:
        return None
    attempts = await pool.fetch(
        "SELECT at, status_code, duration_ms, error, response_excerpt FROM webhook_attempts WHERE delivery_id = $1"
        " ORDER BY id",
        delivery_id,
    )
    return {
        **delivery_view(row),
        "body": json.loads(row["body"]),
        "log": [{**dict(a), "at": a["at"].isoformat()} for a in attempts],
    }


async def redeliver(conn: asyncpg.Connection, owner: str, delivery_id: str) -> dict[str, Any] | None:
    """Queue it again now (failed or delivered alike), with a fresh attempt budget; the log stays."""
    row = await conn.fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), delivered_at = NULL"
        " WHERE owner = $1 AND delivery_id = $2 RETURNING *",
        owner,
        delivery_id,
    )
    return delivery_view(row) if row else None


# --- the dispatcher ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    timeout_s: float
    base_s: float
    cap_s: float
    max_attempts: int
    poll_s: float
    concurrency: int = 16
    allow_loopback_http: bool = False  # development only (plumbing/destinations.py)

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            s.webhook_timeout_s,
            s.webhook_backoff_s,
            s.webhook_backoff_cap_s,
            s.webhook_max_attempts,
            s.webhook_poll_s,
            allow_loopback_http=s.webhooks_allow_loopback_http,
        )


class Dispatcher:
    """Posts due deliveries; one request in flight per endpoint, many endpoints at once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox,
        policy: Policy,
        client: httpx.AsyncClient | None = None,
        destinations: Destinations | None = None,
    ):
        self._pool, self._box, self._policy = pool, box, policy
        # No redirects: a public endpoint could otherwise send us on to an internal one.
        self._client = client or httpx.AsyncClient(timeout=policy.timeout_s, follow_redirects=False)
        self._destinations = destinations or Destinations(allow_loopback_http=policy.allow_loopback_http)
        self._busy: set[str] = set()
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    async def run(self) -> None:
        """Claim what is due every `poll_s`, and at once when an endpoint's request ends. No
        NOTIFY at commit (it would serialize the committing transactions: plumbing/outbox.py)."""
        try:
            while True:
                try:
                    await self.dispatch_due()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("webhooks.claim_failed", error=repr(exc))
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._policy.poll_s)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await self._client.aclose()

    async def dispatch_due(self) -> int:
        """Start a request for the oldest due delivery of each active endpoint that is not busy here.

        One short statement claims them (`FOR UPDATE SKIP LOCKED`, so dispatchers in other
        processes skip rather than wait) and leases them (`next_attempt_at` moves past the
        request's deadline; if this process dies mid-request, the delivery is due again then)."""
        free = self._policy.concurrency - len(self._busy)
        if free <= 0:
            return 0
        rows = await self._pool.fetch(
            """
            WITH due AS (
                SELECT oldest.delivery_id
                FROM webhook_endpoints e
                CROSS JOIN LATERAL (
                    SELECT delivery_id, next_attempt_at FROM webhook_deliveries
                    WHERE endpoint_id = e.endpoint_id AND status = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at, delivery_id LIMIT 1
                    FOR UPDATE SKIP LOCKED  -- another dispatcher's claim in progress: not waited for
                ) AS oldest
                WHERE e.active AND NOT (e.endpoint_id = ANY($1::text[]))  -- a paused endpoint keeps its queue
                ORDER BY oldest.next_attempt_at LIMIT $2
            )
            UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $3)
            FROM due, webhook_endpoints e
            WHERE d.delivery_id = due.delivery_id AND e.endpoint_id = d.endpoint_id
            RETURNING d.delivery_id, d.endpoint_id, d.body, d.attempts, e.url, e.secret_sealed, e.previous_sealed,
                      e.previous_until
            """,
            sorted(self._busy),
            free,
            self._policy.timeout_s * 2 + 5,  # a lease: another dispatcher leaves it alone meanwhile
        )
        for row in rows:
            self._busy.add(row["endpoint_id"])
            task = asyncio.create_task(self._deliver(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(rows)

    def _secrets(self, row: asyncpg.Record) -> list[str]:
        found = [self._box.open(row["endpoint_id"], row["secret_sealed"])]
        if row["previous_sealed"] and row["previous_until"] and row["previous_until"] > datetime.now(UTC):
            found.append(self._box.open(row["endpoint_id"], row["previous_sealed"]))
        return found

    async def _deliver(self, row: asyncpg.Record) -> None:
        try:
            async with self._slots:
                body = row["body"].encode()
                stamp = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "TalentLoop-Webhooks/1",
                    "Accept-Encoding": "identity",  # the excerpt is read raw: nothing to inflate
                    WEBHOOK_ID: row["delivery_id"],
                    TIMESTAMP: str(stamp),
                    SIGNATURE: sign(self._secrets(row), stamp, body),
                }
                started = time.monotonic()
                status, error, excerpt = await self._post(row["url"], body, headers)
                await self._record(row, status, error, excerpt, int((time.monotonic() - started) * 1000))
        except Exception as exc:  # the database is away: the lease expires and it is tried again
            log.warning("webhooks.delivery_failed", delivery_id=row["delivery_id"], error=repr(exc))
        finally:
            self._busy.discard(row["endpoint_id"])
            self._wake.set()  # the endpoint is free: its next delivery may go

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None, str | None]:
        """(status, error, excerpt of the answer). The timeout bounds the whole wait for the
        answer's status (httpx's own timeouts are per read: a trickling server would outlast
        them); then at most a few KB of the answer are read, in what is left of that time.

        The destination is checked again now, after resolving its name, and the request goes
        to the address checked (plumbing/destinations.py). Only an accepting answer's body
        is kept: a host that refuses gets its status and timing logged, never its words."""
        deadline = asyncio.get_running_loop().time() + self._policy.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                request = await self._destinations.pinned_request(
                    self._client, "POST", url, content=body, headers=headers
                )
        except TimeoutError:
            return None, f"the name did not resolve within {self._policy.timeout_s:g} s", None
        except Refused as exc:
            return None, f"refused destination: {exc}"[:EXCERPT], None
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._client.send(request, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {self._policy.timeout_s:g} s", None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:EXCERPT], None
        try:
            read = b""
            with contextlib.suppress(TimeoutError, httpx.HTTPError):
                async with asyncio.timeout_at(deadline):
                    async for part in response.aiter_raw():
                        read += part
                        if len(read) >= 4 * EXCERPT:
                            break
        finally:
            await response.aclose()
        if not 200 <= response.status_code < 300:
            return response.status_code, f"HTTP {response.status_code}", None
        return response.status_code, None, read.decode("utf-8", "replace")[:EXCERPT]

    async def _record(
        self, row: asyncpg.Record, status: int | None, error: str | None, excerpt: str | None, duration_ms: int
    ) -> None:
        attempts = row["attempts"] + 1
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms, error, response_excerpt)"
                " VALUES ($1, $2, $3, $4, $5)",
                row["delivery_id"],
                status,
                duration_ms,
                error,
                excerpt,
            )
            if error is None:
                await conn.execute(
                    "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, last_status = $3,"
                    " last_error = NULL, delivered_at = now() WHERE delivery_id = $1",
                    row["delivery_id"],
                    attempts,
                    status,
                )
                return
            failed = attempts >= self._policy.max_attempts
            delay = backoff(attempts, self._policy.base_s, self._policy.cap_s)
            await conn.execute(
                "UPDATE webhook_deliveries SET status = $2, attempts = $3, last_status = $4, last_error = $5,"
                " next_attempt_at = now() + make_interval(secs => $6) WHERE delivery_id = $1",
                row["delivery_id"],
                "failed" if failed else "pending",
                attempts,
                status,
                error,
                delay,
            )
        log.info(
            "webhooks.attempt_failed", delivery_id=row["delivery_id"], attempts=attempts, error=error, gave_up=failed
        )


def start(pool: asyncpg.Pool, settings: Settings) -> tuple[Dispatcher, SecretBox]:
    from plumbing.vault import parse_master_key, parse_previous_master_keys

    box = SecretBox(
        parse_master_key(settings.master_key or ""), parse_previous_master_keys(settings.master_key_previous)
    )
    return Dispatcher(pool, box, Policy.from_settings(settings)), box
