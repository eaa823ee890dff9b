"""Transactional outbox: events are written with the state change, then relayed to Kafka.

A service calls `enqueue` inside the transaction that changes its state, so the change
and the events it implies commit or vanish together. `OutboxRelay` publishes the rows in
id order through an idempotent producer (acks=all), waits for every ack, and only then
marks them published. A crash between the acks and the mark republishes them: consumers'
inboxes make that harmless.

- **One relay per service at a time.** Several processes of a service may run; each runs a
  relay, but only the one holding the service's advisory lock publishes (the others try
  again every poll), so one key's events reach Kafka in outbox order. The lock lives with
  the relay's own connection: a relay whose process or connection dies loses it at once,
  and another takes over within one poll interval.
- **The claim starts past what it published.** A claim from the oldest unpublished id read
  the entries of published rows its index still kept (7,050 a claim in routing's outbox at
  100,000 referrals, one claim ~100 s, when a partial index of unpublished rows drove it). The
  leader claims above a *cursor* (the highest id it dealt with) plus the ids below it it has
  not seen (*gaps*: rows not yet committed, rolled back, or parked or held back when it
  passed), so a claim reads, by the primary key, only rows still to publish. It cannot simply
  skip lower ids: a transaction that took a lower id may commit after higher ones were published.
  Every `probe_s` it reads the id sequence's position and then takes a transaction id; once
  no transaction older than that id runs (the claim's snapshot `xmin`), every outbox id up to
  that position is final (the id column's default takes the transaction id before the
  sequence: `011_outbox_relay_floor.sql`). The *floor*, below which every id is final and
  published, parked or waiting behind a parked row, is kept in `outbox_relay` with each mark:
  a new leader starts from it and skips nothing. Releasing or discarding a parked row lowers
  it in the same statement and counts the release; the leader sees the count in its next
  claim (same snapshot) and claims from the lowered floor before publishing anything.
  Too many gaps (a new leader's first claims, a floor held back by a long transaction) and
  the leader claims from the floor, walking what lies between, until it catches up. The
  parked-key check asks `discarded_at`, so only the small index of parked rows answers it
  (012_outbox_parked_keys_by_discard.sql). The relay's connection plans its statements once,
  as walks of an index in its order (`RELAY_SETTINGS`), whatever the statistics say. The
  backlog (/health, /metrics) reads the same way: above the floor, or from the oldest parked
  row while one waits.
- **A commit wakes its own process's relay; the leader polls for the rest, no NOTIFY.** A
  transaction that wrote outbox rows wakes the relays of its process once it has committed
  (`_CommitWatch`: never before, so a woken relay finds the rows), and the relay looks at once.
  A wake that comes while the relay publishes is kept for its next look (the event is cleared
  before a claim, not when it goes to sleep). Rows written by another process (another
  instance of the service, an operator's release) wake nobody here: the leader finds them by
  polling every `idle_poll_s` (`TALENTLOOP_OUTBOX_IDLE_POLL_S`, 0.5 s) when the last round
  found fewer than a batch (at once otherwise); the query is one probe of the primary key above
  the cursor. A `pg_notify` at commit would wake every process, but PostgreSQL serializes every
  notifying commit of the cluster on one lock held through the WAL flush: under load, commits
  that wrote to an outbox went one at a time (measured: 62 % of the database's active samples
  waiting to commit in the gateway's load test).
- **The mark is heap-only.** No index of the outbox names `published_at`
  (013_outbox_heap_only_mark.sql dropped the partial index of unpublished rows once the claim
  no longer needed it), and the table keeps half of each page free (fillfactor 50), so marking
  a row published puts its new version beside the old one with no index entry: about 90 bytes
  of WAL a row (the whole row again, 1.5 KB, before the fillfactor; about 240 bytes while the
  partial index made every mark write new entries in the other indexes), and vacuum has no
  index entries of marked rows to clean. Keeping the unpublished ids in a table of their own
  instead (`009_outbox_pending.sql`, undone by `010_outbox_unpublished_index.sql`) had made
  every claim from the oldest unpublished id walk that table's dead entries.
- **Poison is parked, not retried forever.** A row Kafka refuses for what it is (too large,
  an invalid topic) is parked with the reason; later rows of the same key wait behind it,
  rows of other keys flow. Operators list, release (`retry`) or `discard` parked rows
  (`talentloop outbox …`, the console). A broker or database fault parks nothing: the
  rows stay unpublished and the relay tries again.

Each row keeps the W3C trace context (`traceparent`, `tracestate`) of the span that wrote
it (an HTTP request, a consumed event); the relay sends it as Kafka headers, so the trace
continues in whichever consumer reads the event (`plumbing/tracing.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts import Envelope
from contracts.events import Payload
from contracts.registry import Encoded, encode
from plumbing import metrics, tracing
from plumbing.faults import describe, is_infrastructure
from plumbing.kafka import CONTENT_TYPE_HEADER
from plumbing.logging import get_logger

log = get_logger(__name__)

MAX_PROBES = 64  # probes kept waiting for their transactions (a long one holds them all)
MAX_GAPS = 5_000  # unseen ids below the cursor probed one by one; beyond, claim from the floor
STORE_FLOOR_S = 1.0  # an idle leader stores a raised floor at most this often

# A row the relay may publish: unpublished, not parked, no parked row of its key before it.
# A parked row is unpublished until discarded (012_outbox_parked_keys_by_discard.sql): asked
# by `discarded_at`, the check can only use outbox_parked_keys, the small index of parked rows.
_CLAIMABLE = """
SELECT id, topic, key, value, traceparent, tracestate FROM outbox o
WHERE published_at IS NULL AND parked_at IS NULL AND {where}
  AND NOT EXISTS (
    SELECT 1 FROM outbox p
    WHERE p.key = o.key AND p.id < o.id AND p.parked_at IS NOT NULL AND p.discarded_at IS NULL
  )
