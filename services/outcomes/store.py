"""The ledger and its projections (schema `outcomes`)."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic_core import from_json, to_json

from contracts import Envelope
from contracts.events import Sealed
from plumbing.vault import Unreadable, Vault
from services.outcomes import domain, pipeline, projection, records, records_json, service_requests


async def append(
    conn: asyncpg.Connection,
    env: Envelope,
    topic: str,
    *,
    referral_id: str | None,
    opening_id: str | None = None,
    redacted: bool = False,
    enrollment_id: str | None = None,
    program_id: str | None = None,
    request_id: str | None = None,
) -> bool:
    """Append the event to the ledger; False if this event id is already there.

    `referral_id`: the referral it is about (None for a candidate's or an opening's event).
    `redacted`: the candidate was erased before the event arrived; it is stored redacted.
    """
    if redacted:
        env = env.model_copy(update={"data": domain.redact(env.data)})
    row = await conn.fetchrow(
        "INSERT INTO ledger (event_id, event_type, referral_id, opening_id, partner_id, employer_id, occurred_at,"
        " source_topic, envelope, redacted_at, enrollment_id, program_id, request_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $10 THEN now() END, $11, $12, $13)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING seq",
        env.id,
        env.type,
        referral_id,
        opening_id,
        env.partnerid,
        env.employerid,
        env.time,
        topic,
        env.model_dump_json(exclude_none=True),
        redacted,
        enrollment_id,
        program_id,
        request_id,
    )
    return row is not None


# Every transaction locks referrals in one order, ids sorted by code point (Python's `sorted`,
# which the statements below keep by their position in the array): a transaction then only
# ever waits for a referral after every one it holds, so two can never wait for each other.
LOCK_KEY = "hashtextextended('outcomes.referral:' || {}, 0)"


def lock_order(referral_ids: list[str]) -> list[str]:
    return sorted(set(referral_ids))


# Enrollments share the referrals' key space (issue 15 plan, pitfall 7): an enrollment's key is
# "enrollment:<id>", locked by the same `lock_referrals` and sorted with referral ids, so a
# transaction locking both kinds (an erasure) takes them in the one order. (A referral id that
# happened to read "enrollment:<id>" would only share that enrollment's lock, never deadlock.)
ENROLLMENT_LOCK = "enrollment:"


# Service requests too (issue 15 item 3): "service:<request id>".
REQUEST_LOCK = "service:"


def enrollment_keys(enrollment_ids: list[str]) -> list[str]:
    return [ENROLLMENT_LOCK + e for e in enrollment_ids]


async def lock_referrals(conn: asyncpg.Connection, referral_ids: list[str]) -> None:
    """Serialize this transaction with every other one about these referrals (until it ends).

    A referral's events and its candidate's erasure arrive on different topics, applied by
    concurrent consumers; without this an erasure could miss an event being appended at the
    same moment and leave it unredacted. Locks are taken in `lock_order`, so two transactions
    cannot deadlock."""
    await conn.execute(
        f"SELECT pg_advisory_xact_lock({LOCK_KEY.format('r')})"
        " FROM unnest($1::text[]) WITH ORDINALITY AS u(r, i) ORDER BY i",
        lock_order(referral_ids),
    )


async def lock_free_prefix(conn: asyncpg.Connection, ordered: list[str]) -> int:
    """Lock `ordered` (in `lock_order`) one after the other without waiting, up to the first
    one another transaction holds; returns how many it locked (all: len(ordered))."""
    # A recursive CTE takes one step at a time and stops at the first lock refused.
    return await conn.fetchval(
        "WITH RECURSIVE walk(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM walk"
        f" WHERE i < cardinality($1::text[]) AND pg_try_advisory_xact_lock({LOCK_KEY.format('($1::text[])[i + 1]')}))"
        " SELECT max(i) FROM walk",
        ordered,
    )


async def erased_among(conn: asyncpg.Connection, referral_ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT referral_id FROM erased_referrals WHERE referral_id = ANY($1::text[])", referral_ids)
    return {r["referral_id"] for r in rows}


class InputsCache:
    """Each referral's kept compact events as this process last wrote them (their JSON
    array, as `known` would read it back: `projection.dump_inputs`), with the version it
    wrote them under (`referral_facts.inputs_version`), so a batch need not read them again
    (`known`).

    Held as one string per referral, not as parsed events: a string is a single object the
    cyclic garbage collector never walks, where a referral's parsed events were dozens (its
    skills, consent, sealed demographics), which every full collection walked and which made
    the process about 3.6 KB an event larger (bench/pipeline.py at 30,000 referrals, db39e29:
    peak RSS 308 MiB). Parsing a hit again (`projection.load_inputs`, a few microseconds an
    event) costs less than holding it parsed did, and gives exactly what a miss gives.

    Safe with several instances, after a rollback, an erasure or a rebuild: an entry is used
    only while the referral's row still has the version it was written with, which `known`
    checks under the referral's lock. Every write of a referral's kept events gives its row a
    new version, 63 random bits from the kernel (`new_version`), so no other write (another
    process, another schema, a rolled-back transaction, a forked process) can leave the same
    version behind. Bounded by the characters held; the least recently used referrals go first."""

    def __init__(self, max_chars: int = 48 * 2**20) -> None:
        self.max_chars = max_chars
        self._entries: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._chars = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        return self._chars

    def version(self, referral_id: str) -> int | None:
        entry = self._entries.get(referral_id)
        return None if entry is None else entry[0]

    def inputs(self, referral_id: str, version: int) -> str | None:
        """The referral's kept events (a JSON array) if held under `version`."""
        entry = self._entries.get(referral_id)
        if entry is None or entry[0] != version:
            return None
        self._entries.move_to_end(referral_id)
        return entry[1]

    def put(self, referral_id: str, version: int, inputs: str) -> None:
        self.drop(referral_id)
        if len(inputs) > self.max_chars:
            return
        self._entries[referral_id] = (version, inputs)
        self._chars += len(inputs)
        while self._chars > self.max_chars:
            _, (_, gone) = self._entries.popitem(last=False)
            self._chars -= len(gone)

    def drop(self, referral_id: str) -> None:
        entry = self._entries.pop(referral_id, None)
        if entry is not None:
            self._chars -= len(entry[1])

    def clear(self) -> None:
        self._entries.clear()
        self._chars = 0


def new_version() -> int:
    """A version for a write of kept events: from os.urandom, not `random`, whose state a
    forked process shares with its parent (two instances would then draw the same numbers)."""
    return int.from_bytes(os.urandom(8), "big") >> 1  # a positive bigint


# This process's cache (one per process: every instance in it checks versions all the same).
INPUTS = InputsCache()


@dataclass
class Known:
    """What the store holds about some referrals before a batch about them is applied."""

    erased: set[str]
    status: dict[str, str]  # the partner status of those with a projection
    inputs: dict[str, str | None]  # their compact events as a JSON array (None: not all kept, read the ledger)
    # Those whose kept events this process's cache holds as stored (their `inputs` not read
    # from the row): the same JSON array
    cached: dict[str, str] = field(default_factory=dict)


