"""What the reports read that store.py does not already give (kept here, not in the shared
store): the supportive-service requests of `service_requests` (outcomes migration 012), and
the enrollments WIOA's indicators over training count, with the days of their skill gains."""

from __future__ import annotations

import json

import asyncpg

from services.outcomes import records, records_json
from services.outcomes.reports.supportive import Request
from services.outcomes.reports.wioa_training import MSG_MILESTONES, Participation


async def service_requests(conn: asyncpg.Connection | asyncpg.Pool, partner_id: str | None = None) -> list[Request]:
    """Every request (operators, None), or those a partner made or was asked for
    (`supportive.visible`'s rule, in SQL), in request id order. The value's currency is the
    delivery's (kept in `detail`; the `currency` column is the amount requested's)."""
    rows = await conn.fetch(
        "SELECT request_id, requester_id, provider_id, person_key, service_type, status, partner_status,"
        " requested_at, delivered_on, value_delivered, amount_requested, currency,"
        " detail -> 'value' ->> 'currency' AS value_currency FROM service_requests"
        " WHERE $1::text IS NULL OR requester_id = $1 OR provider_id = $1 ORDER BY request_id",
        partner_id,
    )
    return [Request(**dict(r)) for r in rows]


async def training_participations(conn: asyncpg.Connection, partner_id: str | None = None) -> list[Participation]:
    """Every enrollment (or a training provider's) with its person_key, as store.enrollment_people
    gives them, and the days of its skill-gain milestones (the `as_of` of its training.progressed
    events in the ledger; an erasure redacts personal data, not these)."""
    rows = await conn.fetch(
        "SELECT f.person_key, f.record,"
        " coalesce((SELECT array_agg((l.envelope -> 'data' ->> 'as_of')::date ORDER BY l.seq) FROM ledger l"
        "  WHERE l.enrollment_id = f.enrollment_id AND l.event_type LIKE 'training.progressed.%'"
        "  AND l.envelope -> 'data' ->> 'milestone' = ANY($2::text[])), '{}') AS gains_on"
        " FROM enrollment_facts f WHERE $1::text IS NULL OR f.partner_id = $1 ORDER BY f.enrollment_id",
        partner_id,
        sorted(MSG_MILESTONES),
    )
    return [Participation(r["person_key"], records_json.load(records.EnrollmentRecord, json.loads(r["record"])),
                          tuple(sorted(set(r["gains_on"])))) for r in rows]
