"""`talentloop publish --year 2026 --out DIR`: the annual open-data release (issue 16 item 5;
docs/transparency.md, "The annual release").

Reads the outcomes schema in one repeatable-read snapshot (the ledger position and every report's
inputs agree), computes the coalition funnel, the credential and program outcomes, the demand board and
hiring by employer with demographics (opened with the network's master key, as the outcomes
service's reports are) as a non-operator reads them (the release is public), and writes
`services.outcomes.reports.release.build`'s files into DIR. The same run stores the release in
the schema it read (`public_api.store_release`): the outcomes service serves, of the newest year
stored in its own, the last one, without a key (docs/transparency.md, "Public endpoints").

The projections are the ledger's state now, not at some earlier time. So a year whose ledger
already holds later events is published from a scratch schema replayed from the ledger's events
of the year and before (`services.outcomes.as_of`, dropped afterwards): the same files as a release
made when the year's last event was the ledger's last, erasures since then applied.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from plumbing.vault import Vault
from services.outcomes import as_of, store
from services.outcomes.public_api import Stored, store_release, stored_releases
from services.outcomes.reports import GoodJobPolicy, inputs
from services.outcomes.reports.across_years import Held
from services.outcomes.reports.release import Position, build, public_reports


class NotPublishable(Exception):
    """The ledger cannot give the year's release (the message says why)."""


def year_end(year: int) -> datetime:
    """The first instant after the calendar year (UTC)."""
    return datetime(year + 1, 1, 1, tzinfo=UTC)


async def position(conn: asyncpg.Connection, year: int) -> Position:
    """The ledger position of the year's release; refused when the ledger holds a later event."""
    end = year_end(year)
    later = await conn.fetchval("SELECT count(*) FROM ledger WHERE occurred_at >= $1", end)
    if later:
        raise NotPublishable(
            f"the ledger holds {later} event(s) that occurred after {year} ended; the projections"
            f" count them, so the release of {year} cannot be made from them"
        )
    digest, events, last = hashlib.sha256(), 0, None
    async for r in conn.cursor("SELECT event_id, occurred_at FROM ledger ORDER BY event_id", prefetch=5000):
        digest.update(str(r["event_id"]).encode() + b"\n")
        events += 1
        last = r["occurred_at"] if last is None else max(last, r["occurred_at"])
    return Position(events, last.astimezone(UTC).isoformat() if last else None, digest.hexdigest())