async def known(conn: asyncpg.Connection, referral_ids: list[str], cache: InputsCache | None = None) -> Known:
    """Erasures, statuses and compact events of the referrals, in one statement (after
    `lock_referrals`, so nothing about them changes until the transaction ends). The compact
    events of referrals whose row has the version `cache` holds them under are not read."""
    cache = INPUTS if cache is None else cache
    versions = {rid: cache.version(rid) for rid in referral_ids}
    rows = await conn.fetch(
        "SELECT u.r AS referral_id, f.status, e.referral_id IS NOT NULL AS erased,"
        " coalesce(f.inputs_complete AND f.inputs_version = u.v, false) AS cached,"
        " CASE WHEN f.inputs_complete AND NOT coalesce(f.inputs_version = u.v, false) THEN"
        "   (SELECT coalesce('[' || string_agg(i.input, ',') || ']', '[]')"
        "   FROM referral_inputs i WHERE i.referral_id = u.r) END AS inputs"
        " FROM unnest($1::text[], $2::bigint[]) AS u(r, v)"
        " LEFT JOIN referral_facts f ON f.referral_id = u.r LEFT JOIN erased_referrals e ON e.referral_id = u.r",
        referral_ids,
        [versions[rid] for rid in referral_ids],
    )
    out = Known(erased=set(), status={}, inputs={})
    for r in rows:
        rid = r["referral_id"]
        if r["erased"]:
            out.erased.add(rid)
        if r["status"] is None:
            continue
        out.status[rid] = r["status"]
        out.inputs[rid] = r["inputs"]
        if r["cached"]:
            # None if another transaction of this process replaced it meanwhile (then the
            # inputs were not read either: `project_appended` reads the ledger, as for None).
            found = cache.inputs(rid, versions[rid])  # type: ignore[arg-type]
            if found is not None:
                out.cached[rid] = found
                cache.hits += 1
                continue
        cache.misses += 1
    return out


async def append_many(
    conn: asyncpg.Connection, items: list[tuple[Envelope, str, str]], erased: set[str]
) -> list[tuple[Envelope, str]]:
    """`append` for several events about referrals ((envelope, topic, referral id)); returns
    those not in the ledger before, as stored (redacted if their candidate was erased), with
    their referral id, in the order given."""
    envelopes = [
        env.model_copy(update={"data": domain.redact(env.data)}) if rid in erased else env for env, _, rid in items
    ]
    rows = await conn.fetch(
        "INSERT INTO ledger (event_id, event_type, referral_id, partner_id, employer_id, occurred_at, source_topic,"
        " envelope, redacted_at)"
        " SELECT e, t, r, p, m, o, s, v::jsonb, CASE WHEN x THEN now() END"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],"
        "            $8::text[], $9::bool[]) AS u(e, t, r, p, m, o, s, v, x)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        [e.id for e in envelopes],
        [e.type for e in envelopes],
        [rid for _, _, rid in items],
        [e.partnerid for e in envelopes],
        [e.employerid for e in envelopes],
        [e.time for e in envelopes],
        [topic for _, topic, _ in items],
        [e.model_dump_json(exclude_none=True) for e in envelopes],
        [rid in erased for _, _, rid in items],
    )
    fresh = {r["event_id"] for r in rows}
    out = []
    for env, (_, _, rid) in zip(envelopes, items, strict=True):
        if env.id in fresh:
            fresh.discard(env.id)  # the same event twice in one batch is stored once
            out.append((env, rid))
    return out


IN_LEDGER = (
    "SELECT l.event_id FROM unnest($1::uuid[]) AS u(e)"
    " CROSS JOIN LATERAL (SELECT event_id FROM ledger WHERE event_id = u.e LIMIT 1) AS l"
)


async def in_ledger(conn: asyncpg.Connection, event_ids: list[UUID]) -> set[UUID]:
    """The ids among `event_ids` the ledger holds: outcomes' claim of a batch instead of the
    inbox (`plumbing.inbox.keyed_by_effects`). One read of the unique index on event ids,
    where an inbox row per event was an insert into a table and its index.

    One probe of that index per id, whatever the statistics say: asyncpg keeps the statement
    prepared, and PostgreSQL's generic plan of `event_id = ANY($1)` for a ledger of under ten
    pages (a service's first batches) is a sequential scan, which the statement kept while the
    ledger grew: in one bench/pipeline.py run at 20,000 referrals every claim read the whole
    ledger (82 ms a call, the largest statement of the run; in other runs the plan was made
    later and used the index). A lookup of one value by a unique index is the cheapest plan at
    any size, so a probe per id is planned that way even on an empty table."""
    rows = await conn.fetch(IN_LEDGER, event_ids)
    return {r["event_id"] for r in rows}


LEDGER_COPY = ("event_id", "event_type", "referral_id", "partner_id", "employer_id", "occurred_at", "source_topic",
               "envelope")


async def copy_events(conn: asyncpg.Connection, items: list[tuple[Envelope, str, str]]) -> None:
    """Events about referrals ((envelope, topic, referral id)) into the ledger by COPY, as
    `append_many` stores them but without looking for those already there (the rebuild's
    first pass, into a fresh ledger; it removes repeated events itself)."""
    await conn.copy_records_to_table(
        "ledger",
        columns=LEDGER_COPY,
        records=[(env.id, env.type, rid, env.partnerid, env.employerid, env.time, topic,
                  env.model_dump_json(exclude_none=True)) for env, topic, rid in items],
    )


async def mark_erased(conn: asyncpg.Connection, referral_ids: list[str], at: datetime, erasure_id: UUID) -> None:
    """The referrals erased, by the erasure event `erasure_id` (the first erasure of a referral
    is the one kept, live and in a rebuild alike)."""
    await conn.execute(
        "INSERT INTO erased_referrals (referral_id, erased_at, erasure_id) SELECT r, $2, $3 FROM unnest($1::text[]) AS r"
        " ON CONFLICT (referral_id) DO NOTHING",
        referral_ids,
        at,
        erasure_id,
    )


# Who an erased referral is about, for counting people (pipeline.person_key): its erasure
# event, from `erased_referrals e` (a referral erased before erasure ids were kept and not
# found in the ledger by migration 010: itself).
ERASED_PERSON = f"'{pipeline.ERASED_PREFIX}' || coalesce(e.erasure_id::text, e.referral_id)"


async def set_erased_people(conn: asyncpg.Connection) -> None:
    """Every erased referral's `person_key` (the rebuild's projections, written by COPY from the
    ledger alone, know only that the candidate is "erased")."""
    await conn.execute(f"UPDATE referral_facts f SET person_key = {ERASED_PERSON} FROM erased_referrals e"
                       " WHERE e.referral_id = f.referral_id")


async def redact(conn: asyncpg.Connection, referral_ids: list[str]) -> int:
    """Take the erased candidate's personal parts out of the referrals' ledger rows.

    The only change the ledger allows: its trigger lets it through while
    `talentloop.redacting` is on, which is switched on for these statements only (and
    would end with the transaction anyway). Rows redacted before are left alone.
    """
    return await _redact_rows(conn, "referral_id", referral_ids)


async def _redact_rows(conn: asyncpg.Connection, column: str, ids: list[str],
                       strip: Callable[[dict[str, Any]], dict[str, Any]] = domain.redact) -> int:
    """`redact` of the ledger rows whose `column` (referral_id, enrollment_id or request_id) is
    one of `ids`, their data stripped by `strip`."""
    rows = await conn.fetch(
        f"SELECT seq, envelope FROM ledger WHERE {column} = ANY($1) AND redacted_at IS NULL ORDER BY seq FOR UPDATE",
        ids,
    )
    if not rows:
        return 0
    changed = []
    for r in rows:
        envelope = json.loads(r["envelope"])
        envelope["data"] = strip(envelope["data"])
        changed.append((r["seq"], json.dumps(envelope)))
    await conn.execute("SELECT set_config('talentloop.redacting', 'on', true)")
    await conn.executemany("UPDATE ledger SET envelope = $2, redacted_at = now() WHERE seq = $1", changed)
    await conn.execute("SELECT set_config('talentloop.redacting', 'off', true)")
    return len(changed)


