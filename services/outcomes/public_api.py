"""The public read endpoints (issue 16 item 6; docs/transparency.md, "Public endpoints"): the last
annual release `talentloop publish` stored, served without a key, rate-limited per client address.

`GET /public/release` is the release's release.json; `GET /public/release/{path}` any of its files,
the stored bytes exactly. These are the only routes of the service that take no key (besides
health, metrics and the API documents): tests/unit/test_public_routes.py enumerates them.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from plumbing import problems
from plumbing.service import pool_of
from services.outcomes.reports.across_years import OUTCOME_LINES, Held
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.release import hiring_cells

MANIFEST = "release.json"

# --- storing and reading releases -------------------------------------------------------------


async def store_release(conn: asyncpg.Connection, files: dict[str, bytes], held: Held | None = None) -> bool:
    """Keep a release (every file, release.json included) and what it computed for its program
    blocks (`held`, not a file: migration 018); False when this very release (the same
    release.json) is already stored, which changes nothing."""
    manifest = json.loads(files[MANIFEST])
    key = hashlib.sha256(files[MANIFEST]).hexdigest()
    async with conn.transaction():
        stored = await conn.fetchval(
            "INSERT INTO releases (release_sha256, year, ledger_position, held) VALUES ($1, $2, $3::jsonb, $4::jsonb)"
            " ON CONFLICT (release_sha256) DO NOTHING RETURNING true",
            key,
            manifest["year"],
            json.dumps(manifest["ledger_position"]),
            json.dumps(held.as_dict(), sort_keys=True) if held is not None else None,
        )
        if not stored:
            return False
        await conn.copy_records_to_table(
            "release_files",
            records=[(key, path, hashlib.sha256(data).hexdigest(), data) for path, data in sorted(files.items())],
            columns=["release_sha256", "path", "sha256", "content"],
        )
    return True


@dataclass(frozen=True)
class Stored:
    """A stored release a new one is suppressed against: its year, release.json's sha256, the
    programs it named (its program_outcomes table), its ledger position (the last event's time,
    the sha256 of the event ids) and the people its pipeline table shows per line and program row
    (`published`: across_years.Earlier.published; what a reader subtracts, late events or not), with
    the program outcomes' counts, and what it computed for its program blocks (`held`: None for a
    release stored before migration 018)."""

    year: int
    release_sha256: str
    named_programs: frozenset[str]
    last_event_at: str | None
    event_ids_sha256: str
    published: Mapping[str, Mapping[str, int]] | None = None
    hiring: Mapping[tuple[str, str, str], int | str] | None = None
    held: Held | None = None


async def stored_releases(conn: asyncpg.Connection) -> list[Stored]:
    """Every stored release (of any year), in the order stored; none when the schema has no
    releases table."""
    try:
        rows = await conn.fetch("SELECT release_sha256, year, ledger_position, held FROM releases ORDER BY stored_seq")
    except asyncpg.UndefinedTableError:
        return []
    out = []
    for row in rows:
        hiring = await _table(conn, row["release_sha256"], "hiring_by_employer")
        table = await _table(conn, row["release_sha256"], "program_outcomes")
        column = table["columns"].index("program")
        position = json.loads(row["ledger_position"])
        out.append(
            Stored(
                row["year"],
                row["release_sha256"],
                frozenset(r[column] for r in table["rows"]) - {SMALL_GROUPS},
                position["last_event_at"],
                position["event_ids_sha256"],
                program_rows(await _table(conn, row["release_sha256"], "pipeline"), table),
                # none in a release stored before hiring by employer was published: nothing to hold to
                hiring_cells(hiring["columns"], hiring["rows"]) if hiring else None,
                _held(json.loads(row["held"])) if row["held"] is not None else None,
            )
        )
    return out


async def _table(conn: asyncpg.Connection, release_sha256: str, name: str) -> dict | None:
    content = await conn.fetchval(
        "SELECT content FROM release_files WHERE release_sha256 = $1 AND path = $2",
        release_sha256,
        f"tables/{name}.json",
    )
    return json.loads(content) if content is not None else None


def _held(data: dict) -> Held:
    return Held(data["blocks"], data["figures"])


def program_rows(pipeline: dict | None, outcomes: dict | None = None) -> dict[str, dict[str, int]] | None:
    """The figures a release shows per line and row of its program dimension (a program or the
    combined row): every line of its pipeline table, and the program outcomes' counts that are not
    the funnel's (across_years.OUTCOME_LINES); a suppressed figure is left out."""
    if pipeline is None:
        return None
    c = {name: i for i, name in enumerate(pipeline["columns"])}
    out: dict[str, dict[str, int]] = {}
    for r in pipeline["rows"]:
        if r[c["dimension"]] == "program" and isinstance(r[c["people"]], int):
            out.setdefault(r[c["line"]], {})[r[c["group"]]] = r[c["people"]]
    if outcomes is not None:
        c = {name: i for i, name in enumerate(outcomes["columns"])}
        for r in outcomes["rows"]:
            for line in OUTCOME_LINES:
                if isinstance(r[c[line]], int):
                    out.setdefault(line, {})[r[c["program"]]] = r[c[line]]
    return out


