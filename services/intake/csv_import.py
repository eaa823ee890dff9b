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
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import asyncpg

from plumbing.context import Context, Deps
from plumbing.logging import get_logger
from services.intake import application, domain, mapping, store
from services.intake.application import Accepted

log = get_logger(__name__)

BATCH = 500
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

    Mapping and validation (CPU) of the next batch run in a thread while the database
    stores the current one, so the two overlap instead of taking turns.
    """
    rows = _rows(file, adapter, max_row_bytes)
    broken: list[ImportRefused] = []  # a row that cannot be read ends the file after the rows before it

    def next_batch() -> asyncio.Future[tuple[list, list, int]] | None:
        chunk = []
        try:
            for _, row in zip(range(batch), rows, strict=False):
                chunk.append(row)
        except ImportRefused as exc:
            broken.append(exc)
        return asyncio.ensure_future(asyncio.to_thread(_translate, adapter, chunk, deps.clock())) if chunk else None

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