# One statement for a batch's projections and the compact events kept for them (those of
# `reset` referrals replaced: the CTEs see the table as it was before the statement). facts,
# stages and anomalies come as strings joined by SEP (names from the domain's own vocabulary,
# which never contains it): unnest cannot take an array of arrays of different lengths.
SEP = "\x1f"
UPSERT_PROJECTIONS = """
WITH reset AS (DELETE FROM referral_inputs WHERE referral_id = ANY($17::text[])),
     kept AS (INSERT INTO referral_inputs (referral_id, input) SELECT * FROM unnest($18::text[], $19::text[]))
INSERT INTO referral_facts (referral_id, partner_id, employer_id, facts, scoped_facts, stages, status, anomalies,
    attempt, exit, record, partner_detail, candidate_id, demographics_sealed, outcome, declined_by, flags, person_key,
    projected_with, inputs_complete, inputs_version, updated_at)
SELECT r, p, m, string_to_array(f, $15), sf::jsonb, string_to_array(st, $15), s, string_to_array(a, $15), n, x,
    rec::jsonb, d::jsonb, c, ds::jsonb, o, string_to_array(db, $15), string_to_array(fl, $15),
    coalesce((SELECT {erased_person} FROM erased_referrals e WHERE e.referral_id = u.r), pk), $21, $16,
    CASE WHEN $16 THEN $20::bigint END, now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::int[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $22::text[], $23::text[],
            $24::text[], $25::text[])
     AS u(r, p, m, f, sf, st, s, a, n, x, rec, d, c, ds, o, db, fl, pk)
ON CONFLICT (referral_id) DO UPDATE SET partner_id = EXCLUDED.partner_id, employer_id = EXCLUDED.employer_id,
    facts = EXCLUDED.facts, scoped_facts = EXCLUDED.scoped_facts, stages = EXCLUDED.stages, status = EXCLUDED.status,
    anomalies = EXCLUDED.anomalies, attempt = EXCLUDED.attempt, exit = EXCLUDED.exit, record = EXCLUDED.record,
    partner_detail = EXCLUDED.partner_detail, candidate_id = EXCLUDED.candidate_id,
    demographics_sealed = EXCLUDED.demographics_sealed, outcome = EXCLUDED.outcome,
    declined_by = EXCLUDED.declined_by, flags = EXCLUDED.flags, person_key = EXCLUDED.person_key,
    projected_with = EXCLUDED.projected_with, inputs_complete = EXCLUDED.inputs_complete,
    inputs_version = EXCLUDED.inputs_version, updated_at = now()
""".replace("{erased_person}", ERASED_PERSON)
_KEEP_NONE: tuple[list[str], list[str], list[str]] = ([], [], [])


def _json(value: object) -> str:
    """JSON text for a jsonb column: pydantic_core's encoder (about three times as fast as
    json.dumps); PostgreSQL parses it into the same jsonb value either way."""
    return to_json(value).decode()


def _projection_row(referral_id: str, p: projection.Projection) -> tuple[object, ...]:
    """A projection as referral_facts' columns (the 14 first ones, then `EXTRA_COLUMNS`:
    the funnel's, without `projected_with`, which the statements add)."""
    d, r = p.derived, p.record
    return (
        referral_id,
        r.partner_id or None,
        r.employer_id,
        sorted({f.name for f in p.facts}),
        _json([[f.name, f.employer_id, f.attempt] for f in p.facts]),
        d.stages,
        d.status,
        d.anomalies,
        d.attempt,
        r.exit,
        _json(records_json.dump(projection.without_demographics(r))),
        _json(p.partner_status.detail),
        p.candidate_id,
        _json(p.demographics_sealed) if p.demographics_sealed else None,
        d.outcome,
        list(d.declined_by),
        list(r.flags),
        pipeline.person_key(p.candidate_id, referral_id),
    )


# The funnel's columns of `_projection_row` after the first 14 (text arrays at 15 and 16).
EXTRA_COLUMNS = ("outcome", "declined_by", "flags", "person_key")


async def save_projections(
    conn: asyncpg.Connection,
    projected: dict[str, projection.Projection],
    keep: tuple[list[str], list[str], list[str]] | None = None,
    kept: dict[str, str] | None = None,
    cache: InputsCache | None = None,
) -> None:
    """Store the referrals' projections in one statement, with compact events to keep:
    `keep` = (referrals whose kept events are replaced, then referral ids and compact events
    to add), after which each projected referral's events are all kept. Without `keep`,
    nothing is kept and the projections say so (their next batch reads the ledger).

    `kept`: each projected referral's kept events once the statement has run (all of them,
    a JSON array as a later `known` would read them back), for `cache`, under the rows' new
    version."""
    cache = INPUTS if cache is None else cache
    rows = [_projection_row(rid, p) for rid, p in sorted(projected.items())]
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    for i in (3, 5, 7, 15, 16):  # facts, stages, anomalies, declined_by, flags
        if any(SEP in name for names in columns[i] for name in names):  # type: ignore[attr-defined]
            raise ValueError(f"a fact, stage, anomaly, employer or flag holds the separator: {columns[i]}")
        columns[i] = tuple(SEP.join(names) for names in columns[i])  # type: ignore[arg-type]
    reset, ids, inputs = keep or _KEEP_NONE
    # Should this transaction roll back, its rows keep their old version, which an entry
    # put below never matches (and an entry of the old version still describes them).
    version = new_version()
    await conn.execute(UPSERT_PROJECTIONS, *[list(c) for c in columns[:14]], SEP, keep is not None, reset, ids,
                       inputs, version, projection.VERSION, *[list(c) for c in columns[14:]])
    for rid in projected:
        if keep is not None and kept is not None and rid in kept:
            cache.put(rid, version, kept[rid])
        else:
            cache.drop(rid)


async def outdated(conn: asyncpg.Connection, version: int, after: str, limit: int) -> list[str]:
    """Up to `limit` referrals after `after` (by id) projected under a version older than `version`."""
    rows = await conn.fetch(
        "SELECT referral_id FROM referral_facts WHERE referral_id > $1 AND projected_with < $2"
        " ORDER BY referral_id LIMIT $3", after, version, limit)
    return [r["referral_id"] for r in rows]


def ledger_data(text: str) -> Any:
    """An event's data as the ledger's jsonb gives it (`envelope -> 'data'`, as text), by
    pydantic_core's parser: the same values as json.loads (jsonb writes numbers as plain
    decimals; tests/unit/test_outcomes_ledger_data.py) in about a third of its time."""
    return from_json(text)


