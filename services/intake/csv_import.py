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
from typing import IO, Any

import asyncpg

from services.intake import domain, mapping, store
from services.intake.pipeline import Accepted, Intake

BATCH = 500
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


def check_header(file: IO[bytes], adapter: mapping.Adapter) -> None:
    """Refuse the whole file up front when it is not CSV or lacks the adapter's columns."""
    file.seek(0)
    try:
        for _ in _rows(file, adapter):
            break
    finally:
        file.seek(0)


def _rows(file: IO[bytes], adapter: mapping.Adapter) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(_lines(file), delimiter=adapter.csv_delimiter)
    try:
        header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportRefused("not-csv", f"the file is not UTF-8 CSV: {exc}") from None
    missing = sorted(adapter.columns() - set(header))
    if missing:
        raise ImportRefused("missing-columns", f"the header lacks the adapter's columns: {', '.join(missing)}")
    number = 1
    try:
        for row in reader:
            number += 1
            if None in row:  # more cells than the header has names
                row.pop(None)
                yield number, {**row, "\0extra": "1"}
                continue
            yield number, row
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportRefused("not-csv", f"row {number + 1} cannot be read as UTF-8 CSV: {exc}") from None


def _lines(file: IO[bytes]) -> Iterator[str]:
    """Decoded line by line, so a bad byte fails its own row and not the rows before it."""
    for i, raw in enumerate(file):
        yield (raw[3:] if i == 0 and raw.startswith(codecs.BOM_UTF8) else raw).decode("utf-8")


def _translate(adapter: mapping.Adapter, batch: list[tuple[int, dict[str, str]]]) -> tuple[
    list[tuple[int, domain.ReferralIn]], list[tuple[int, mapping.FieldError]], int
]:
    good, bad = [], []
    for number, row in batch:
        if row.pop("\0extra", None):
            bad.append((number, mapping.FieldError(field="", code="too-many-cells", message="more cells than columns")))
            continue
        referral, errors = mapping.referral_from(adapter, row)
        if referral is None:
            bad.extend((number, e) for e in errors)
        else:
            good.append((number, referral))
    return good, bad, len(batch)


async def run(
    pool: asyncpg.Pool,
    intake: Intake,
    adapter: mapping.Adapter,
    file: IO[bytes],
    progress: Progress,
    *,
    correlation_id: str,
    batch: int = BATCH,
) -> AsyncIterator[Progress]:
    """Import the file; yields progress after every committed batch.

    Mapping and validation (CPU) of the next batch run in a thread while the database
    stores the current one, so the two overlap instead of taking turns.
    """
    rows = _rows(file, adapter)
    broken: list[ImportRefused] = []  # a row that cannot be read ends the file after the rows before it

    def next_batch() -> asyncio.Future[tuple[list, list, int]] | None:
        chunk = []
        try:
            for _, row in zip(range(batch), rows, strict=False):
                chunk.append(row)
        except ImportRefused as exc:
            broken.append(exc)
        return asyncio.ensure_future(asyncio.to_thread(_translate, adapter, chunk)) if chunk else None

    upcoming = next_batch()
    while upcoming is not None:
        good, bad, size = await upcoming
        upcoming = next_batch()
        errors = [(n, e.field, e.code, e.message, None) for n, e in bad]
        async with pool.acquire() as conn, conn.transaction():
            results = await intake.submit(
                conn, adapter.partner_id, [r for _, r in good], entry="csv", correlation_id=correlation_id
            )
            accepted = duplicates = 0
            for (number, _), result in zip(good, results, strict=True):
                if isinstance(result, Accepted):
                    accepted += 1
                    progress.unknown_skills.update(s.casefold() for s in result.unknown_skills)
                else:
                    duplicates += 1
                    errors.append((number, "", result.code, result.message, result.existing_referral_id))
            rejected = len({n for n, _ in bad})
            await store.record_import_batch(conn, progress.import_id, size, accepted, duplicates, rejected, errors)
        progress.rows += size
        progress.accepted += accepted
        progress.duplicates += duplicates
        progress.rejected += rejected
        progress.bytes_read = min(progress.bytes_total, _position(file))
        yield progress
        if broken and upcoming is None:
            break
    if broken:
        raise broken[0]


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

