"""The support service's tables (migrations/): providers, people, requests. SQL you can read;
rows in, domain objects and answers out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from contracts import events
from services.support.domain import ERASED, OPEN, Person, Provider, ServiceRequest, StaleRule, State

# --- the directory ---------------------------------------------------------------------


async def load_provider(conn: asyncpg.Connection, provider_id: str, *, lock: bool = False) -> Provider | None:
    row = await conn.fetchrow(
        "SELECT provider_id, name, service_types FROM providers WHERE provider_id = $1"
        + (" FOR UPDATE" if lock else ""),
        provider_id,
    )
    if row is None:
        return None
    return Provider(row["provider_id"], row["name"], tuple(events.ServiceType(t) for t in row["service_types"]))


async def save_provider(conn: asyncpg.Connection, provider: Provider, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO providers (provider_id, name, service_types, registered_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
        " ON CONFLICT (provider_id) DO UPDATE SET name = excluded.name, service_types = excluded.service_types,"
        " updated_at = excluded.updated_at",
        provider.provider_id,
        provider.name,
        [t.value for t in provider.service_types],
        at,
    )


def provider_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "provider_id": row["provider_id"],
        "name": row["name"],
        "service_types": list(row["service_types"]),
        "registered_at": row["registered_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def directory(conn: asyncpg.Connection, service_type: str | None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM providers WHERE $1::text IS NULL OR $1 = ANY(service_types) ORDER BY name, provider_id",
        service_type,
    )
    return [provider_view(r) for r in rows]


async def provider_entry(conn: asyncpg.Connection, provider_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM providers WHERE provider_id = $1", provider_id)
    return None if row is None else provider_view(row)


# --- people: whose referral or enrollment is whose ----------------------------------------


async def remember_people(conn: asyncpg.Connection, people: Sequence[Person]) -> None:
    """Referrals and enrollments as intake published them; one already erased stays erased."""
    if not people:
        return
    await conn.execute(
        "INSERT INTO people (ref_id, kind, owner_id, candidate_id)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ORDER BY 1"
        " ON CONFLICT (ref_id) DO UPDATE SET owner_id = excluded.owner_id,"
        " candidate_id = CASE WHEN people.erased_at IS NULL THEN excluded.candidate_id ELSE people.candidate_id END",
        [p.ref_id for p in people],
        [p.kind for p in people],
        [p.owner_id for p in people],
        [p.candidate_id for p in people],
    )


async def person(conn: asyncpg.Connection, kind: str, ref_id: str, owner_id: str) -> Person | None:
    """The owner's referral or enrollment, unless erased (another partner's is None, as is an unknown one).

    Read FOR SHARE, until the request made with it commits: an erasure of the person, which
    updates this row, waits for that request and then finds it to erase; one that committed
    first leaves the row erased (None here)."""
    row = await conn.fetchrow(
        "SELECT * FROM people WHERE ref_id = $1 AND kind = $2 AND owner_id = $3 AND erased_at IS NULL FOR SHARE",
        ref_id,
        kind,
        owner_id,
    )
    return None if row is None else Person(row["ref_id"], row["kind"], row["owner_id"], row["candidate_id"])


async def erase_people(
    conn: asyncpg.Connection, referral_ids: list[str], enrollment_ids: list[str], candidate_id: str | None, at: datetime
) -> None:
    """The named referrals and enrollments (known or not yet), and every one of the candidate
    when erased network-wide, are erased: no new request may name them."""
    named = sorted({*((r, "referral") for r in referral_ids), *((e, "enrollment") for e in enrollment_ids)})
    await conn.execute(
        "INSERT INTO people (ref_id, kind, candidate_id, erased_at)"
        " SELECT r, k, $3, $4 FROM unnest($1::text[], $2::text[]) AS n(r, k)"
        " ON CONFLICT (ref_id) DO UPDATE SET candidate_id = $3, erased_at = coalesce(people.erased_at, $4)",
        [r for r, _ in named],
        [k for _, k in named],
        ERASED,
        at,
    )
    if candidate_id is not None:
        await conn.execute(
            "UPDATE people SET candidate_id = $2, erased_at = coalesce(erased_at, $3) WHERE candidate_id = $1",
            candidate_id,
            ERASED,
            at,
        )


# --- requests --------------------------------------------------------------------------


async def insert_request(conn: asyncpg.Connection, event: events.ServiceRequestedV1, at: datetime) -> None:
    amount = event.amount_requested
    await conn.execute(
        "INSERT INTO requests (request_id, requester_id, provider_id, candidate_id, referral_id, enrollment_id,"
        " service_type, reason, amount_requested, currency, state, requested_at, state_since)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'requested', $11, $11)",
        event.request_id,
        event.requester_id,
        event.provider_id,
        event.candidate_id,
        event.referral_id,
        event.enrollment_id,
        event.service_type.value,
        event.reason,
        amount.amount if amount else None,
        amount.currency if amount else None,
        at,
    )


def _request(row: asyncpg.Record) -> ServiceRequest:
    return ServiceRequest(
        row["request_id"],
        row["requester_id"],
        row["provider_id"],
        State(row["state"]),
        row["state_since"],
        row["requested_at"],
        erased=row["erased_at"] is not None,
    )


async def load_request(conn: asyncpg.Connection, request_id: str) -> ServiceRequest | None:
    row = await conn.fetchrow("SELECT * FROM requests WHERE request_id = $1 FOR UPDATE", request_id)
    return None if row is None else _request(row)


async def save_transition(conn: asyncpg.Connection, request: ServiceRequest, event: events.Payload) -> None:
    """The request's new state, and what the event that moved it there says."""
    columns: dict[str, Any] = {}
    if isinstance(event, events.ServiceDeclinedV1):
        columns = {"decline_reason": event.reason_code.value, "decline_detail": event.detail}
    elif isinstance(event, events.ServiceCancelledV1):
        columns = {"cancel_reason": event.reason}
    elif isinstance(event, events.ServiceDeliveredV1):
        value = event.value
        columns = {
            "delivered_on": event.delivered_on,
            "value_delivered": value.amount if value else None,
            "value_currency": value.currency if value else None,
        }
    sets = "".join(f", {name} = ${i}" for i, name in enumerate(columns, start=4))
    await conn.execute(
        f"UPDATE requests SET state = $2, state_since = $3{sets} WHERE request_id = $1",
        request.request_id,
        request.state.value,
        request.state_since,
        *columns.values(),
    )


