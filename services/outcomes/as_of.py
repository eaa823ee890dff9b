"""The outcomes schema as it was at a cut-off, replayed from the ledger (issue 16 item 5: a past
year's release once later events exist; docs/transparency.md, "A past year").

`replay_until` builds a scratch schema (dropped and migrated anew, as a rebuild's) from the
source schema's ledger rows whose event occurred before the cut-off:

- an event not redacted goes through the live handler (`handlers.batch_handler(live=False)`:
  nobody is told anything), in the order the ledger received them, so every projection is the
  one the live path derived from those events;
- the rows of erased people are redacted in the ledger (their personal parts are gone and do not
  validate as events any more: the reason a replay through the handler alone fails on them).
  They are copied into the scratch ledger as they are, every erasure's bookkeeping is copied
  whatever its time (`erased_referrals`, `erased_enrollments`), and their referrals, enrollments
  and service requests are projected from those rows, as the live erasure projected them.

So an erasure after the cut-off still applies to the replay: the erased person's rows count as
the live projections count them after an erasure (under the erasure's person key, without what
the redaction took), never with the personal parts the erasure removed (docs/security.md,
"Erasure reaches everywhere"). Nothing that occurred at or after the cut-off is in the scratch
ledger, so its position (events, last time, ids) is the cut-off's.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from contracts import Envelope, payload_of
from plumbing.context import Deps
from services.outcomes import store
from services.outcomes.handlers import batch_handler
from services.outcomes.rebuild import fresh_schema

BATCH = 1000  # events per transaction through the handler
_DEPS = Deps.of("outcomes")
LEDGER_COLUMNS = (
    "event_id, event_type, referral_id, opening_id, enrollment_id, program_id, request_id, partner_id, employer_id,"
    " occurred_at, source_topic, envelope, redacted_at"
)


def _quoted(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


async def replay_until(database_url: str, source: str, scratch: str, end: datetime) -> int:
    """Build `scratch` from the events of `source`'s ledger that occurred before `end`; returns
    how many. `scratch` is dropped first; the caller drops it when done (`drop`)."""
    pool = await fresh_schema(database_url, scratch)
    try:
        async with pool.acquire() as conn:
            redacted = await _copy_redacted(conn, source, end)
            applied = await _apply_the_rest(conn, source, end)
        return redacted + applied
    finally:
        await pool.close()


async def _copy_redacted(conn: asyncpg.Connection, source: str, end: datetime) -> int:
    """The erased people's rows before `end`, every erasure's bookkeeping, and what is projected
    from them, in one transaction."""
    src = _quoted(source)
    async with conn.transaction():
        copied = await conn.fetch(
            f"INSERT INTO ledger ({LEDGER_COLUMNS}) SELECT {LEDGER_COLUMNS} FROM {src}.ledger"
            " WHERE redacted_at IS NOT NULL AND occurred_at < $1 ORDER BY seq"
            " RETURNING referral_id, enrollment_id, request_id",
            end,
        )
        await conn.execute(f"INSERT INTO erased_referrals SELECT * FROM {src}.erased_referrals")
        await conn.execute(f"INSERT INTO erased_enrollments SELECT * FROM {src}.erased_enrollments")
        await store.reproject_many(conn, sorted({r["referral_id"] for r in copied if r["referral_id"]}))
        await store.project_enrollments(conn, [r["enrollment_id"] for r in copied if r["enrollment_id"]])
        await store.project_service_requests(conn, [r["request_id"] for r in copied if r["request_id"]])
    return len(copied)


async def _apply_the_rest(conn: asyncpg.Connection, source: str, end: datetime) -> int:
    """Every other event before `end` through the live handler, in the order the source's ledger
    received them, BATCH per transaction (paged by the ledger's sequence)."""
    ingest = batch_handler(live=False)
    done, after = 0, 0
    while True:
        rows = await conn.fetch(
            f"SELECT seq, envelope FROM {_quoted(source)}.ledger WHERE redacted_at IS NULL AND occurred_at < $1"
            " AND seq > $2 ORDER BY seq LIMIT $3",
            end,
            after,
            BATCH,
        )
        if not rows:
            return done
        items = []
        for r in rows:
            envelope = Envelope.from_bytes(r["envelope"].encode())
            items.append((envelope, payload_of(envelope)))
        async with conn.transaction():
            await ingest(_DEPS.bind(conn), items)
        done, after = done + len(items), rows[-1]["seq"]


async def drop(database_url: str, scratch: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {_quoted(scratch)} CASCADE")
    finally:
        await conn.close()