"""

# Claimable rows in id order above the relay's cursor ($2) and among the ids below it it has
# not seen yet ($3), with the floor's state and the oldest running transaction id as this
# statement's snapshot saw them (one snapshot for all: OutboxRelay).
CLAIM = f"""
WITH state AS MATERIALIZED (
    SELECT floor, releases, pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin FROM outbox_relay
)
SELECT s.floor, s.releases, s.xmin, c.* FROM state s LEFT JOIN LATERAL (
    SELECT * FROM (
        ({_CLAIMABLE.format(where="id > $2")} ORDER BY id LIMIT $1)
        UNION ALL
        ({_CLAIMABLE.format(where="id = ANY($3::bigint[])")})
    ) u ORDER BY id LIMIT $1
) c ON true
ORDER BY c.id
"""

# The sequence's position, then a transaction id: every outbox id up to `last` belongs to a
# transaction whose id is older than `xid` (011_outbox_relay_floor.sql), so all of them are
# final once no transaction older than `xid` runs. The CASE reads the sequence first. A
# transaction that wrote nothing else commits without waiting for the WAL flush.
PROBE = """
WITH s AS MATERIALIZED (SELECT coalesce(pg_sequence_last_value('outbox_id_seq'), 0) AS last)
SELECT last, CASE WHEN last >= 0 THEN pg_current_xact_id()::text::bigint END AS xid FROM s
"""

# The leader raises the floor only if no release came in since it read the state.
RAISE_FLOOR = "UPDATE outbox_relay SET floor = $1 WHERE releases = $2 AND floor < $1"

# Rows published: heap-only (013). With the floor raised in the same statement (its own
# transaction, as the mark and the floor were one): the rows are marked first, then the relay's
# state (the count waits for the mark), the order a release locks them in.
MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
MARK_RAISING_FLOOR = f"""
WITH marked AS ({MARK} RETURNING 1)
UPDATE outbox_relay SET floor = $2 WHERE releases = $3 AND floor < $2 AND (SELECT count(*) FROM marked) >= 0
"""

# The relay's connection plans its statements once, for any parameters, and only as walks of
# an index in its order. No index leaves published rows out (013_outbox_heap_only_mark.sql), so
# the claim's `id > cursor` walks the primary key, and its cost must not depend on the
# statistics: for an unknown cursor the planner guesses a third of the table, prices that above
# planning afresh, and planned the claim again at every call (0.6-0.9 ms of the backend's CPU a
# claim, three times the claim itself). Planned once on a small table (a service's first claim)
# it took a bitmap scan and sorted every row above the cursor before the LIMIT (in the pipeline
# benchmark each row was read about five times); a hash or merge anti join would lose the order
# the same way; and once old rows are pruned and new ones fill their pages, a third of the table
# read out of order would price above a sequential scan of all of it.
RELAY_SETTINGS = (
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET enable_bitmapscan = off;"
    " SET enable_hashjoin = off; SET enable_mergejoin = off"
)


async def enqueue(conn: asyncpg.Connection, envelope: Envelope, payload_type: type[Payload]) -> None:
    await enqueue_many(conn, [(envelope, payload_type)])


# $5, $6: the trace context, the same for every row.
INSERT = """
INSERT INTO outbox (event_id, topic, key, value, traceparent, tracestate)
SELECT *, $5::text, $6::text FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])
"""
# The same, each row with a trace context of its own (the events of several requests).
INSERT_TRACED = """
INSERT INTO outbox (event_id, topic, key, value, traceparent, tracestate)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::text[])
"""

Trace = tuple[str | None, str | None]  # (traceparent, tracestate), as `tracing.outbox_context` gives them


async def enqueue_many(conn: asyncpg.Connection, items: list[tuple[Envelope, type[Payload]]]) -> None:
    """Several events in one round trip (bulk imports write thousands per transaction).

    They carry the trace context current here (none outside a span).
    """
    traceparent, tracestate = tracing.outbox_context()
    await _insert(
        conn,
        INSERT,
        [env.id for env, _ in items],
        [model.topic.name for _, model in items],
        [env.subject for env, _ in items],
        [env.to_bytes() for env, _ in items],
        traceparent,
        tracestate,
    )


async def enqueue_encoded(
    conn: asyncpg.Connection, items: Sequence[Encoded], traces: Sequence[Trace | None] | None = None
) -> None:
    """`enqueue_many` for events already written (`contracts.registry.encode`): what
    `Context.emit_many` uses. `traces`: each row's trace context where it is not the current
    one (None), so a group commit writes its requests' events in one statement."""
    traceparent, tracestate = tracing.outbox_context()
    columns = (
        [e.id for e in items],
        [e.payload.topic.name for e in items],
        [e.subject for e in items],
        [e.value for e in items],
    )
    if traces is None:
        await _insert(conn, INSERT, *columns, traceparent, tracestate)
        return
    each = [(traceparent, tracestate) if t is None else t for t in traces]
    await _insert(conn, INSERT_TRACED, *columns, [t[0] for t in each], [t[1] for t in each])