async def ledger_events(conn: asyncpg.Connection, referral_ids: list[str]) -> dict[str, list[projection.LedgerEvent]]:
    """Every ledger event of the referrals, as `project` takes them."""
    rows = await conn.fetch(
        "SELECT referral_id, event_type, occurred_at, employer_id, partner_id, envelope -> 'data' AS data FROM ledger"
        " WHERE referral_id = ANY($1::text[])",
        referral_ids,
    )
    events: dict[str, list[projection.LedgerEvent]] = {}
    for r in rows:
        events.setdefault(r["referral_id"], []).append(
            projection.LedgerEvent(r["event_type"], r["occurred_at"], r["employer_id"], ledger_data(r["data"]),
                                   r["partner_id"])
        )
    return events


async def reproject_many(
    conn: asyncpg.Connection, referral_ids: list[str]
) -> dict[str, tuple[str | None, projection.Projection]]:
    """Derive the referrals' projections again from all their ledger events and store them
    (with their compact events, replaced); returns, per referral, the partner status it had
    before (None if new) and the projection.

    The caller holds the referrals' locks (`lock_referrals`), so concurrent events of one
    referral are projected one after the other and none is lost."""
    events = await ledger_events(conn, referral_ids)
    before = (await known(conn, sorted(events))).status if events else {}
    projected = {rid: projection.project(rid, found) for rid, found in sorted(events.items())}
    keep, kept = _keep_all(events)
    await save_projections(conn, projected, keep, kept)
    return {rid: (before.get(rid), p) for rid, p in projected.items()}


def _keep_all(
    events: dict[str, list[projection.LedgerEvent]],
) -> tuple[tuple[list[str], list[str], list[str]], dict[str, str]]:
    """`save_projections`' `keep` that replaces the referrals' kept events with these, and
    the compact events so kept, per referral (as `projection.dump_inputs` writes them)."""
    ids, inputs, kept = [], [], {}
    for rid, found in events.items():
        dumped = [projection.dump_input(projection.compact(e)) for e in found]
        ids += [rid] * len(dumped)
        inputs += dumped
        kept[rid] = "[" + ",".join(dumped) + "]"
    return (sorted(events), ids, inputs), kept


def _append_inputs(stored: str, dumped: list[str]) -> str:
    """The JSON array `stored` (as `known` reads kept events back) with the `dumped` events
    after its own: the text a later `known` would read once they are kept too."""
    if not dumped:
        return stored
    return stored[:-1] + ("," if stored != "[]" else "") + ",".join(dumped) + "]"


def as_ledger_event(env: Envelope) -> projection.LedgerEvent:
    """A stored envelope as `project` would read it back from the ledger (its time in UTC)."""
    return projection.LedgerEvent(env.type, env.time.astimezone(UTC), env.employerid, env.data, env.partnerid)


def compact_event(env: Envelope) -> projection.LedgerEvent:
    """`projection.compact(as_ledger_event(env))`, made at once (one object per event, not two)."""
    at = env.time
    return projection.LedgerEvent(env.type, at if at.tzinfo is UTC else at.astimezone(UTC), env.employerid,
                                  projection.compact_data(env.data), env.partnerid)


async def project_appended(
    conn: asyncpg.Connection, appended: list[tuple[Envelope, str]], before: Known
) -> dict[str, tuple[str | None, projection.Projection]]:
    """The projections of the referrals that `appended` (stored envelopes with their referral
    ids) are about, derived from their kept compact events and the new ones (from all their
    ledger rows where that would not be exact, see `projection`), stored with the new
    compact events; returns, per referral, its partner status before and its projection.

    Same contract as `reproject_many`: the caller holds the referrals' locks and appended the
    events in this transaction."""
    new: dict[str, list[projection.LedgerEvent]] = {}
    for env, rid in appended:
        new.setdefault(rid, []).append(compact_event(env))
    projected: dict[str, projection.Projection] = {}
    kept: dict[str, str] = {}
    ids, inputs, from_ledger = [], [], []
    for rid, events in sorted(new.items()):
        if not all(projection.jsonb_exact(e.data) for e in events):
            from_ledger.append(rid)
            continue
        # Held by this process's cache, else read with the row (the same text either way);
        # no projection yet: no ledger row before this batch either (they are stored together).
        stored = before.cached.get(rid) or (before.inputs[rid] if rid in before.status else "[]")
        if stored is None:
            from_ledger.append(rid)
            continue
        combined = projection.load_inputs(stored) + events
        if projection.has_ties(combined):
            from_ledger.append(rid)
            continue
        projected[rid] = projection.project(rid, combined)
        dumped = [projection.dump_input(e) for e in events]
        kept[rid] = _append_inputs(stored, dumped)
        ids += [rid] * len(dumped)
        inputs += dumped
    reset: list[str] = []
    if from_ledger:
        events_of = await ledger_events(conn, from_ledger)
        (reset, more_ids, more_inputs), more_kept = _keep_all(events_of)
        ids += more_ids
        inputs += more_inputs
        kept.update(more_kept)
        projected.update({rid: projection.project(rid, found) for rid, found in events_of.items()})
    await save_projections(conn, projected, (reset, ids, inputs), kept)
    return {rid: (before.status.get(rid), p) for rid, p in sorted(projected.items())}


async def webhook_owners(conn: asyncpg.Connection, owners: list[str]) -> set[str]:
    """Those of `owners` with an active webhook endpoint (plumbing/webhooks.py's table)."""
    rows = await conn.fetch(
        "SELECT DISTINCT owner FROM webhook_endpoints WHERE active AND owner = ANY($1::text[])", owners)
    return {r["owner"] for r in rows}


async def upsert_opening(conn: asyncpg.Connection, data: dict, at: datetime, closed: bool) -> None:
    """The opening as last posted or updated (a late older event changes nothing); closing keeps the posting."""
    if closed:
        await conn.execute(
            "UPDATE openings SET state = $2 WHERE opening_id = $1", data["opening_id"], data.get("reason", "closed")
        )
        return
    await conn.execute(
        "INSERT INTO openings (opening_id, employer_id, onet_soc_code, required_skills, preferred_skills, posted_at,"
        " changed_at, posting) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)"
        " ON CONFLICT (opening_id) DO UPDATE SET onet_soc_code = $3, required_skills = $4, preferred_skills = $5,"
        " changed_at = $6, posted_at = LEAST(openings.posted_at, $6), posting = $7 WHERE openings.changed_at <= $6",
        data["opening_id"],
        data["employer_id"],
        data["onet_soc_code"],
        sorted(data.get("required_skills", [])),
        sorted(data.get("preferred_skills", [])),
        at,
        _json(data),  # the whole posting, for the demand board (issue 16)
    )


async def upsert_forecast(conn: asyncpg.Connection, data: dict, at: datetime) -> None:
    """An employer's forecast, replacing its earlier one for the same occupation, employment type
    and horizon (a late older one changes nothing: the order of arrival does not matter)."""
    await conn.execute(
        "INSERT INTO demand_forecasts (employer_id, onet_soc_code, employment_type, horizon_months, forecast,"
        " declared_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (employer_id, onet_soc_code, employment_type, horizon_months) DO UPDATE"
        " SET forecast = $5, declared_at = $6 WHERE demand_forecasts.declared_at <= $6",
        data["employer_id"], data["onet_soc_code"], data["employment_type"], data["horizon_months"], _json(data), at,
    )


