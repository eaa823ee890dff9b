"""Master key rotation: re-wrap everything sealed with the network's master key under a new one.

What the master key seals, in every schema of the database that holds such a table (found in
the catalogue, so a schema added later, a test's or a rebuild's, is not missed):
- `candidate_keys.wrapped` (schema keyvault): each candidate's personal-data key (plumbing/vault.py);
- `webhook_endpoints.secret_sealed` and `.previous_sealed`: webhook signing secrets, under a key
  derived from the master key (plumbing/webhooks.py; every service schema has the table);
- `org_keys.sealed` (schema portal): the portal's organisation API keys (services/portal/machine_keys.py).
Each is opened and sealed by its owner's own box, so the formats stay where they are defined.

`rotate` first surveys every value: one that opens with none of the keys given (a wrong or
missing previous key) refuses the rotation before anything is written. Then, table by table,
batch by batch (keyset order on the table's key, rows locked FOR UPDATE, one transaction each),
a value that opens with a previous key is sealed anew with the current one; a value that already
opens with the current key is left alone. So a crash loses at most the batch in flight and a
rerun finishes the job; the report counts what was re-wrapped, what was already current, and
what still opens only with a previous key afterwards (0 unless something wrote with it meanwhile).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from cryptography.exceptions import InvalidTag

from plumbing.vault import KeyWrap, Unreadable
from plumbing.webhooks import SecretBox
from services.portal.machine_keys import KeyBox


class Box(Protocol):
    def seal(self, context: str, value: Any, /) -> bytes: ...
    def open(self, context: str, sealed: bytes, /) -> Any: ...


@dataclass(frozen=True)
class Kind:
    """A table of values sealed with the master key: its key (the sealed value's context), the
    sealed columns (NULL allowed), its owner's box, and what that box raises for a wrong key."""

    table: str
    key: str
    key_type: str
    columns: tuple[str, ...]
    box: Callable[[bytes], Box]
    wrong_key: tuple[type[Exception], ...]


KINDS = (
    Kind("candidate_keys", "candidate_id", "text", ("wrapped",), KeyWrap, (Unreadable,)),
    Kind("webhook_endpoints", "endpoint_id", "text", ("secret_sealed", "previous_sealed"), SecretBox, (InvalidTag,)),
    Kind("org_keys", "org_id", "uuid", ("sealed",), KeyBox, (RuntimeError,)),
)


class WrongMasterKey(Exception):
    """Sealed values that open with none of the keys given: nothing was re-wrapped."""


@dataclass(frozen=True)
class Target:
    schema: str
    kind: Kind

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.kind.table}"

    def _from(self) -> str:
        return f'"{self.schema}"."{self.kind.table}"'


@dataclass
class Count:
    """Sealed values of one table, by the key that opens them (a NULL column is not a value)."""

    current: int = 0
    previous: int = 0  # only a previous key
    unreadable: int = 0  # none of the keys given


@dataclass(frozen=True)
class Rotated:
    """One table's rotation: values already under the current key before it, values it re-wrapped,
    values still opening only with a previous key after it (written with it meanwhile: rerun)."""

    already_current: int
    rewrapped: int
    left_on_previous: int