async def _insert(conn: asyncpg.Connection, statement: str, *columns: object) -> None:
    """Write rows, and wake this process's relays once they are committed."""
    if conn.is_in_transaction():
        _CommitWatch.watch(conn)
        await conn.execute(statement, *columns)
    else:  # the statement is its own transaction: committed when it returns
        await conn.execute(statement, *columns)
        _wake_relays()


# The relays of this process (one per service; a test may run several): a commit that wrote
# outbox rows wakes them all, a relay of another schema finds nothing and sleeps again.
_relays: weakref.WeakSet[OutboxRelay] = weakref.WeakSet()


def _wake_relays() -> None:
    for relay in _relays:
        relay.wake()


class _CommitWatch:
    """Wakes the relays when the transaction that wrote outbox rows on a connection ends.

    asyncpg has no commit hook; a query logger (public since asyncpg 0.29) is called soon after
    each statement completes, so the one that sees a top-level COMMIT runs after PostgreSQL
    answered it, when the rows are visible to the relay's next claim. The logger is on the
    connection only from the first outbox row of a transaction to its end (each statement in
    between costs a few microseconds more). A rollback wakes nobody; a transaction that ends
    without a statement through asyncpg's execute (the connection lost) leaves its rows, if
    any, to the poll."""

    _watched: weakref.WeakKeyDictionary[asyncpg.Connection, _CommitWatch] = weakref.WeakKeyDictionary()

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @classmethod
    def watch(cls, conn: asyncpg.Connection) -> None:
        # A pool's proxy is detached when released, maybe before the logger is called: the
        # logger is put on (and taken off) the connection behind it.
        real = getattr(conn, "_con", None) or conn
        if real not in cls._watched:
            watch = cls._watched[real] = cls(real)
            real.add_query_logger(watch)

    def __call__(self, record: asyncpg.connection.LoggedQuery) -> None:
        verb = record.query.strip().rstrip(";").upper()
        if verb not in _ENDS:
            return
        self._conn.remove_query_logger(self)
        self._watched.pop(self._conn, None)
        if record.exception is None and verb in _COMMITS:
            _wake_relays()


