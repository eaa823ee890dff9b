"""The bulk entry path: a partner's CSV, streamed in batches with bounded memory.

The upload is spooled to a temporary file by the HTTP server (never held whole in
memory); rows are read one at a time and submitted `batch` at a time, each batch in its
own transaction with its counts and error rows. Good rows are accepted even when others
fail; every bad row gets one error line per problem (row number, column, code). Row
numbers are spreadsheet rows: the header is row 1, the first record row 2.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import hashlib
import io
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import asyncpg

from contracts import vocabulary
from plumbing.context import Context, Deps
from plumbing.logging import get_logger
from services.intake import application, domain, mapping, store, training
from services.intake.application import Accepted

log = get_logger(__name__)

BATCH = 500
# A file larger than this is mapped and validated in the worker process (`WORKER`), its
# batches in the thread until the worker has started: a smaller one (about 3,000 registrar
# rows) is over before a worker would pay for its start.
WORKER_FROM_BYTES = 1 << 20
MAX_ROW_BYTES = 1 << 20  # the service passes TALENTLOOP_MAX_JSON_BODY_BYTES: a row is one referral
# Distinct unknown skills counted per import: past twice this, the least frequent are
# dropped, so a file of a million distinct misspellings cannot grow the counter without
# bound (the 50 most frequent, which the summary shows, are not the ones dropped).
UNKNOWN_SKILLS_KEPT = 10_000
ERROR_COLUMNS = ("row", "column", "code", "message", "existing_referral_id")


class ImportRefused(Exception):
    """The file as a whole cannot be imported (wrong columns, not CSV, not UTF-8)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Progress:
    import_id: str
    bytes_total: int
    bytes_read: int = 0
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    unknown_skills: Counter[str] = field(default_factory=Counter)

    def count_unknown(self, skills: list[str]) -> None:
        self.unknown_skills.update(s.casefold() for s in skills)
        if len(self.unknown_skills) > 2 * UNKNOWN_SKILLS_KEPT:
            self.unknown_skills = Counter(dict(self.unknown_skills.most_common(UNKNOWN_SKILLS_KEPT)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "bytes_read": self.bytes_read,
            "bytes_total": self.bytes_total,
            "rows": self.rows,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


def sha256_of(file: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    file.seek(0)
    while chunk := file.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    return digest.hexdigest(), size


def check_header(file: IO[bytes], adapter: mapping.Adapter, max_row_bytes: int = MAX_ROW_BYTES) -> None:
    """Refuse the whole file up front when it is not CSV or lacks the adapter's columns."""
    file.seek(0)
    try:
        for _ in _rows(file, adapter, max_row_bytes):
            break
    finally:
        file.seek(0)


def _rows(
    file: IO[bytes], adapter: mapping.Adapter, max_row_bytes: int = MAX_ROW_BYTES
) -> Iterator[tuple[int, dict[str, str]]]:
    lines = _Lines(file, max_row_bytes)
    # The csv module's own bound (131,072 characters a field, process-wide) would refuse a
    # row that the row bound allows; no field is longer than its row.
    if csv.field_size_limit() < max_row_bytes:
        csv.field_size_limit(max_row_bytes)
    reader = csv.reader(lines, delimiter=adapter.csv_delimiter)
    try:
        header = next(reader, [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportRefused("not-csv", f"the file is not UTF-8 CSV: {exc}") from None
    except _RowTooLong:
        raise ImportRefused("row-too-long", f"the header is longer than {max_row_bytes} bytes") from None
    missing = sorted(adapter.columns() - set(header))
    if missing:
        raise ImportRefused("missing-columns", f"the header lacks the adapter's columns: {', '.join(missing)}")
    width = len(header)
    number = 1
    try:
        while True:
            # Each record (blank lines included, which are skipped) starts its own count,
            # so a million blank lines are not one over-long row.
            lines.next_row()
            cells = next(reader, None)
            if cells is None:
                return
            if not cells:
                continue
            number += 1
            row = dict(zip(header, cells, strict=False))
            if len(cells) > width:  # more cells than the header has names
                yield number, {**row, "\0extra": "1"}
                continue
            yield number, row
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportRefused("not-csv", f"row {number + 1} cannot be read as UTF-8 CSV: {exc}") from None
    except _RowTooLong:
        raise ImportRefused(
            "row-too-long",
            f"row {number + 1} is longer than {max_row_bytes} bytes (a line without its end, or an unclosed quote?)",
        ) from None


class _RowTooLong(Exception):
    pass


class _Lines:
    """The file's lines, decoded one at a time (so a bad byte fails its own row, not the rows
    before it); no row, however many lines its quoted cells span, longer than the bound.

    `readline` is given the bytes the row has left, so a line without its end is never
    read further than that into memory."""

    def __init__(self, file: IO[bytes], max_row_bytes: int) -> None:
        self.file = file
        self.max = max_row_bytes
        self.in_row = 0
        self.first = True

    def next_row(self) -> None:
        self.in_row = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.file.readline(self.max - self.in_row + 1)
        if not raw:
            raise StopIteration
        self.in_row += len(raw)
        if self.in_row > self.max:
            raise _RowTooLong
        if self.first:
            self.first = False
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
        return raw.decode("utf-8")


def _translate(adapter: mapping.Adapter, batch: list[tuple[int, dict[str, str]]], now: datetime | None = None) -> tuple[
    list[tuple[int, domain.ReferralIn]], list[tuple[int, mapping.FieldError]], int
]:
    good, bad = [], []
    for number, row in batch:
        if row.pop("\0extra", None):
            bad.append((number, mapping.FieldError(field="", code="too-many-cells", message="more cells than columns")))
            continue
        # Cells decoded as UTF-8 (strictly: no lone surrogate) and free of control characters
        # make a referral the contract check need not look at character by character again.
        storable = domain.CONTROL_CHARACTER.search("".join(row.values())) is None
        referral, errors = mapping.record_from(adapter, row, now=now, storable=storable)
        if referral is None:
            bad.extend((number, e) for e in errors)
        else:
            good.append((number, referral))
    return good, bad, len(batch)


Translated = tuple[list[tuple[int, Any]], list[tuple[int, mapping.FieldError]], int]


# --- mapping and validating in a worker process ---------------------------------------------
#
# The mapping and validation of a batch (about half of intake's CPU a row) hold the GIL, so
# in a thread they take turns with the event loop that stores the batch before. In a process
# of their own they run on the other core meanwhile. What comes back must cost the event loop
# far less than the work did: a validated record pickled (pydantic models) costs about as
# much as making it, its JSON validated again (`_unpacked`) about a third of it. Validation
# gives the same model from its own JSON (it normalizes to values it accepts as they are:
# tests/unit/test_csv_worker.py), and a record whose JSON it would refuse is mapped again in
# the event loop's process, so the answer never depends on which process mapped a row.


def _translate_packed(adapter: mapping.Adapter, batch: list[tuple[int, dict[str, str]]], now: datetime | None) -> tuple[
    list[tuple[int, bytes | None]], list[tuple[int, mapping.FieldError]], int
]:
    """`_translate` in the worker process: each good record as its JSON (None: not writable)."""
    good, bad, size = _translate(adapter, batch, now)
    packed: list[tuple[int, bytes | None]] = []
    for number, record in good:
        try:
            packed.append((number, type(record).__pydantic_serializer__.to_json(record)))
        except ValueError:  # a lone surrogate, say: the event loop's process maps the row itself
            packed.append((number, None))
    return packed, bad, size


def _unpacked(
    adapter: mapping.Adapter,
    batch: list[tuple[int, dict[str, str]]],
    packed: tuple[list[tuple[int, bytes | None]], list[tuple[int, mapping.FieldError]], int],
    now: datetime | None,
) -> Translated:
    """The worker's answer as `_translate`'s: each record validated again from its JSON."""
    written, bad, size = packed
    model = training.TrainingRecordIn if adapter.record == "training" else domain.ReferralIn
    context = {"phone_region": adapter.phone_region}
    good: list[tuple[int, Any]] = []
    again: list[int] = []
    for number, value in written:
        try:
            if value is None:
                raise ValueError(value)
            good.append((number, model.model_validate_json(value, context=context)))
        except ValueError:  # ValidationError too: never expected, but then the row decides here
            again.append(number)
    if again:
        rows = dict(batch)
        mapped, errors, _ = _translate(adapter, [(n, dict(rows[n])) for n in again], now)
        good = sorted(good + mapped, key=lambda g: g[0])
        bad = sorted(bad + errors, key=lambda b: b[0])
    return good, bad, size


class _Worker:
    """One process, started by the first large import and kept for the next ones, that maps
    and validates batches (`_translate_packed`). Until it has started, and should it die,
    batches are mapped in a thread as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[None] | None = None

    def start(self) -> Future[None]:
        with self._lock:
            if self._pool is None or self._started is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_end_with_parent
                )
                self._started = self._pool.submit(_started)
            return self._started

    def ready(self) -> ProcessPoolExecutor | None:
        """The worker's pool once its process has started, else None."""
        started = self._started
        if started is None or not started.done() or started.cancelled() or started.exception() is not None:
            return None
        return self._pool

    def broken(self, pool: ProcessPoolExecutor) -> None:
        """The process died: the next large import starts another."""
        with self._lock:
            if self._pool is pool:
                self._pool, self._started = None, None
        pool.shutdown(wait=False, cancel_futures=True)


def _end_with_parent() -> None:
    """In the worker: exit when the service's process has ended, however it ended (the
    worker's queue never says so: the worker holds both of its ends)."""
    parent = multiprocessing.parent_process()
    if parent is not None:

        def watch() -> None:
            multiprocessing.connection.wait([parent.sentinel])
            os._exit(0)

        threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _started() -> None:
    """Run first in the worker: its imports done and the vocabularies loaded, it is ready."""
    vocabulary.skills()
    vocabulary.occupations()


WORKER = _Worker()


async def _translated(
    adapter: mapping.Adapter, batch: list[tuple[int, dict[str, str]]], now: datetime, in_worker: bool
) -> Translated:
    pool = WORKER.ready() if in_worker else None
    if pool is not None:
        try:
            packed = await asyncio.wrap_future(pool.submit(_translate_packed, adapter, batch, now))
        except BrokenProcessPool:
            log.warning("import.worker_lost")
            WORKER.broken(pool)
        else:
            return _unpacked(adapter, batch, packed, now)
    return await asyncio.to_thread(_translate, adapter, batch, now)


async def run(
    pool: asyncpg.Pool,
    deps: Deps,
    adapter: mapping.Adapter,
    file: IO[bytes],
    progress: Progress,
    *,
    correlation_id: str,
    batch: int = BATCH,
    max_row_bytes: int = MAX_ROW_BYTES,
) -> AsyncIterator[Progress]:
    """Import the file; yields progress after every committed batch.

    Mapping and validation (CPU) of the next batch run while the database stores the current
    one: in a worker process for a file over `WORKER_FROM_BYTES` (on the other core) unless
    the setting `csv_worker` is off, else in a thread.
    """
    rows = _rows(file, adapter, max_row_bytes)
    in_worker = deps.settings.csv_worker and progress.bytes_total > WORKER_FROM_BYTES
    if in_worker:
        WORKER.start()
    broken: list[ImportRefused] = []  # a row that cannot be read ends the file after the rows before it

    def next_batch() -> asyncio.Future[tuple[list, list, int]] | None:
        chunk = []
        try:
            for _, row in zip(range(batch), rows, strict=False):
                chunk.append(row)
        except ImportRefused as exc:
            broken.append(exc)
        return asyncio.ensure_future(_translated(adapter, chunk, deps.clock(), in_worker)) if chunk else None

    upcoming = next_batch()
    while upcoming is not None:
        good, bad, size = await upcoming
        upcoming = next_batch()
        errors = [(n, e.field, e.code, e.message, None) for n, e in bad]
        async with pool.acquire() as conn, conn.transaction():
            results = await _submit(deps.bind(conn), adapter, good, correlation_id)
            accepted = duplicates = 0
            rejected = {n for n, _ in bad}
            for (number, _), result in zip(good, results, strict=True):
                if isinstance(result, Accepted):
                    accepted += 1
                    progress.count_unknown(result.unknown_skills)
                elif isinstance(result, application.TrainingReported):
                    # A row that adds nothing to what was reported (the same file again) is
                    # a duplicate: it published nothing.
                    if result.events:
                        accepted += 1
                    else:
                        duplicates += 1
                elif isinstance(result, application.TrainingProblem):
                    rejected.add(number)
                    errors.append((number, adapter.source_of(".".join(result.loc)), result.code, result.message, None))
                elif isinstance(result, mapping.FieldError):
                    rejected.add(number)
                    errors.append((number, result.field, result.code, result.message, None))
                else:
                    duplicates += 1
                    errors.append((number, "", result.code, result.message, result.existing_referral_id))
            await store.record_import_batch(
                conn, progress.import_id, size, accepted, duplicates, len(rejected), errors
            )
        progress.rows += size
        progress.accepted += accepted
        progress.duplicates += duplicates
        progress.rejected += len(rejected)
        progress.bytes_read = min(progress.bytes_total, _position(file))
        yield progress
        if broken and upcoming is None:
            break
    if broken:
        raise broken[0]


# What a row itself can make the database or the event refuse, whatever validation let
# through (pydantic's ValidationError and UnicodeEncodeError are ValueErrors; DataError is
# PostgreSQL's class 22: a NUL, a value out of range). Connection losses, deadlocks and
# other faults are not the row's: they still fail the batch, and the import.
ROW_FAULTS = (ValueError, asyncpg.DataError)


async def _submit(
    ctx: Context,
    adapter: mapping.Adapter,
    good: list[tuple[int, Any]],
    correlation_id: str,
) -> list[Any]:
    """Submit the rows (referrals, or a training adapter's enrollments) in one savepoint; if
    a row's fault fails it, halve the batch until the row is found, and report that row
    instead of losing its neighbours."""
    if not good:
        return []
    partner_id = adapter.partner_id
    try:
        async with ctx.conn.transaction():  # nested: a savepoint, undone alone
            if adapter.record == "training":
                return list(await application.report_training(
                    ctx, partner_id, [r for _, r in good], entry="csv", correlation_id=correlation_id))
            return list(
                await application.submit(ctx, partner_id, [r for _, r in good], entry="csv", correlation_id=correlation_id)
            )
    except ROW_FAULTS as exc:
        if len(good) == 1:
            log.warning("import.row_not_stored", row=good[0][0], error=type(exc).__name__)
            return [
                mapping.FieldError(field="", code="not-storable", message=f"cannot be stored ({type(exc).__name__})")
            ]
    half = len(good) // 2
    return [
        *await _submit(ctx, adapter, good[:half], correlation_id),
        *await _submit(ctx, adapter, good[half:], correlation_id),
    ]


def _position(file: IO[bytes]) -> int:
    try:
        return file.tell()
    except (OSError, ValueError):
        return 0


def error_report(rows: list[asyncpg.Record]) -> Iterator[str]:
    """The CSV error report, line by line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ERROR_COLUMNS)
    for r in rows:
        writer.writerow([r["row_number"], r["field"], r["code"], r["message"], r["referral_id"] or ""])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()