async def upsert_standards(conn: asyncpg.Connection, data: dict, at: datetime) -> None:
    """An employer's hiring standards for an occupation or one of its openings (1.1), replacing
    earlier ones for the same (a late older one changes nothing)."""
    await conn.execute(
        "INSERT INTO hiring_standards (employer_id, onet_soc_code, opening_id, standards, published_at)"
        " VALUES ($1, $2, $5, $3, $4)"
        " ON CONFLICT (employer_id, onet_soc_code, opening_id) DO UPDATE SET standards = $3, published_at = $4"
        " WHERE hiring_standards.published_at <= $4",
        data["employer_id"], data["onet_soc_code"], _json(data), at, data.get("opening_id") or "",
    )


async def upsert_publication_choice(conn: asyncpg.Connection, data: dict, at: datetime) -> None:
    """An employer's choice whether its hiring of a year may be published, replacing its earlier one
    for the year (a late older one changes nothing)."""
    await conn.execute(
        "INSERT INTO publication_choices (employer_id, year, opted_in, employer_name, chosen_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (employer_id, year) DO UPDATE"
        " SET opted_in = $3, employer_name = $4, chosen_at = $5 WHERE publication_choices.chosen_at <= $5",
        data["employer_id"], data["year"], data["opted_in"], data["employer_name"], at,
    )