_COMMITS = {"COMMIT", "END"}
_ENDS = {*_COMMITS, "ROLLBACK", "ABORT"}  # not `ROLLBACK TO <savepoint>`: the transaction goes on


async def emit(
    conn: asyncpg.Connection,
    payload: Payload,
    *,
    source: str,
    correlation_id: str,
    causation_id: str | None = None,
    partner_id: str | None = None,
    employer_id: str | None = None,
) -> Envelope:
    """Wrap `payload` in a new envelope and put it in the outbox of this transaction."""
    encoded = encode(
        payload,
        source=source,
        correlation_id=correlation_id,
        causation_id=causation_id,
        partner_id=partner_id,
        employer_id=employer_id,
    )
    await enqueue_encoded(conn, [encoded])
    return encoded.envelope()


# Every unpublished row is above the relay's floor, or parked, or waits behind a parked row of
# its key (011_outbox_relay_floor.sql); parked rows are found by their own small index (012).
# So the rows to count lie above the floor or from the oldest parked row on: one range of the
# primary key from there, read in one snapshot with the floor (stored with every mark, lowered
# with every release). No index leaves published rows out (013), and `count(*) WHERE
# published_at IS NULL` would read the whole table.
_BACKLOG = """
SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age,
       count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked
FROM outbox
WHERE published_at IS NULL AND id > (
    SELECT least(r.floor, (SELECT min(id) - 1 FROM outbox WHERE parked_at IS NOT NULL AND discarded_at IS NULL))
    FROM outbox_relay r
)
"""


async def backlog(pool: asyncpg.Pool) -> int:
    """Rows waiting to be published, parked ones included."""
    return (await backlog_and_age(pool))[0]


async def backlog_and_age(pool: asyncpg.Pool) -> tuple[int, float, int]:
    """Unpublished rows, the age in seconds of the oldest of them (0 if none), parked rows.

    Reads the rows above the relay's floor and from the oldest parked row on, not the whole
    outbox (`_BACKLOG`): about what the relay has yet to publish, or everything written since
    the oldest parked row while one waits for an operator."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        # The floor is known only when the statement runs: planned for any floor, the range
        # must still be read by the primary key, whatever the statistics say.
        await conn.execute("SET LOCAL enable_seqscan = off")
        row = await conn.fetchrow(_BACKLOG)
    return row["n"], max(0.0, row["age"]), row["parked"]


@dataclass(frozen=True)
class ParkedRow:
    id: int
    event_id: uuid.UUID
    topic: str
    key: str
    size: int
    parked_at: datetime
    reason: str
    waiting_behind: int  # later rows of the same key held back by this one


# Parked rows by their own index; the rows waiting behind them are the unpublished rows of their
# keys after them, read in one range of the primary key from the oldest (no index leaves
# published rows out, 013).
_PARKED = """
WITH p AS MATERIALIZED (
    SELECT id, event_id, topic, key, octet_length(value) AS size, parked_at, park_reason FROM outbox
    WHERE parked_at IS NOT NULL AND discarded_at IS NULL ORDER BY id LIMIT $1
), w AS MATERIALIZED (
    SELECT id, key FROM outbox
    WHERE id > (SELECT min(id) FROM p) AND published_at IS NULL AND key = ANY(ARRAY(SELECT key FROM p))
)
SELECT p.*, (SELECT count(*) FROM w WHERE w.key = p.key AND w.id > p.id) AS waiting FROM p ORDER BY p.id
"""


async def parked(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 100) -> list[ParkedRow]:
    """Parked rows, oldest first, with how many rows of their key wait behind them (reads
    everything written since the oldest of them)."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as pooled:
            return await parked(pooled, limit)
    async with conn.transaction():  # a savepoint in the caller's transaction (operations)
        await conn.execute("SET LOCAL enable_seqscan = off")  # as in backlog_and_age
        rows = await conn.fetch(_PARKED, limit)
    return [
        ParkedRow(
            r["id"], r["event_id"], r["topic"], r["key"], r["size"], r["parked_at"], r["park_reason"], r["waiting"]
        )
        for r in rows
    ]


