"""Erasure reaches the rows every service keeps only to make delivery safe.

Besides its own tables, each service keeps operational rows that may copy an erased
person's data: published outbox rows (a whole event: the candidate id, the skills as the
partner wrote them, credentials, training, sealed contact), stored idempotent answers
(`POST /v1/referrals` answers with the candidate id and the unknown skills' text), webhook
deliveries (their bodies) and the receivers' answers to them. Until retention prunes them
(plumbing/retention.py) they are stripped on erasure, by `scrub`, in the erasure's
transaction:

- every JSON object in them about one of the erased referrals or enrollments (its
  `referral_id` or `enrollment_id`: a training provider's erasure names its enrollments, and
  `candidate.erased` lists them in `enrollment_ids`), or about the erased candidate (its
  `candidate_id`, when the person is erased network-wide), loses
  its personal fields (`PERSONAL_KEYS`; skills keep their vocabulary ids only) and its
  candidate id becomes "erased", as outcomes redacts its ledger;
- the receivers' answers to those deliveries are dropped (an answer may echo the body).

Left alone, on purpose:
- outbox rows not yet published (or parked): consumers must still receive the event to keep
  their counts and apply the erasure that follows it; a network-wide erasure has destroyed
  the key its sealed contact needs, and the row is pruned once published and past retention;
- `candidate.erased` events themselves (the record that the erasure happened);
- inbox claims: a consumer name, an event id and a time, nothing about anyone.

Rows are found by the ids' text (random, so never a false match) and rewritten in Python,
so whatever shape a payload has, a nested object about the referral is found too. An
erasure is rare; the scan covers only what retention keeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from contracts import events

ERASED = "erased"
# What is personal in an event's data (or an answer's): fields that describe the person, the
# candidate's side of a referral. The one definition: outcomes redacts its ledger with `strip`
# too (services/outcomes/domain.py), so what an erasure removes is the same everywhere.
PERSONAL_KEYS = frozenset(
    {
        "contact_sealed",
        "demographics_sealed",
        "candidate",
        "candidate_skills",
        "held",  # skills.gap_observed: the candidate's skills
        "credentials",
        "credential_list",
        "credential",  # credential.earned: what the person earned (a program's is in program.*, never about anyone)
        "training",
        "location",
        "highest_degree",
    }
)
# Lists whose items are the partner's own words (kept as an empty list: an answer keeps its shape).
PERSONAL_LISTS = frozenset({"unknown_skills"})
# Event types that are themselves the record of an erasure.
KEEP_TYPES = frozenset({"candidate.erased.v1"})


def network_wide(event: events.CandidateErasedV1) -> str | None:
    """The candidate a `candidate.erased` erases everywhere (an operator's erasure, or a
    partner's that held every referral of the person); None when a partner erased only its
    own referrals (`partner_id` set): the person's other referrals keep their candidate, and
    only the listed referrals are erased."""
    return event.candidate_id if event.partner_id is None else None


def ids_of(event: events.CandidateErasedV1) -> list[str]:
    """The referrals and enrollments a `candidate.erased` erases (what `scrub` takes)."""
    return [*event.referral_ids, *event.enrollment_ids]


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """One object about an erased person without its personal parts: the candidate id becomes
    "erased", `skills` keep their vocabulary ids only (the text the partner wrote goes; v1's
    free-text skills go entirely), `PERSONAL_LISTS` become empty. Shallow (`redact` finds the
    nested objects); nothing is added, so the result is never larger than the original, and
    stripping twice gives the same result."""
    out = {k: v for k, v in obj.items() if k not in PERSONAL_KEYS}
    if "candidate_id" in out:
        out["candidate_id"] = ERASED
    for name in PERSONAL_LISTS & out.keys():
        out[name] = []
    if isinstance(out.get("skills"), list):
        out["skills"] = [{"id": s.get("id")} for s in out["skills"] if isinstance(s, dict)]
    return out


@dataclass
class Erased:
    """Whose data goes: these referrals and enrollments (`ids`: random, so a referral's id is
    never an enrollment's), and the candidate when erased network-wide (None when a partner
    erased only its own: the person's other referrals and enrollments stay)."""

    ids: list[str]
    candidate_id: str | None = None
    found: dict[str, int] = field(default_factory=dict)

    def needles(self) -> list[str]:
        return sorted(set(self.ids) | ({self.candidate_id} if self.candidate_id else set()))

    def about(self, obj: dict[str, Any]) -> bool:
        return obj.get("referral_id") in self.ids or obj.get("enrollment_id") in self.ids or (
            self.candidate_id is not None and obj.get("candidate_id") == self.candidate_id
        )


def redact(value: Any, erased: Erased) -> Any:
    """`value` with every object about the erased referrals, enrollments or candidate stripped (`strip`),
    at any depth, and every other object left as it is; never larger than the original."""
    if isinstance(value, list):
        return [redact(v, erased) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: redact(v, erased) for k, v in value.items()}
    return strip(out) if erased.about(value) else out


def _patterns(erased: Erased) -> list[str]:
    return [f"%{n}%" for n in erased.needles()]


async def scrub(conn: asyncpg.Connection, ids: Iterable[str], candidate_id: str | None = None) -> dict[str, int]:
    """Strip the erased person's data from this schema's operational rows (see the module's
    docstring): `ids` are the erased referrals and enrollments (`ids_of`); returns how many
    rows of each table changed."""
    erased = Erased(sorted(set(ids)), candidate_id)
    if not erased.needles():
        return {}
    patterns = _patterns(erased)
    await _outbox(conn, erased, patterns)
    await _json_column(conn, erased, patterns, "idempotency_keys", ("principal", "key"), "response")
    delivery_ids = [k for (k,) in await _json_column(conn, erased, patterns, "webhook_deliveries", ("delivery_id",), "body")]
    if delivery_ids:
        await conn.execute(
            "UPDATE webhook_attempts SET response_excerpt = NULL WHERE delivery_id = ANY($1::text[])"
            " AND response_excerpt IS NOT NULL",
            delivery_ids,
        )
    return erased.found


async def _outbox(conn: asyncpg.Connection, erased: Erased, patterns: list[str]) -> None:
    rows = await conn.fetch(
        "SELECT id, value FROM outbox WHERE published_at IS NOT NULL"
        " AND convert_from(value, 'UTF8') LIKE ANY($1::text[]) FOR UPDATE",
        patterns,
    )
    changed = []
    for r in rows:
        envelope = json.loads(r["value"])
        if envelope.get("type") in KEEP_TYPES:
            continue
        redacted = {**envelope, "data": redact(envelope.get("data"), erased)}
        if redacted != envelope:
            changed.append((r["id"], json.dumps(redacted, separators=(",", ":")).encode()))
    if changed:
        await conn.executemany("UPDATE outbox SET value = $2 WHERE id = $1", changed)
        erased.found["outbox"] = len(changed)


async def _json_column(
    conn: asyncpg.Connection, erased: Erased, patterns: list[str], table: str, key: tuple[str, ...], column: str
) -> list[tuple[Any, ...]]:
    """Rewrite `column` (jsonb) of the rows about the erased; returns their keys."""
    rows = await conn.fetch(
        f"SELECT {', '.join(key)}, {column} AS v FROM {table} WHERE {column}::text LIKE ANY($1::text[]) FOR UPDATE",
        patterns,
    )
    changed = []
    for r in rows:
        before = json.loads(r["v"])
        after = redact(before, erased)
        if after != before:
            changed.append((*(r[k] for k in key), json.dumps(after)))
    if changed:
        n = len(key)
        where = " AND ".join(f"{k} = ${i + 1}" for i, k in enumerate(key))
        await conn.executemany(f"UPDATE {table} SET {column} = ${n + 1}::jsonb WHERE {where}", changed)
        erased.found[table] = len(changed)
    return [c[:-1] for c in changed]