async def referral_view(pool: asyncpg.Pool | asyncpg.Connection, referral_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM referral_facts WHERE referral_id = $1", referral_id)


async def timeline(
    pool: asyncpg.Pool | asyncpg.Connection, referral_id: str, employer_id: str | None = None
) -> list[asyncpg.Record]:
    """Events in the order they happened (arrival order breaks ties); an employer sees its own part."""
    return await pool.fetch(
        "SELECT seq, event_id, event_type, occurred_at, recorded_at, partner_id, employer_id, envelope"
        " FROM ledger WHERE referral_id = $1 AND ($2::text IS NULL OR employer_id = $2)"
        " AND event_type NOT LIKE 'skills.gap_observed.%'"  # routing's analytics, not a step of the referral
        " ORDER BY occurred_at, seq",
        referral_id,
        employer_id,
    )


# The funnel (services/outcomes/pipeline.py, docs/pipeline.md) in one statement: per key
# (the group), rows (kind, name, referrals, people). A referral is at every stage up to the
# furthest one its evidence (`stages`) shows, referred at least; a person at every stage one
# of their referrals is at, with the best of their referrals' outcomes ($4 is best first).
# `pipeline.from_counts` reads the rows; a side's count is NULL where the row is not its line.
FUNNEL_SQL = """
WITH f AS (
    SELECT {group} AS key, person_key, outcome, coalesce(employer_id, '{no_employer}') AS employer, declined_by, flags,
        coalesce((SELECT max(array_position($3::text[], s)) FROM unnest(stages) AS s), 1) AS furthest,
        'interviewed' = ANY(stages) AS interviewed
    FROM referral_facts
    WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR employer_id = $2)
), people AS (
    SELECT key, person_key, min(array_position($4::text[], outcome)) AS best FROM f GROUP BY key, person_key
), elsewhere AS (
    SELECT DISTINCT h.key, h.person_key FROM f AS h JOIN f AS d USING (key, person_key), unnest(d.declined_by) AS x
    WHERE h.outcome = 'placed' AND x <> h.employer
)
SELECT key, 'stages' AS kind, st.name, count(*) AS referrals, count(DISTINCT person_key) AS people
    FROM f JOIN unnest($3::text[]) WITH ORDINALITY AS st(name, i) ON st.i <= f.furthest GROUP BY key, st.name
UNION ALL SELECT key, '{interviews}', NULL, count(*), count(DISTINCT person_key) FROM f WHERE interviewed GROUP BY key
UNION ALL SELECT key, 'outcomes', outcome, count(*), NULL FROM f GROUP BY key, outcome
UNION ALL SELECT key, 'outcomes', ($4::text[])[best], NULL, count(*) FROM people GROUP BY key, best
UNION ALL SELECT key, CASE WHEN fl = ANY($5::text[]) THEN 'placed' ELSE 'flags' END, fl, count(*),
        count(DISTINCT person_key)
    FROM f, unnest(flags) AS fl GROUP BY key, fl
UNION ALL SELECT key, 'flags', '{elsewhere}', NULL, count(*) FROM elsewhere GROUP BY key
""".replace("{no_employer}", pipeline.NO_EMPLOYER).replace("{interviews}", pipeline.INTERVIEWS_RECORDED).replace(
    "{elsewhere}", pipeline.DECLINED_THEN_PLACED_ELSEWHERE)


async def funnel_counts(
    pool: asyncpg.Pool | asyncpg.Connection, group: str | None, partner_id: str | None, employer_id: str | None
) -> dict[str, dict[str, Any]]:
    """The funnel's summary (`pipeline.summarize`'s shape) per group: per partner, per
    employer, or in total (the one key "all"), of one partner's or employer's referrals or all."""
    column = {"partner": "partner_id", "employer": "employer_id", None: "'all'"}[group]
    rows = await pool.fetch(FUNNEL_SQL.replace("{group}", column), partner_id, employer_id, list(pipeline.STAGES),
                            list(pipeline.OUTCOMES), list(pipeline.PLACED_DETAILS))
    return pipeline.from_counts(rows)


async def anomalies(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT referral_id, anomalies FROM referral_facts WHERE cardinality(anomalies) > 0 ORDER BY referral_id"
    )


async def partner_referrals(
    pool: asyncpg.Pool, partner_id: str, status: str | None, after: str | None, limit: int
) -> list[asyncpg.Record]:
    """The partner's referrals with their status, paged by referral id."""
    return await pool.fetch(
        "SELECT referral_id, status, partner_detail, stages, employer_id, updated_at FROM referral_facts"
        " WHERE partner_id = $1 AND ($2::text IS NULL OR status = $2) AND referral_id > coalesce($3, '')"
        " ORDER BY referral_id LIMIT $4",
        partner_id,
        status,
        after,
        limit,
    )


# --- what the reports read --------------------------------------------------------------


async def report_records(
    pool: asyncpg.Pool, vault: Vault | None, partner_id: str | None = None
) -> list[records.ReferralRecord]:
    """Every referral's record (one partner's, or all), with demographics opened where the
    candidate consented to aggregate reports (and was not erased: then the key is gone)."""
    rows = await pool.fetch(
        "SELECT record, candidate_id, demographics_sealed, person_key FROM referral_facts"
        " WHERE record IS NOT NULL AND ($1::text IS NULL OR partner_id = $1) ORDER BY referral_id",
        partner_id,
    )
    if vault is None:
        return opened(rows, {})
    async with pool.acquire() as conn:
        return opened(rows, await demographics_keys(conn, vault, rows))


async def demographics_keys(conn: asyncpg.Connection, vault: Vault, rows: list[asyncpg.Record]) -> dict:
    """The keys of the candidates whose sealed demographics `rows` (of referral_facts) hold."""
    readable = sorted({r["candidate_id"] for r in rows
                       if r["demographics_sealed"] and r["candidate_id"] not in (None, domain.ERASED)})
    return await vault.keys(conn, readable) if readable else {}


def opened(rows: list[asyncpg.Record], keys: dict) -> list[records.ReferralRecord]:
    """Each row's record (record, candidate_id, demographics_sealed, person_key), with demographics
    opened where the candidate consented to aggregate reports and its key is in `keys`."""
    out = []
    for r in rows:
        # Who it is about, for counting people: a column, not part of the record (an erasure
        # changes it), set here as `projection.without_demographics` takes demographics out.
        record = replace(records_json.load(records.ReferralRecord, json.loads(r["record"])), person_key=r["person_key"])
        key = keys.get(r["candidate_id"])
        box = Sealed.model_validate_json(r["demographics_sealed"]) if r["demographics_sealed"] else None
        if record.aggregate_consent and key is not None and box is not None:
            try:
                d = key.open(box, "demographics")
            except Unreadable:
                d = None
            if d is not None:
                record = replace(record, demographics=records.Demographics(
                    tuple(d.get("race_ethnicity") or ()), d.get("gender"), d.get("veteran_status")))
        out.append(record)
    return out


async def gap_records(pool: asyncpg.Pool) -> list[records.GapRecord]:
    """Every opening routing compared a candidate with (`records.gap_records_of`: v1 and v2
    observations alike), in the order observed, each marked declined when that opening's
    employer declined the referral."""
    rows = await pool.fetch(
        "SELECT referral_id, envelope -> 'data' AS data, occurred_at, partner_id FROM ledger"
        " WHERE event_type LIKE 'skills.gap_observed.%' ORDER BY occurred_at, event_id"
    )
    declines = await pool.fetch(
        "SELECT DISTINCT referral_id, envelope -> 'data' ->> 'opening_id' AS opening_id FROM ledger"
        " WHERE event_type LIKE 'referral.declined.%'"
    )
    declined = {(r["referral_id"], r["opening_id"]) for r in declines}
    out = []
    for r in rows:
        rid = r["referral_id"]
        out += records.gap_records_of(json.loads(r["data"]), r["occurred_at"], r["partner_id"],
                                      lambda opening_id, rid=rid: (rid, opening_id) in declined)
    return out


async def opening_records(pool: asyncpg.Pool) -> list[records.OpeningRecord]:
    rows = await pool.fetch("SELECT * FROM openings ORDER BY opening_id")
    return [
        records.OpeningRecord(r["opening_id"], r["employer_id"], r["onet_soc_code"], tuple(r["required_skills"]),
                              tuple(r["preferred_skills"]), r["posted_at"])
        for r in rows
    ]


# --- training (issue 15 slice 6) ---------------------------------------------------------------


async def upsert_program(conn: asyncpg.Connection, data: dict, at: datetime) -> None:
    """The program as last registered or updated (a late older event changes nothing)."""
    await conn.execute(
        "INSERT INTO programs (program_id, partner_id, name, credential, program, registered_at, changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)"
        " ON CONFLICT (program_id) DO UPDATE SET partner_id = $2, name = $3, credential = $4, program = $5,"
        " changed_at = $6, registered_at = LEAST(programs.registered_at, $6) WHERE programs.changed_at <= $6",
        data["program_id"],
        data["partner_id"],
        data["name"],
        _json(data.get("credential")) if data.get("credential") is not None else None,
        _json(data),
        at,
    )


async def enrollments_erased(conn: asyncpg.Connection, enrollment_ids: list[str]) -> dict[str, UUID]:
    """Those of the enrollments erased, with the erasure that erased each."""
    rows = await conn.fetch("SELECT enrollment_id, erasure_id FROM erased_enrollments"
                            " WHERE enrollment_id = ANY($1::text[])", enrollment_ids)
    return {r["enrollment_id"]: r["erasure_id"] for r in rows}


async def mark_enrollments_erased(conn: asyncpg.Connection, enrollment_ids: list[str], at: datetime,
                                  erasure_id: UUID) -> None:
    await conn.execute(
        "INSERT INTO erased_enrollments (enrollment_id, erased_at, erasure_id) SELECT e, $2, $3"
        " FROM unnest($1::text[]) AS e ON CONFLICT (enrollment_id) DO NOTHING",
        enrollment_ids,
        at,
        erasure_id,
    )


async def redact_enrollments(conn: asyncpg.Connection, enrollment_ids: list[str]) -> int:
    """As `redact`, for the ledger rows of erased enrollments."""
    return await _redact_rows(conn, "enrollment_id", enrollment_ids)


async def project_enrollments(conn: asyncpg.Connection, enrollment_ids: list[str]) -> None:
    """Derive each enrollment again from all its ledger rows (an enrollment has a few events) and
    store it; `person_key` as a referral's (`pipeline.person_key`), the erasure's after one."""
    ids = sorted(set(enrollment_ids))
    if not ids:
        return
    rows = await conn.fetch(
        "SELECT enrollment_id, program_id, event_type, occurred_at, employer_id, partner_id, envelope -> 'data' AS data"
        " FROM ledger WHERE enrollment_id = ANY($1::text[])",
        ids,
    )
    erased = await enrollments_erased(conn, ids)
    by_id: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        by_id.setdefault(r["enrollment_id"], []).append(r)
    out = []
    for eid, rs in by_id.items():
        events = [projection.LedgerEvent(r["event_type"], r["occurred_at"], r["employer_id"], ledger_data(r["data"]),
                                         r["partner_id"]) for r in rs]
        # Every event of an enrollment names its provider and program (the contract's _Enrollment).
        first = min(events, key=lambda e: (e.occurred_at, e.event_type))
        p = projection.project_enrollment(eid, first.data["partner_id"], first.data["program_id"], events)
        erasure = erased.get(eid)
        key = (pipeline.ERASED_PREFIX + str(erasure) if erasure is not None
               else p.record.candidate_id or f"{ENROLLMENT_LOCK}{eid}")
        sealed = None if erasure is not None else p.demographics_sealed
        out.append((eid, p.record.provider, p.record.program, p.record.status, p.record.candidate_id, key,
                    _json(sealed) if sealed is not None else None, _json(records_json.dump(p.record)),
                    projection.ENROLLMENT_VERSION))
    await conn.executemany(
        "INSERT INTO enrollment_facts (enrollment_id, partner_id, program_id, status, candidate_id, person_key,"
        " demographics_sealed, record, projected_with) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (enrollment_id) DO UPDATE SET partner_id = $2, program_id = $3, status = $4, candidate_id = $5,"
        " person_key = $6, demographics_sealed = $7, record = $8, projected_with = $9",
        out,
    )


async def enrollment_records(pool: asyncpg.Pool | asyncpg.Connection,
                             partner_id: str | None = None) -> list[records.EnrollmentRecord]:
    """Every enrollment (or a provider's), its `person_key` as its candidate_id is not kept after
    an erasure: the funnel joins them with referrals by person_key (`enrollment_people`)."""
    rows = await pool.fetch("SELECT record FROM enrollment_facts WHERE $1::text IS NULL OR partner_id = $1"
                            " ORDER BY enrollment_id", partner_id)
    return [records_json.load(records.EnrollmentRecord, json.loads(r["record"])) for r in rows]


async def enrollment_people(pool: asyncpg.Pool | asyncpg.Connection,
                            partner_id: str | None = None) -> list[tuple[str, records.EnrollmentRecord]]:
    """(person_key, record) of every enrollment (or a provider's)."""
    rows = await pool.fetch("SELECT person_key, record FROM enrollment_facts WHERE $1::text IS NULL OR partner_id = $1"
                            " ORDER BY enrollment_id", partner_id)
    return [(r["person_key"], records_json.load(records.EnrollmentRecord, json.loads(r["record"]))) for r in rows]


async def pipeline_inputs(conn: asyncpg.Connection,
                          partner_id: str | None = None) -> tuple[list[pipeline.Trainee], list[pipeline.Hire]]:
    """What the coalition funnel counts (`pipeline.pipeline_funnel`): `pipeline_report_inputs`
    without the groups."""
    enrolled, hires = await pipeline_report_inputs(conn, partner_id)
    return [e.trainee for e in enrolled], hires


async def pipeline_report_inputs(conn: asyncpg.Connection,
                                 partner_id: str | None = None) -> tuple[list[pipeline.Enrolled], list[pipeline.Hire]]:
    """What the coalition funnel counts, each enrollment with its provider, program and
    credentials (the reports group by them): every enrollment (or a training provider's), and
    the referrals of the same people, joined by person_key. A provider sees another partner's
    referrals of a participant only when that participant let it hear what came of them
    (`EnrollmentRecord.outcomes_shared`); its own, always."""
    rows = await conn.fetch("SELECT person_key, record FROM enrollment_facts WHERE $1::text IS NULL OR partner_id = $1",
                            partner_id)
    enrollments = [(r["person_key"], records_json.load(records.EnrollmentRecord, json.loads(r["record"]))) for r in rows]
    enrolled = [pipeline.enrolled_of(person, record) for person, record in enrollments]
    keys = sorted({e.trainee.person_key for e in enrolled})
    shared = sorted({person for person, record in enrollments if partner_id is None or record.outcomes_shared})
    refs = await conn.fetch("SELECT person_key, record FROM referral_facts WHERE person_key = ANY($1::text[])"
                            " AND record IS NOT NULL AND (person_key = ANY($2::text[]) OR partner_id = $3)",
                            keys, shared, partner_id)
    hires = [pipeline.hire_of(replace(records_json.load(records.ReferralRecord, json.loads(r["record"])),
                                      person_key=r["person_key"])) for r in refs]
    return enrolled, hires


# --- the closed loops of participants and service requests (issue 15 items 3, 6) ---------------

# An enrollment whose participant let the provider hear what came of them, and who was not
# erased: a network-wide erasure gives the person's referrals and enrollments one key (the
# erasure's), which must not join them up again in a closed loop. `{t}` is a table prefix.
SHARED = "{t}record ->> 'outcomes_shared' = 'true' AND {t}person_key NOT LIKE '" + pipeline.ERASED_PREFIX + "%'"


async def shared_enrollments(conn: asyncpg.Connection, person_keys: list[str] | None = None,
                             enrollment_ids: list[str] | None = None) -> list[domain.Shared]:
    """The enrollments of these people (or these enrollments) whose participant agreed that the
    provider may hear what came of them, leaving out erased people (`SHARED`)."""
    rows = await conn.fetch(
        "SELECT enrollment_id, partner_id, program_id, person_key FROM enrollment_facts"
        " WHERE (person_key = ANY($1::text[]) OR enrollment_id = ANY($2::text[])) AND " + SHARED.format(t="")
        + " ORDER BY enrollment_id",
        person_keys or [], enrollment_ids or [])
    return [domain.Shared(r["enrollment_id"], r["partner_id"], r["program_id"], r["person_key"]) for r in rows]


async def referrals_of_people(conn: asyncpg.Connection, person_keys: list[str]) -> list[asyncpg.Record]:
    """The referrals of these people with their partner status, locked FOR SHARE in referral id
    order (the order a batch writes them in: `save_projections`). Never an erased person's: an
    erasure's key is left out."""
    return await conn.fetch(
        "SELECT referral_id, partner_id, person_key, status, partner_detail FROM referral_facts"
        " WHERE person_key = ANY($1::text[]) AND person_key NOT LIKE $2 ORDER BY referral_id FOR SHARE",
        person_keys, pipeline.ERASED_PREFIX + "%")


async def provider_participants(
    pool: asyncpg.Pool, provider: str, status: str | None, after: str | None, limit: int
) -> list[asyncpg.Record]:
    """A training provider's participants who let it hear what came of them (its enrollments with
    that consent; never an erased person's: `SHARED`), each with the person's referrals by other
    partners (`referrals`, a JSON array),
    paged by enrollment id; with `status`, only those with a referral in that status."""
    return await pool.fetch(
        "SELECT e.enrollment_id, e.program_id, e.status AS training_status, coalesce(jsonb_agg(jsonb_build_object("
        "   'referral_id', f.referral_id, 'status', f.status, 'detail', f.partner_detail, 'stages', f.stages,"
        "   'updated_at', f.updated_at) ORDER BY f.referral_id) FILTER (WHERE f.referral_id IS NOT NULL), '[]')::text"
        "   AS referrals"
        " FROM enrollment_facts e"
        " LEFT JOIN referral_facts f ON f.person_key = e.person_key AND f.partner_id IS DISTINCT FROM $1"
        " WHERE e.partner_id = $1 AND " + SHARED.format(t="e.") + " AND e.enrollment_id > coalesce($3, '')"
        + " GROUP BY e.enrollment_id, e.program_id, e.status HAVING $2::text IS NULL OR bool_or(f.status = $2)"
        " ORDER BY e.enrollment_id LIMIT $4",
        provider, status, after, limit)


async def request_references(conn: asyncpg.Connection, request_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """The referral or enrollment each known request names (fixed by its service.requested)."""
    rows = await conn.fetch("SELECT request_id, referral_id, enrollment_id FROM service_requests"
                            " WHERE request_id = ANY($1::text[])", request_ids)
    return {r["request_id"]: (r["referral_id"], r["enrollment_id"]) for r in rows}


async def requests_naming(conn: asyncpg.Connection, referral_ids: list[str], enrollment_ids: list[str]) -> list[str]:
    """The requests made through these referrals or enrollments (an erasure's)."""
    rows = await conn.fetch("SELECT request_id FROM service_requests WHERE referral_id = ANY($1::text[])"
                            " OR enrollment_id = ANY($2::text[]) ORDER BY request_id", referral_ids, enrollment_ids)
    return [r["request_id"] for r in rows]


# A request is erased with the referral or enrollment it names: its person key is that erasure's.
REQUEST_ERASURE = (
    "coalesce((SELECT erasure_id::text FROM erased_referrals WHERE referral_id = {r}),"
    " (SELECT erasure_id::text FROM erased_enrollments WHERE enrollment_id = {e}))"
)


async def references_erased(conn: asyncpg.Connection, references: list[tuple[str | None, str | None]]) -> list[bool]:
    """For each (referral id, enrollment id) a request names, whether it is erased."""
    rows = await conn.fetch(
        "SELECT " + REQUEST_ERASURE.format(r="u.r", e="u.e") + " IS NOT NULL AS erased"
        " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(r, e, i) ORDER BY i",
        [r for r, _ in references], [e for _, e in references])
    return [r["erased"] for r in rows]


async def redact_requests(conn: asyncpg.Connection, request_ids: list[str]) -> int:
    """As `redact`, for the ledger rows of requests about an erased person (their free text too)."""
    return await _redact_rows(conn, "request_id", request_ids, domain.redact_service)


# What a requester was told of a withdrawal in its own words (`detail.reason` of a cancelled
# request's status): the one piece of free text the closed loop's copies carry.
_CANCELLED_NOTICE = "service.status_changed.v1"


async def scrub_request_notices(conn: asyncpg.Connection, request_ids: list[str]) -> None:
    """After an erasure, the words go from this schema's copies of the requests' status changes
    as they went from the ledger: the outbox rows (key: request id) and the webhook deliveries
    (subject: request id) of a cancellation keep its status and codes, not its `reason`."""
    if not request_ids:
        return
    rows = await conn.fetch("SELECT id, value FROM outbox WHERE key = ANY($1::text[]) FOR UPDATE", request_ids)
    changed = []
    for r in rows:
        envelope = json.loads(r["value"])
        data = envelope.get("data") or {}
        if envelope.get("type") == _CANCELLED_NOTICE and data.get("status") == "cancelled":
            detail = {k: v for k, v in (data.get("detail") or {}).items() if k != "reason"}
            changed.append((r["id"], json.dumps({**envelope, "data": {**data, "detail": detail}},
                                                separators=(",", ":")).encode()))
    if changed:
        await conn.executemany("UPDATE outbox SET value = $2 WHERE id = $1", changed)
    await conn.execute(
        "UPDATE webhook_deliveries SET body = body #- '{data,detail,reason}' WHERE event_type = $2"
        " AND body ->> 'subject' = ANY($1::text[]) AND body #>> '{data,status}' = 'cancelled'",
        request_ids, _CANCELLED_NOTICE)


async def project_service_requests(
    conn: asyncpg.Connection, request_ids: list[str]
) -> dict[str, tuple[str | None, service_requests.ServiceRequest]]:
    """Derive each request again from all its ledger rows and store it; returns, per request,
    the status its requester was told before (None: new) and the request."""
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT request_id, event_type, occurred_at, employer_id, partner_id, envelope -> 'data' AS data"
        " FROM ledger WHERE request_id = ANY($1::text[])", ids)
    before = {r["request_id"]: r["partner_status"] for r in await conn.fetch(
        "SELECT request_id, partner_status FROM service_requests WHERE request_id = ANY($1::text[])", ids)}
    by_id: dict[str, list[projection.LedgerEvent]] = {}
    for r in rows:
        by_id.setdefault(r["request_id"], []).append(projection.LedgerEvent(
            r["event_type"], r["occurred_at"], r["employer_id"], ledger_data(r["data"]), r["partner_id"]))
    out = {rid: service_requests.project_request(rid, found) for rid, found in sorted(by_id.items())}
    columns = [
        [q.request_id for q in out.values()], [q.requester_id for q in out.values()],
        [q.provider_id for q in out.values()], [q.candidate_id or f"service:{q.request_id}" for q in out.values()],
        [q.referral_id for q in out.values()], [q.enrollment_id for q in out.values()],
        [q.service_type for q in out.values()], [q.requested_at for q in out.values()],
        [q.amount_requested for q in out.values()], [q.currency for q in out.values()],
        [q.status for q in out.values()], [q.accepted_at for q in out.values()], [q.ended_at for q in out.values()],
        [q.decline_reason for q in out.values()], [q.delivered_on for q in out.values()],
        [q.value_delivered for q in out.values()], [q.stale_at for q in out.values()],
        [q.partner_status for q in out.values()], [_json(q.detail) for q in out.values()],
        [q.changed_at for q in out.values()],
    ]
    await conn.execute(
        "INSERT INTO service_requests (request_id, requester_id, provider_id, person_key, referral_id, enrollment_id,"
        " service_type, requested_at, amount_requested, currency, status, accepted_at, ended_at, decline_reason,"
        " delivered_on, value_delivered, stale_at, partner_status, detail, changed_at)"
        " SELECT id, rq, pv, coalesce('" + pipeline.ERASED_PREFIX + "' || " + REQUEST_ERASURE.format(r="rf", e="en")
        + ", pk), rf, en, st, ra, am, cu, s, aa, ea, dr, dl, vd, sa, ps, dt::jsonb, ca"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
        "   $8::timestamptz[], $9::numeric[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[],"
        "   $14::text[], $15::date[], $16::numeric[], $17::timestamptz[], $18::text[], $19::text[], $20::timestamptz[])"
        "   AS u(id, rq, pv, pk, rf, en, st, ra, am, cu, s, aa, ea, dr, dl, vd, sa, ps, dt, ca)"
        " ON CONFLICT (request_id) DO UPDATE SET requester_id = EXCLUDED.requester_id,"
        " provider_id = EXCLUDED.provider_id, person_key = EXCLUDED.person_key, referral_id = EXCLUDED.referral_id,"
        " enrollment_id = EXCLUDED.enrollment_id, service_type = EXCLUDED.service_type,"
        " requested_at = EXCLUDED.requested_at, amount_requested = EXCLUDED.amount_requested,"
        " currency = EXCLUDED.currency, status = EXCLUDED.status, accepted_at = EXCLUDED.accepted_at,"
        " ended_at = EXCLUDED.ended_at, decline_reason = EXCLUDED.decline_reason,"
        " delivered_on = EXCLUDED.delivered_on, value_delivered = EXCLUDED.value_delivered,"
        " stale_at = EXCLUDED.stale_at, partner_status = EXCLUDED.partner_status, detail = EXCLUDED.detail,"
        " changed_at = EXCLUDED.changed_at",
        *columns,
    )
    return {rid: (before.get(rid), q) for rid, q in out.items()}


async def requester_requests(
    pool: asyncpg.Pool, requester: str, status: str | None, after: str | None, limit: int
) -> list[asyncpg.Record]:
    """A requester's service requests with what it was told, paged by request id."""
    return await pool.fetch(
        "SELECT request_id, provider_id, referral_id, enrollment_id, service_type, partner_status, detail, changed_at"
        " FROM service_requests WHERE requester_id = $1 AND ($2::text IS NULL OR partner_status = $2)"
        " AND request_id > coalesce($3, '') ORDER BY request_id LIMIT $4",
        requester, status, after, limit)


# --- an operator's view of one person (GET /v1/people/{candidate_id}/journey) ------------------


async def journey(conn: asyncpg.Connection, person_key: str) -> dict[str, list[asyncpg.Record]]:
    """A person's enrollments, referrals and service requests, and every ledger row about them
    in the order they happened (arrival breaks ties), without routing's skills-gap observations."""
    enrollments = await conn.fetch("SELECT enrollment_id, partner_id, program_id, status, record FROM enrollment_facts"
                                   " WHERE person_key = $1 ORDER BY enrollment_id", person_key)
    referrals = await conn.fetch("SELECT referral_id, partner_id, employer_id, status, stages, outcome, partner_detail"
                                 " FROM referral_facts WHERE person_key = $1 ORDER BY referral_id", person_key)
    requests = await conn.fetch("SELECT request_id, requester_id, provider_id, referral_id, enrollment_id, service_type,"
                                " status, partner_status, detail FROM service_requests WHERE person_key = $1"
                                " ORDER BY request_id", person_key)
    events = await conn.fetch(
        "SELECT seq, event_id, event_type, occurred_at, recorded_at, referral_id, enrollment_id, request_id,"
        " program_id, envelope FROM ledger"
        " WHERE (referral_id = ANY($1::text[]) OR enrollment_id = ANY($2::text[]) OR request_id = ANY($3::text[]))"
        " AND event_type NOT LIKE 'skills.gap_observed.%'"  # routing's analytics, as in a referral's timeline
        " ORDER BY occurred_at, seq",
        [r["referral_id"] for r in referrals], [e["enrollment_id"] for e in enrollments],
        [q["request_id"] for q in requests])
    return {"enrollments": enrollments, "referrals": referrals, "service_requests": requests, "events": events}