async def release(conn: asyncpg.Connection | asyncpg.Pool, ids: list[int]) -> int:
    """Let the relay try parked rows again (after the cause was fixed, e.g. a topic's limit
    raised). Returns how many were released."""
    return await conn.fetchval(_RELEASING.format(change="parked_at = NULL, park_reason = NULL"), ids)


async def discard(conn: asyncpg.Connection | asyncpg.Pool, ids: list[int], by: str) -> int:
    """Give up on parked rows: never published, kept for the record, no longer blocking
    their key. Returns how many were discarded."""
    return await conn.fetchval(
        _RELEASING.format(
            change="published_at = now(), discarded_at = now(), park_reason = park_reason || ' (discarded by ' || $2 || ')'"
        ),
        ids,
        by,
    )


# Release or discard parked rows and, in the same statement, lower the relay's floor below
# them and count the release: the rows behind them (below the floor, in the relay's eyes
# settled) become claimable, and the leader must claim from there again before it publishes
# any of them, or a later row of the key could go out before the released one. The rows are
# locked first, then the relay's state, as in the leader's mark.
_RELEASING = """
WITH changed AS (
    UPDATE outbox SET {change}
    WHERE id = ANY($1::bigint[]) AND parked_at IS NOT NULL AND published_at IS NULL
    RETURNING id
), relay AS (
    UPDATE outbox_relay SET floor = least(floor, (SELECT min(id) FROM changed) - 1), releases = releases + 1
    WHERE EXISTS (SELECT 1 FROM changed)
)
SELECT count(*) FROM changed
"""


@dataclass
class _View:
    """What the leader knows of its outbox: every id up to `floor` is settled (011); ids up to
    `cursor` it has claimed and dealt with, except `gaps` (not yet committed, rolled back,
    parked or waiting behind a parked row before the relay saw them)."""

    floor: int
    releases: int
    cursor: int
    gaps: set[int]
    top: int  # the highest id it dealt with
    probes: list[tuple[int, int]]  # (sequence position, transaction id) not yet known final
    probed_at: float = 0.0
    stored_floor: int = 0
    stored_at: float = 0.0