def _money(amount: Any, currency: str | None) -> dict[str, str] | None:
    return None if amount is None else {"amount": str(amount), "currency": currency or "USD"}


def request_view(row: asyncpg.Record, rule: StaleRule, now: datetime, *, as_requester: bool) -> dict[str, Any]:
    """A request as its requester or its provider sees it. The provider is not shown which of the
    requester's referrals or enrollments it is about: it serves the request, the requester knows
    the person. Neither is shown the network's candidate id (a partner never is: intake tells
    each partner its own id of a person)."""
    state = State(row["state"])
    waiting = state in OPEN and row["erased_at"] is None  # an erased request waits on no one
    view: dict[str, Any] = {
        "request_id": row["request_id"],
        "cursor": row["seq"],
        "requester_id": row["requester_id"],
        "provider_id": row["provider_id"],
        "service_type": row["service_type"],
        "reason": row["reason"],
        "amount_requested": _money(row["amount_requested"], row["currency"]),
        "state": state.value,
        "requested_at": row["requested_at"].isoformat(),
        "state_since": row["state_since"].isoformat(),
        "decline_reason": row["decline_reason"],
        "decline_detail": row["decline_detail"],
        "cancel_reason": row["cancel_reason"],
        "delivered_on": row["delivered_on"].isoformat() if row["delivered_on"] else None,
        "value_delivered": _money(row["value_delivered"], row["value_currency"]),
        "due_at": rule.due_at(state, row["state_since"]).isoformat() if waiting else None,
        "waiting_too_long": waiting and rule.is_due(state, row["state_since"], now),
        "flagged_stale_at": _flagged(row, state),
    }
    if as_requester:
        view |= {"referral_id": row["referral_id"], "enrollment_id": row["enrollment_id"]}
    return view