async def computed(
    conn: asyncpg.Connection,
    year: int,
    policy: GoodJobPolicy,
    min_employers: int,
    vault: Vault | None = None,
    earlier: list[Stored] | None = None,
) -> tuple[dict[str, bytes], Held]:
    """The release's files from the schema `conn` reads, in one snapshot, and what it computed for
    its program blocks (stored with it, not a file). `vault` opens consenting candidates'
    demographics for hiring by employer (without it, no hire is counted there); the release is
    suppressed against `earlier` (releases stored before: `stored_before`), and held unlisted to
    those made from this very ledger position (the same events: only an erasure since can have moved
    a figure of theirs)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        where = await position(conn, year)
        enrolled, hires = await store.pipeline_report_inputs(conn)
        programs = await inputs.credential_inputs(conn)
        demand = await inputs.demand_inputs(conn)
        hiring = await inputs.hiring_inputs(conn, vault, year)
        against = [
            await inputs.earlier_inputs(
                conn, e.year, e.release_sha256, e.named_programs, e.last_event_at, e.published, e.hiring, e.held, listed
            )
            for e, listed in held_against(earlier or [], year, where)
        ]
    reports = public_reports((enrolled, hires), programs, demand, policy, min_employers, hiring, against)
    return build(year, where, reports, min_employers), reports["held"]


def stored_before(earlier: list[Stored], year: int, where: Position) -> list[Stored]:
    """The stored releases this one is suppressed against: when the same year's release from this
    very ledger position is stored already, those stored before it (what it was suppressed against
    when it was made, so it comes out the same); else every one."""
    for i, e in enumerate(earlier):
        if e.year == year and e.event_ids_sha256 == where.event_ids_sha256:
            return earlier[:i]
    return earlier


def held_against(earlier: list[Stored], year: int, where: Position) -> list[tuple[Stored, bool]]:
    """The stored releases this one is held to, each with whether release.json lists it: those it is
    suppressed against (`stored_before`), listed, but those made from this very ledger position; and
    those, of any year, unlisted (the same events, so the same figures unless an erasure since moved
    one: holding to them changes nothing else, and listing them would make the same events give other
    bytes)."""
    here = where.event_ids_sha256
    listed = [(e, True) for e in stored_before(earlier, year, where) if e.event_ids_sha256 != here]
    return listed + [(e, False) for e in earlier if e.event_ids_sha256 == here]


async def has_later_events(conn: asyncpg.Connection, year: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM ledger WHERE occurred_at >= $1)", year_end(year)))


MANIFEST = "release.json"


def writable(out: Path) -> None:
    """Refuse a non-empty directory that holds no release."""
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise NotPublishable(f"{out} is not empty and holds no {MANIFEST}: choose an empty or new directory")


def write(out: Path, files: dict[str, bytes]) -> list[str]:
    """Write the files into `out`; a file of an earlier release there that this one no longer has is
    removed. A non-empty directory that holds no release is refused. Returns the files removed."""
    writable(out)
    before = json.loads((out / MANIFEST).read_text())["files"] if (out / MANIFEST).is_file() else {}
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    gone = sorted(set(before) - set(files))
    for path in gone:
        (out / path).unlink(missing_ok=True)
    return gone


async def past_release_files(
    database_url: str,
    schema: str,
    year: int,
    policy: GoodJobPolicy,
    min_employers: int,
    vault: Vault | None,
    earlier: list[Stored],
) -> tuple[dict[str, bytes], Held]:
    """`computed` of a year the ledger of `schema` has moved past: from a scratch schema
    (`{schema}_as_of`) replayed from the events that occurred by the year's end, then dropped."""
    scratch = f"{schema}_as_of"
    try:
        if not await as_of.replay_until(database_url, schema, scratch, year_end(year)):
            raise NotPublishable(f"the ledger holds no event that occurred by the end of {year}")
        conn = await asyncpg.connect(database_url, server_settings={"search_path": scratch})
        try:
            return await computed(conn, year, policy, min_employers, vault, earlier)
        finally:
            await conn.close()
    finally:
        await as_of.drop(database_url, scratch)


async def publish(
    database_url: str,
    schema: str,
    year: int,
    out: Path,
    policy: GoodJobPolicy,
    min_employers: int,
    serve_schema: str | None = None,
    vault: Vault | None = None,
    earlier_schema: str | None = None,
) -> tuple[dict[str, bytes], list[str]]:
    """Compute the release from `schema`, store it in `serve_schema` (by default `schema`: the
    outcomes service serves the last release of its own schema) and write it into `out`: (the
    files, those removed). Stored before written, so a release on disk is one the schema holds
    (storing the same release again stores nothing). The releases stored in `earlier_schema` (by
    default `serve_schema`) are those it is suppressed against: the same for a run on a rebuilt
    schema when it names the live one."""
    writable(out)
    serve_schema = serve_schema or schema
    conn = await asyncpg.connect(database_url, server_settings={"search_path": earlier_schema or serve_schema})
    try:
        earlier = await stored_releases(conn)
    finally:
        await conn.close()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        later = await has_later_events(conn, year)
        if not later:
            files, held = await computed(conn, year, policy, min_employers, vault, earlier)
    finally:
        await conn.close()
    if later:  # a past year: from the ledger replayed to the year's end
        files, held = await past_release_files(database_url, schema, year, policy, min_employers, vault, earlier)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": serve_schema})
    try:
        await store_release(conn, files, held)
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError):
        raise NotPublishable(
            f"the schema {serve_schema} has no releases table as migrations 015 and 018 make it: start the"
            " outcomes service once"
        ) from None
    finally:
        await conn.close()
    return files, write(out, files)