class OutboxRelay:
    """Publishes one service's outbox while it holds the service's relay lock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        batch: int = 500,
        poll_s: float = 0.5,
        service: str | None = None,
        idle_poll_s: float = 0.5,
        probe_s: float = 0.2,
    ) -> None:
        self._pool = pool
        self._service = service  # the metrics label; by default the schema the pool uses
        self._producer = producer
        self._batch = batch
        self._poll_s = poll_s  # a follower's tries for the lock
        self._idle_poll_s = idle_poll_s  # the leader's looks for new rows
        self._wake = asyncio.Event()
        self._probe_s = probe_s  # how often the leader asks which ids may still be in flight
        self._view: _View | None = None
        self.published = 0
        self.parked = 0
        self.leading = False

    async def publish_once(self, conn: asyncpg.Connection | None = None) -> int:
        """Publish one batch of rows through `conn` (the leader's own connection; a pooled
        one if None); returns how many rows it dealt with (published or parked). Raises on a
        broker or database fault: nothing is marked then but what Kafka acknowledged."""
        if conn is None:
            async with self._pool.acquire() as pooled:
                await pooled.execute(RELAY_SETTINGS)  # the pool resets them on release
                return await self.publish_once(pooled)
        try:
            return await self._publish_once(conn)
        except BaseException:
            self._view = None  # a fault or a cancel mid-batch: start again from the stored floor
            raise

    async def _publish_once(self, conn: asyncpg.Connection) -> int:
        view = self._view
        if view is None:
            state = await conn.fetchrow("SELECT floor, releases FROM outbox_relay")
            floor = state["floor"]
            view = self._view = _View(floor, state["releases"], floor, set(), floor, [], 0.0, floor)
        now = time.monotonic()
        # Only ids it has dealt with need the floor; a caught-up leader (floor at the highest
        # id it saw) asks nothing, so an idle outbox costs no transaction ids and writes no WAL.
        # (Not the cursor: claiming from the floor, it sits at the floor.)
        if view.top > view.floor and now - view.probed_at >= self._probe_s and len(view.probes) < MAX_PROBES:
            probe = await conn.fetchrow(PROBE)
            view.probes.append((probe["last"], probe["xid"]))
            view.probed_at = now
        while True:
            found = await conn.fetch(CLAIM, self._batch, view.cursor, list(view.gaps))
            state = found[0]
            if state["releases"] == view.releases:
                break
            # A parked row was released or discarded since the view was made: the rows behind
            # it may be below the cursor. Claim again from the lowered floor, before publishing.
            view.floor = view.cursor = view.stored_floor = state["floor"]
            view.releases = state["releases"]
            view.gaps.clear()
        rows = [r for r in found if r["id"] is not None]
        # Every id up to a probe's sequence position is final once its transaction id is
        # older than the oldest one running at this claim's snapshot: the claim saw them all.
        final = [last for last, xid in view.probes if xid < state["xmin"]]
        view.probes = [(last, xid) for last, xid in view.probes if xid >= state["xmin"]]
        floor = view.floor
        if final:
            # Up to there every claimable row is in `rows`, unless the batch was full.
            floor = max(floor, min(max(final), rows[-1]["id"]) if len(rows) >= self._batch else max(final))
        if not rows:
            await self._settle(conn, view, rows, floor, store=False)
            return 0
        sent: list[tuple[asyncpg.Record, asyncio.Future[object]]] = []
        refused: dict[int, str] = {}
        blocked_keys: set[str] = set()
        for r in rows:
            if r["key"] in blocked_keys:
                continue  # behind a row of its key parked in this very batch
            try:
                future = await self._producer.send(
                    r["topic"],
                    r["value"],
                    key=r["key"].encode(),
                    headers=[CONTENT_TYPE_HEADER, *tracing.kafka_headers(r["traceparent"], r["tracestate"])],
                )
            except Exception as exc:
                if is_infrastructure(exc):
                    raise
                refused[r["id"]] = describe(exc)
                blocked_keys.add(r["key"])
                continue
            sent.append((r, future))
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        published: list[int] = []
        fault: BaseException | None = None
        for (r, _), result in zip(sent, results, strict=True):
            if not isinstance(result, BaseException):
                published.append(r["id"])
            elif is_infrastructure(result):
                fault = fault or result
            else:
                refused[r["id"]] = describe(result)
        if refused or fault is not None:
            async with conn.transaction():
                if published:
                    await conn.execute(MARK, published)
                for row_id, reason in refused.items():
                    await conn.execute(
                        "UPDATE outbox SET parked_at = now(), park_reason = $2 WHERE id = $1", row_id, reason
                    )
                if fault is None:
                    await self._settle(conn, view, rows, floor, store=True)
        else:
            # The common round: the mark and the floor it raises in one statement, which is its
            # own transaction (one round trip where BEGIN, the mark, the floor and COMMIT were four).
            raised = self._advance(view, rows, floor, store=True)
            if raised is None:
                await conn.execute(MARK, published)
            else:
                await conn.execute(MARK_RAISING_FLOOR, published, raised, view.releases)
                self._stored(view, raised)
        self._count(rows, published, refused)
        if fault is not None:
            raise fault
        return len(published) + len(refused)

    async def _settle(
        self, conn: asyncpg.Connection, view: _View, rows: list[asyncpg.Record], floor: int, *, store: bool
    ) -> None:
        """After a claim whose rows were all dealt with: move the cursor past them, remember
        the ids below it not seen, raise the floor (stored with the mark, or now and then)."""
        raised = self._advance(view, rows, floor, store=store)
        if raised is not None:
            await conn.execute(RAISE_FLOOR, raised, view.releases)
            self._stored(view, raised)

    @staticmethod
    def _stored(view: _View, floor: int) -> None:
        view.stored_floor = floor
        view.stored_at = time.monotonic()

    @staticmethod
    def _advance(view: _View, rows: list[asyncpg.Record], floor: int, *, store: bool) -> int | None:
        """`_settle`'s view moved on; returns the floor to store now, if any (the caller stores
        it in the same transaction as the mark, and then notes it with `_stored`)."""
        top = max(view.cursor, rows[-1]["id"]) if rows else view.cursor
        view.top = max(view.top, top)
        seen = [r["id"] for r in rows]
        unseen = top - view.cursor - sum(1 for i in seen if i > view.cursor)  # new gaps
        view.floor = floor
        if floor >= top or len(view.gaps) + unseen > MAX_GAPS:
            # Nothing unseen below the floor; or too many ids unseen below the cursor (a new
            # leader's first claims over rows its predecessor published, a key parked for long,
            # a floor held back by a long transaction): claim from the floor, walking what lies
            # between, until it catches up.
            view.cursor = floor
            view.gaps.clear()
        else:
            view.gaps.update(range(view.cursor + 1, top + 1))
            view.gaps.difference_update(seen)
            view.cursor = top
            if floor > min(view.gaps, default=floor):
                view.gaps = {g for g in view.gaps if g > floor}
        if floor > view.stored_floor and (store or time.monotonic() - view.stored_at >= STORE_FLOOR_S):
            return floor
        return None

    def _count(self, rows: list[asyncpg.Record], published: list[int], refused: dict[int, str]) -> None:
        self.published += len(published)
        self.parked += len(refused)
        done = set(published)
        topics = Counter(r["topic"] for r in rows if r["id"] in done)
        for topic, n in topics.items():
            metrics.published(self._service or "unknown", topic, n)
        for r in rows:
            if r["id"] in refused:
                log.error("outbox.parked", outbox_id=r["id"], topic=r["topic"], reason=refused[r["id"]][:500])

    async def run(self) -> None:
        """Lead when the lock is free, publish while leading; a fault is waited out."""
        _relays.add(self)  # woken by this process's commits (`_CommitWatch`)
        try:
            await self._run()
        finally:
            _relays.discard(self)

    async def _run(self) -> None:
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or database away: rows stay unpublished
                log.warning("outbox.publish_failed", error=describe(exc, 500))
                renew = getattr(self._producer, "renew_if_needed", None)  # plumbing.kafka.RenewingProducer
                if renew is not None:
                    with contextlib.suppress(Exception):  # the broker still away: renewed on a later fault
                        await renew(exc)
                await asyncio.sleep(1.0)
            finally:
                self.leading = False

    async def _lead(self) -> None:
        async with self._pool.acquire() as conn:
            schema = await conn.fetchval("SELECT current_schema()")
            self._service = self._service or schema
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"outbox relay {schema}"):
                # Another process of this service publishes (and polls for this one's rows):
                # a commit here is no reason to try again.
                await asyncio.sleep(self._poll_s)
            self.leading = True
            await conn.execute(RELAY_SETTINGS)  # the pool resets them on release
            self._view = None  # another leader may have published meanwhile: start from the stored floor
            try:
                while True:
                    # Cleared before the claim, not when it goes to sleep: a commit that wakes
                    # it from here on may not be in this claim's snapshot, and its wake, kept,
                    # makes the next look come at once.
                    self._wake.clear()
                    if await self.publish_once(conn) >= self._batch:
                        continue
                    await self._sleep(self._idle_poll_s)
            finally:
                if not conn.is_closed():
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"outbox relay {schema}")

    async def _sleep(self, seconds: float) -> None:
        """Until woken or `seconds` passed; a wake that came before it was called ends it at once."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def wake(self) -> None:
        """Look for rows now: this process committed some (`_CommitWatch`), or a test says so."""
        self._wake.set()