def _flagged(row: asyncpg.Record, state: State) -> str | None:
    at = (
        row["stale_requested_at"]
        if state is State.requested
        else row["stale_accepted_at"]
        if state is State.accepted
        else None
    )
    return at.isoformat() if at else None


async def request_row(conn: asyncpg.Connection, request_id: str, party: str) -> asyncpg.Record | None:
    """The request if `party` is its requester or its provider."""
    return await conn.fetchrow(
        "SELECT * FROM requests WHERE request_id = $1 AND (requester_id = $2 OR provider_id = $2)", request_id, party
    )


async def page(
    conn: asyncpg.Connection, side: str, party: str, *, state: str | None, after: int | None, limit: int
) -> list[asyncpg.Record]:
    """A requester's requests (`side` requester_id) or a provider's (provider_id), oldest first."""
    column = {"requester": "requester_id", "provider": "provider_id"}[side]
    return await conn.fetch(
        f"SELECT * FROM requests WHERE {column} = $1 AND ($2::text IS NULL OR state = $2) AND seq > $3"
        " ORDER BY seq LIMIT $4",
        party,
        state,
        after or 0,
        limit,
    )


# --- erasure ---------------------------------------------------------------------------


async def erase_requests(
    conn: asyncpg.Connection, ref_ids: list[str], candidate_id: str | None, at: datetime
) -> list[str]:
    """The requests about the erased referrals and enrollments (or the candidate, network-wide)
    keep their states, dates and amounts for the counts, lose the words people wrote about the
    person, and are re-keyed to 'erased'; returns their ids."""
    rows = await conn.fetch(
        "UPDATE requests SET candidate_id = $3, reason = NULL, decline_detail = NULL, cancel_reason = NULL,"
        " erased_at = coalesce(erased_at, $4)"
        " WHERE referral_id = ANY($1::text[]) OR enrollment_id = ANY($1::text[]) OR candidate_id = $2"
        " RETURNING request_id",
        ref_ids,
        candidate_id,
        ERASED,
        at,
    )
    return sorted(r["request_id"] for r in rows)


# The free text of service events, about the person; the ids and codes stay.
WORDS = ("reason", "detail")


async def strip_outbox_words(conn: asyncpg.Connection, request_ids: list[str]) -> int:
    """Published outbox rows of these requests without their free text (plumbing/scrub.py strips
    what every service's events share: the candidate id, personal fields; a request's and a
    cancellation's reason, a decline's detail are this service's own). Unpublished rows are left
    for consumers, as scrub leaves them."""
    if not request_ids:
        return 0
    rows = await conn.fetch(
        "SELECT id, value FROM outbox WHERE published_at IS NOT NULL AND key = ANY($1::text[]) FOR UPDATE",
        request_ids,
    )
    changed = []
    for r in rows:
        envelope = json.loads(r["value"])
        data = envelope.get("data") or {}
        if any(w in data for w in WORDS):
            envelope["data"] = {k: v for k, v in data.items() if k not in WORDS}
            changed.append((r["id"], json.dumps(envelope, separators=(",", ":")).encode()))
    if changed:
        await conn.executemany("UPDATE outbox SET value = $2 WHERE id = $1", changed)
    return len(changed)


# --- stale -----------------------------------------------------------------------------


async def waiting(conn: asyncpg.Connection, state: State, since_before: datetime, limit: int) -> list[ServiceRequest]:
    """Requests in `state`, not flagged in it yet, in it since before `since_before`, not about an
    erased person (no one acts on those: `RequestErased`); locked, oldest first."""
    flag = "stale_requested_at" if state is State.requested else "stale_accepted_at"
    rows = await conn.fetch(
        f"SELECT * FROM requests WHERE state = $1 AND {flag} IS NULL AND state_since <= $2 AND erased_at IS NULL"
        " ORDER BY state_since, request_id LIMIT $3 FOR UPDATE SKIP LOCKED",
        state.value,
        since_before,
        limit,
    )
    return [_request(r) for r in rows]


async def mark_stale(conn: asyncpg.Connection, state: State, request_ids: list[str], at: datetime) -> None:
    flag = "stale_requested_at" if state is State.requested else "stale_accepted_at"
    await conn.execute(f"UPDATE requests SET {flag} = $2 WHERE request_id = ANY($1::text[])", request_ids, at)