async def last_file(conn: asyncpg.Connection, path: str) -> asyncpg.Record | None:
    """A file of the last release: of the newest year published, the one stored last (a past year
    made again afterwards is stored, not served: a visitor asks for the newest year); its sha256 and
    bytes; None when nothing was published or the last release has no such file."""
    return await conn.fetchrow(
        "SELECT f.sha256, f.content FROM release_files f WHERE f.path = $1 AND f.release_sha256 ="
        " (SELECT release_sha256 FROM releases ORDER BY year DESC, stored_seq DESC LIMIT 1)",
        path,
    )


# --- the rate limit ---------------------------------------------------------------------------


class PublicSettings(BaseSettings):
    """The public endpoints' rate limit, per client address (docs/transparency.md)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")
    per_minute: float = Field(default=60, gt=0, le=100_000, alias="TALENTLOOP_PUBLIC_RATE_PER_MINUTE")
    burst: int = Field(default=20, ge=1, le=100_000, alias="TALENTLOOP_PUBLIC_RATE_BURST")
    # Only behind a proxy that sets X-Forwarded-For itself: otherwise a client names any address.
    trust_forwarded_for: bool = Field(default=False, alias="TALENTLOOP_PUBLIC_TRUST_FORWARDED_FOR")


@dataclass
class TokenBucket:
    """Per key: up to `burst` requests at once, refilled at `per_minute` a minute. `take` answers
    0 when a request may go, else the seconds until one may. Full buckets are forgotten (they are
    what a new key starts with), so memory holds only the clients seen within a refill."""

    per_minute: float
    burst: int
    now: Callable[[], float] = time.monotonic
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

    def take(self, key: str) -> float:
        now, rate = self.now(), self.per_minute / 60
        if len(self.buckets) > 10_000:
            self._forget_full(now, rate)
        tokens, at = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / rate
        self.buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float, rate: float) -> None:
        self.buckets = {k: (t, at) for k, (t, at) in self.buckets.items() if t + (now - at) * rate < self.burst}


def client_address(request: Request, trust_forwarded_for: bool) -> str:
    """The peer's address; behind a trusted proxy the last X-Forwarded-For entry (the one the
    proxy appended: earlier entries are whatever the client sent)."""
    if trust_forwarded_for and (forwarded := request.headers.get("x-forwarded-for")):
        return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "unknown"


def limiter_of(request: Request) -> tuple[TokenBucket, PublicSettings]:
    state = request.app.state
    if getattr(state, "public_limiter", None) is None:
        try:
            settings = PublicSettings()
        except ValueError as exc:
            raise problems.Problem(
                500, "misconfigured", "The public endpoints' settings are not valid", str(exc)[:500]
            ) from exc
        state.public_limiter = (TokenBucket(settings.per_minute, settings.burst), settings)
    return state.public_limiter


async def rate_limited(request: Request) -> None:
    """FastAPI dependency: 429 with Retry-After once the client's burst is spent."""
    bucket, settings = limiter_of(request)
    wait = bucket.take(client_address(request, settings.trust_forwarded_for))
    if wait:
        seconds = max(1, math.ceil(wait))
        problem = problems.Problem(
            429,
            "rate-limited",
            "Too many requests",
            f"the public endpoints take {settings.per_minute:g} requests a minute per client (bursts of"
            f" {settings.burst}); retry in {seconds} s",
        )
        problem.headers["Retry-After"] = str(seconds)
        raise problem


# --- the routes -------------------------------------------------------------------------------

router = APIRouter(prefix="/public", tags=["public"], dependencies=[Depends(rate_limited)])

CACHE_CONTROL = "public, max-age=300"  # a newer release replaces it: clients revalidate with the ETag
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}
RESPONSES: dict[int | str, dict] = {
    200: {
        "description": "The file's stored bytes; `ETag` is its sha256",
        "content": {kind: {"schema": {"type": "string"}} for kind in TYPES.values()},
    },
    304: {"description": "Not modified: `If-None-Match` names the file's ETag"},
    404: {"description": "Nothing was published yet, or the last release has no such file"},
    429: {"description": "Too many requests from this client address: retry after `Retry-After` seconds"},
}


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


async def _serve(request: Request, path: str) -> Response:
    async with pool_of(request).acquire() as conn:
        row = await last_file(conn, path)
    if row is None:
        raise problems.not_found("published file")
    etag = f'"{row["sha256"]}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    kind = TYPES.get(path[path.rfind(".") :], "application/octet-stream")
    return Response(bytes(row["content"]), media_type=kind, headers=headers)


@router.get(
    "/release",
    summary="The last published annual release's release.json (no key)",
    description="The year, the ledger position it was made from, the tables and every file's sha256, of the release "
    '`talentloop publish` stored last of the newest year published (docs/transparency.md, "Public endpoints").'
    " No key; rate-limited per client.",
    responses=RESPONSES,
    response_class=Response,
)
async def release(request: Request) -> Response:
    return await _serve(request, MANIFEST)


@router.get(
    "/release/{path:path}",
    summary="A file of the last published annual release, byte for byte (no key)",
    description="Any file release.json lists (`tables/pipeline.csv`, `methods.html`, …) and release.json itself, "
    "as stored when it was published, with its Content-Type, `ETag` (its sha256) and `Cache-Control`; "
    "`If-None-Match` answers 304. No key; rate-limited per client.",
    responses=RESPONSES,
    response_class=Response,
)
async def release_file(path: str, request: Request) -> Response:
    return await _serve(request, path)