@dataclass(frozen=True)
class Keys:
    """The current master key (seals) and the previous ones (only open)."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    def boxes(self, kind: Kind) -> list[Box]:
        return [kind.box(self.current), *(kind.box(k) for k in self.previous if k != self.current)]


async def targets(conn: asyncpg.Connection, schemas: list[str] | None = None) -> list[Target]:
    """Every table in the database that holds values sealed with the master key (optionally only in `schemas`)."""
    found = []
    for kind in KINDS:
        wanted = [kind.key, *kind.columns]
        rows = await conn.fetch(
            "SELECT table_schema FROM information_schema.columns"
            " WHERE table_name = $1 AND column_name = ANY($2::text[])"
            " AND table_schema NOT LIKE 'pg\\_%' AND table_schema <> 'information_schema'"
            " GROUP BY table_schema HAVING count(*) = $3 ORDER BY table_schema",
            kind.table,
            wanted,
            len(wanted),
        )
        found += [Target(r["table_schema"], kind) for r in rows if schemas is None or r["table_schema"] in schemas]
    return found


def _which(kind: Kind, boxes: list[Box], context: str, sealed: bytes) -> tuple[int, Any] | None:
    """(index of the first key that opens it, what it holds), or None."""
    for i, box in enumerate(boxes):
        try:
            return i, box.open(context, sealed)
        except kind.wrong_key:
            continue
    return None


async def _batch(conn: asyncpg.Connection, target: Target, after: Any, size: int, lock: bool) -> list[asyncpg.Record]:
    """The next `size` rows after key `after` (from the start if None), in key order."""
    kind = target.kind
    where, args = ("", [size]) if after is None else (f"WHERE {kind.key} > $2::{kind.key_type}", [size, after])
    return await conn.fetch(
        f"SELECT {kind.key}, {', '.join(kind.columns)} FROM {target._from()} {where}"
        f" ORDER BY {kind.key} LIMIT $1{' FOR UPDATE' if lock else ''}",
        *args,
    )


async def survey(conn: asyncpg.Connection, keys: Keys, found: list[Target], batch: int = 1000) -> dict[str, Count]:
    """Per table, how many sealed values open with the current key, only with a previous one, or with none."""
    report: dict[str, Count] = {}
    for target in found:
        count = report.setdefault(target.name, Count())
        boxes = keys.boxes(target.kind)
        after = None
        while rows := await _batch(conn, target, after, batch, lock=False):
            for row in rows:
                for column in target.kind.columns:
                    if row[column] is None:
                        continue
                    opened = _which(target.kind, boxes, str(row[0]), row[column])
                    if opened is None:
                        count.unreadable += 1
                    elif opened[0] == 0:
                        count.current += 1
                    else:
                        count.previous += 1
            after = rows[-1][0]
    return report


def _refuse(report: dict[str, Count]) -> None:
    unreadable = {name: c.unreadable for name, c in report.items() if c.unreadable}
    if unreadable:
        where = ", ".join(f"{name}: {n}" for name, n in unreadable.items())
        raise WrongMasterKey(
            f"{sum(unreadable.values())} sealed value(s) open with neither TALENTLOOP_MASTER_KEY nor any key in"
            f" TALENTLOOP_MASTER_KEY_PREVIOUS ({where}); give the key they were sealed with as a previous key."
            " Nothing was re-wrapped."
        )


async def _rewrap_batch(
    conn: asyncpg.Connection, target: Target, boxes: list[Box], after: Any, size: int
) -> tuple[Any, int, int]:
    """One batch in one transaction: (last key, values re-wrapped, rows read)."""
    kind = target.kind
    async with conn.transaction():
        rows = await _batch(conn, target, after, size, lock=True)
        changed: list[list[Any]] = []
        rewrapped = 0
        for row in rows:
            context, values = str(row[0]), [row[c] for c in kind.columns]
            for i, sealed in enumerate(values):
                if sealed is None:
                    continue
                opened = _which(kind, boxes, context, sealed)
                if opened is None:
                    raise WrongMasterKey(
                        f"{target.name} {context}: opens with none of the keys given (written meanwhile?)"
                    )
                if opened[0] != 0:
                    values[i] = boxes[0].seal(context, opened[1])
                    rewrapped += 1
            if values != [row[c] for c in kind.columns]:
                changed.append([row[0], *values])
        if changed:
            sets = ", ".join(f"{c} = u.c{i}" for i, c in enumerate(kind.columns))
            casts = ", ".join([f"$1::{kind.key_type}[]", *(f"${i + 2}::bytea[]" for i in range(len(kind.columns)))])
            names = ", ".join(["k", *(f"c{i}" for i in range(len(kind.columns)))])
            await conn.execute(
                f"UPDATE {target._from()} AS t SET {sets} FROM unnest({casts}) AS u({names}) WHERE t.{kind.key} = u.k",
                *(list(column) for column in zip(*changed, strict=True)),
            )
    return (rows[-1][0] if rows else None), rewrapped, len(rows)


OnBatch = Callable[[Target, int], Awaitable[None]]


async def rotate(
    conn: asyncpg.Connection,
    keys: Keys,
    schemas: list[str] | None = None,
    batch: int = 1000,
    on_batch: OnBatch | None = None,
) -> dict[str, Rotated]:
    """Re-wrap every value sealed with a previous key under the current one (see the module's doc).
    `on_batch(target, rewrapped)` runs after each committed batch (progress; a test interrupts there)."""
    found = await targets(conn, schemas)
    before = await survey(conn, keys, found, batch)
    _refuse(before)
    rewrapped = dict.fromkeys(before, 0)
    for target in found:
        boxes = keys.boxes(target.kind)
        after: Any = None
        while True:
            after, done, read = await _rewrap_batch(conn, target, boxes, after, batch)
            if read == 0:
                break
            rewrapped[target.name] += done
            if on_batch is not None:
                await on_batch(target, done)
    left = await survey(conn, keys, found, batch)
    return {name: Rotated(before[name].current, rewrapped[name], left[name].previous) for name in before}


async def command(
    database_url: str, keys: Keys, check: bool, schemas: list[str] | None, batch: int, echo: Callable[[str], None]
) -> int:
    """`talentloop keys rotate-master`: rotate (or with `check`, only survey) and report; the exit code."""
    conn = await asyncpg.connect(database_url)
    try:
        if not check:

            async def progress(target: Target, rewrapped: int) -> None:
                if rewrapped:
                    echo(f"  {target.name}: {rewrapped} re-wrapped")

            try:
                report = await rotate(conn, keys, schemas, batch, progress)
            except WrongMasterKey as exc:
                echo(f"Refused: {exc}")
                return 1
            for name, r in report.items():
                echo(
                    f"{name}: {r.already_current} already current, {r.rewrapped} re-wrapped, {r.left_on_previous} left on a previous key"
                )
            left = sum(r.left_on_previous for r in report.values())
            echo(f"{sum(r.rewrapped for r in report.values())} re-wrapped in all.")
            if left:
                echo(
                    f"{left} value(s) were sealed with a previous key during the run: a service still seals with it; rerun."
                )
            return 1 if left else 0
        counts = await survey(conn, keys, await targets(conn, schemas), batch)
    finally:
        await conn.close()
    for name, c in counts.items():
        echo(f"{name}: {c.current} current, {c.previous} only with a previous key, {c.unreadable} with none")
    previous, unreadable = sum(c.previous for c in counts.values()), sum(c.unreadable for c in counts.values())
    if unreadable:
        echo(f"{unreadable} value(s) open with none of the keys given.")
    if previous:
        echo(f"{previous} value(s) open only with a previous key: the previous key is still needed.")
    if not previous and not unreadable:
        echo("Every sealed value opens with TALENTLOOP_MASTER_KEY: the previous key is no longer needed.")
    return 1 if previous or unreadable else 0
