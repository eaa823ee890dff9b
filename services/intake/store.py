"""Intake's tables (schema `intake`), in plain SQL. Personal data only ever arrives sealed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from contracts import events
from plumbing import scrub
from plumbing.vault import Vault
from services.intake import domain


@dataclass(frozen=True)
class NewReferral:
    referral_id: str
    partner_id: str
    external_id: str | None
    candidate_id: str
    partner_candidate_id: str
    identity_hashes: list[str]
    target_key: str
    entry: str
    contact_sealed: events.Sealed
    demographics_sealed: events.Sealed | None
    submission: events.ReferralSubmittedV2


# --- candidates ----------------------------------------------------------------------------


async def resolve_candidates(conn: asyncpg.Connection, identities: list[list[str]]) -> list[str]:
    """The candidate of each list of identity hashes: an existing one if any hash is known,
    else a new one; every hash not yet known is linked to the result.

    Two requests for one person that share only some hashes (one partner knows the e-mail and
    the phone, another only the phone) would each link a new candidate to the hash it got
    first; so the hashes are locked first (transaction advisory locks, in sorted order, so
    concurrent requests wait for each other instead of deadlocking) and the later request
    sees what the earlier one linked.
    """
    wanted = sorted({h for hs in identities for h in hs})
    await lock_identities(conn, wanted)
    known = await _lookup(conn, wanted)
    proposals: dict[str, str] = {}
    for hashes in identities:
        if any(h in known or h in proposals for h in hashes):
            continue
        fresh = domain.new_candidate_id()
        proposals.update({h: fresh for h in hashes})
    if proposals:
        # Under the hashes' locks nobody else links them meanwhile: what this inserts is what
        # they are linked to now (looked up again only if a link was there after all).
        if await _link(conn, proposals) == set(proposals):
            known.update(proposals)
        else:
            known = await _lookup(conn, wanted)
    chosen = [next(known[h] for h in hs if h in known) for hs in identities]
    # A new phone for a person known by e-mail (or the reverse) joins their identities.
    extra = {h: c for hs, c in zip(identities, chosen, strict=True) for h in hs if h not in known}
    if extra:
        await _link(conn, extra)
    return chosen


async def lock_identities(conn: asyncpg.Connection, hashes: list[str]) -> None:
    """The hashes' advisory locks: the first locks every intake transaction that links
    identities takes (submission, update), before the candidate's and the rows'."""
    if hashes:
        await lock(conn, hashes)


async def try_lock_identities(conn: asyncpg.Connection, hashes: list[str]) -> set[str]:
    """Those of the hashes whose locks this transaction got without waiting (a transaction
    that holds the candidate's lock may not wait for a hash's: the lock order)."""
    rows = await conn.fetch(
        "SELECT h FROM unnest($1::text[]) AS h WHERE pg_try_advisory_xact_lock(hashtextextended(h, 0))", hashes
    )
    return {r["h"] for r in rows}


async def _lookup(conn: asyncpg.Connection, hashes: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT identity_hash, candidate_id FROM candidate_identities WHERE identity_hash = ANY($1::text[])", hashes
    )
    return {r["identity_hash"]: r["candidate_id"] for r in rows}


async def _link(conn: asyncpg.Connection, pairs: dict[str, str]) -> set[str]:
    """Link each hash to its candidate unless it is linked already; the hashes it linked."""
    rows = await conn.fetch(
        "INSERT INTO candidate_identities (identity_hash, candidate_id)"
        " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING RETURNING identity_hash",
        list(pairs),
        list(pairs.values()),
    )
    return {r["identity_hash"] for r in rows}


# --- referrals -------------------------------------------------------------------------------


async def lock(conn: asyncpg.Connection, keys: list[str]) -> None:
    """Transaction-scoped locks on duplicate-check keys, in one order so batches never deadlock."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k ORDER BY k",
        sorted(set(keys)),
    )


async def held_by(
    conn: asyncpg.Connection, partners: list[str], candidates: list[str], external_ids: list[tuple[str, str]]
) -> list[asyncpg.Record]:
    """The partners' referrals (not erased) of these candidates, and their active ones with
    one of these (partner, external id): what a submission's partner id of the person and
    its duplicate check are decided from (`domain.partner_candidates`, `application._duplicate`)."""
    # One statement of three probes, each led by its selective column (candidate id, external
    # id). The partners are filtered here, not in SQL: with them there, PostgreSQL may AND in
    # a scan of every referral of the partner, which grows with the partner's history. A
    # training provider's enrollments of the person count as its referrals do: one id of the
    # person for a provider that also refers (never duplicates: their status is not active).
    # The external-id probe is led by the ids alone, for the same reason, the status filtered
    # here too: with `partner_id = ANY(...) AND status = 'active'` in SQL, a table not yet
    # analyzed (a first import) was read by a skip scan of `referrals_dedupe`, every active
    # referral of the partner compared with the ids (a 500-id probe at 10,000 referrals: 42 ms
    # as a generic plan, 97 ms in the pipeline benchmark, more than half of intake's database
    # time; so, 0.4-1.2 ms, `referrals_external` once analyzed).
    wanted = set(partners)
    owners = {p for p, _ in external_ids}
    rows = await conn.fetch(_HELD_BY, sorted(set(candidates)), sorted({e for _, e in external_ids}))
    return [
        r
        for r in rows
        if (r["status"] == "active" and r["partner_id"] in owners if r["by_external_id"] else r["partner_id"] in wanted)
    ]


_HELD = "referral_id, partner_id, external_id, candidate_id, partner_candidate_id, identity_hashes, target_key, status, submitted_at"
_HELD_ENROLLMENT = (
    "enrollment_id AS referral_id, partner_id, NULL::text AS external_id, candidate_id, partner_candidate_id,"
    " identity_hashes, NULL::text AS target_key, status, enrolled_at AS submitted_at"
)
_HELD_BY = f"""
SELECT false AS by_external_id, {_HELD} FROM referrals WHERE candidate_id = ANY($1::text[]) AND status <> 'erased'
UNION ALL
SELECT false, {_HELD_ENROLLMENT} FROM enrollments WHERE candidate_id = ANY($1::text[]) AND status <> 'erased'
UNION ALL
SELECT true, {_HELD} FROM referrals WHERE external_id = ANY($2::text[])
"""


# A group this large goes by COPY: no statement to parse per row, no arrays for PostgreSQL to
# take apart (a CSV batch of 500: its CPU a row), at the price of one more round trip (the
# copy's start), which a few rows of the single-request path's group do not repay.
COPY_FROM = 64
_REFERRAL_COLUMNS = (
    "referral_id", "partner_id", "external_id", "candidate_id", "partner_candidate_id", "identity_hashes", "target_key",
    "entry", "contact_sealed", "demographics_sealed", "submission",
)


async def insert_referrals(conn: asyncpg.Connection, rows: list[NewReferral], submissions: list[str] | None = None) -> None:
    """The new referrals; `submissions` is each one's event as JSON when the caller has it
    written already (the outbox's copy), else it is written here."""
    if not rows:
        return
    written = submissions if submissions is not None else [r.submission.model_dump_json() for r in rows]
    if len(rows) >= COPY_FROM:
        await conn.copy_records_to_table("referrals", columns=_REFERRAL_COLUMNS, records=[
            (r.referral_id, r.partner_id, r.external_id, r.candidate_id, r.partner_candidate_id, r.identity_hashes,
             r.target_key, r.entry, r.contact_sealed.model_dump_json(),
             r.demographics_sealed.model_dump_json() if r.demographics_sealed else None, s)
            for r, s in zip(rows, written, strict=True)
        ])
        return
    # One statement for the whole group (unnest), far cheaper than a row at a time.
    await conn.execute(
        "INSERT INTO referrals (referral_id, partner_id, external_id, candidate_id, partner_candidate_id,"
        " identity_hashes, target_key, entry, contact_sealed, demographics_sealed, submission)"
        " SELECT r, p, e, c, pc, string_to_array(h, ' '), t, en, cs, ds, s"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
        " $9::jsonb[], $10::jsonb[], $11::jsonb[]) AS u(r, p, e, c, pc, h, t, en, cs, ds, s)",
        [r.referral_id for r in rows],
        [r.partner_id for r in rows],
        [r.external_id for r in rows],
        [r.candidate_id for r in rows],
        [r.partner_candidate_id for r in rows],
        # unnest flattens a two-dimensional array: each row's hashes travel as one string.
        [" ".join(r.identity_hashes) for r in rows],
        [r.target_key for r in rows],
        [r.entry for r in rows],
        [r.contact_sealed.model_dump_json() for r in rows],
        [r.demographics_sealed.model_dump_json() if r.demographics_sealed else None for r in rows],
        written,
    )


async def find(conn: asyncpg.Connection, referral_id: str, partner_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM referrals WHERE referral_id = $1 AND partner_id = $2" + (" FOR UPDATE" if for_update else ""),
        referral_id,
        partner_id,
    )


def sealed(value: str | None) -> events.Sealed | None:
    return events.Sealed.model_validate_json(value) if value else None


async def save_update(conn: asyncpg.Connection, referral_id: str, row: NewReferral) -> None:
    """The referral as updated (`row`: its new profile, sealed copies and identity hashes)."""
    await conn.execute(
        "UPDATE referrals SET submission = $2, contact_sealed = $3, demographics_sealed = $4, identity_hashes = $5,"
        " updated_at = now() WHERE referral_id = $1",
        referral_id,
        row.submission.model_dump_json(),
        row.contact_sealed.model_dump_json(),
        row.demographics_sealed.model_dump_json() if row.demographics_sealed else None,
        row.identity_hashes,
    )


async def withdraw(conn: asyncpg.Connection, referral_id: str, reason: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE referrals SET status = 'withdrawn', withdrawn_at = $2, withdrawal_reason = $3 WHERE referral_id = $1",
        referral_id,
        at,
        reason,
    )


# --- erasure ---------------------------------------------------------------------------------


async def candidate_of(conn: asyncpg.Connection, referral_id: str, partner_id: str | None) -> asyncpg.Record | None:
    """The referral's candidate (the network's and its partner's id) and status; `partner_id`
    None (an operator) sees every partner's."""
    return await conn.fetchrow(
        "SELECT candidate_id, partner_candidate_id, status FROM referrals WHERE referral_id = $1 AND ($2::text IS NULL OR partner_id = $2)",
        referral_id,
        partner_id,
    )


async def candidate_of_enrollment(conn: asyncpg.Connection, enrollment_id: str, partner_id: str) -> asyncpg.Record | None:
    """The enrollment's candidate (the network's and its provider's id) and status."""
    return await conn.fetchrow(
        "SELECT candidate_id, partner_candidate_id, status FROM enrollments WHERE enrollment_id = $1 AND partner_id = $2",
        enrollment_id,
        partner_id,
    )


def candidate_lock(candidate_id: str) -> str:
    """The key (`lock`) that a submission naming the candidate and an erasure of them share."""
    return f"candidate|{candidate_id}"


async def lock_for_erasure(conn: asyncpg.Connection, candidate_id: str) -> None:
    """Wait for every submission that chose the candidate, and keep new ones from choosing
    them until this transaction ends (a submission takes the same lock, then checks whether
    the candidate was erased: `application.submit_all`).

    Only this lock: an erasure waits for nothing else a submission holds (the referral rows
    it locks are committed ones; a submission only inserts), so the two never deadlock.
    """
    await lock(conn, [candidate_lock(candidate_id)])


async def erased_among(conn: asyncpg.Connection, candidate_ids: list[str]) -> set[str]:
    """Those of the candidates erased network-wide: a submission must not bring them back."""
    rows = await conn.fetch("SELECT candidate_id FROM erasures WHERE candidate_id = ANY($1::text[])", candidate_ids)
    return {r["candidate_id"] for r in rows}


async def unlink_erased(conn: asyncpg.Connection, hashes: list[str], erased: set[str]) -> None:
    """Drop links of these hashes to erased candidates (made by a submission the erasure could not see)."""
    await conn.execute(
        "DELETE FROM candidate_identities WHERE identity_hash = ANY($1::text[]) AND candidate_id = ANY($2::text[])",
        hashes,
        sorted(erased),
    )


async def link_identities(conn: asyncpg.Connection, candidate_id: str, hashes: list[str]) -> None:
    """Link hashes nobody has yet to the candidate; one already linked to another candidate
    stays theirs. The caller holds the hashes' locks (`lock_identities`), taken before the
    candidate's and the row's, as a submission takes them: so no submission holds an
    uncommitted link of one of them meanwhile."""
    await _link(conn, {h: candidate_id for h in hashes})


async def identities_of(conn: asyncpg.Connection, candidate_id: str) -> list[str]:
    rows = await conn.fetch("SELECT identity_hash FROM candidate_identities WHERE candidate_id = $1", candidate_id)
    return sorted(r["identity_hash"] for r in rows)


async def unlink_identities(conn: asyncpg.Connection, candidate_id: str, hashes: list[str]) -> None:
    """These hashes no longer lead to the candidate."""
    await conn.execute(
        "DELETE FROM candidate_identities WHERE candidate_id = $1 AND identity_hash = ANY($2::text[])",
        candidate_id,
        hashes,
    )


async def referrals_of(conn: asyncpg.Connection, candidate_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT referral_id, partner_id, partner_candidate_id, status, contact_sealed FROM referrals WHERE candidate_id = $1"
        " ORDER BY submitted_at FOR UPDATE",
        candidate_id,
    )


# The referral row once erased: one row per referral stays, for the counts. Its stored event
# loses what is personal (the one definition, plumbing/scrub.py) and its skills entirely.
_PERSONAL = ", ".join(f"'{k}'" for k in sorted(scrub.PERSONAL_KEYS | {"skills"}))
_ERASE_ROWS = (
    "UPDATE referrals SET status = 'erased', candidate_id = 'erased', partner_candidate_id = NULL,"
    " identity_hashes = NULL, external_id = NULL, contact_sealed = NULL,"
    f" demographics_sealed = NULL, submission = submission - ARRAY[{_PERSONAL}]::text[]"
    " || jsonb_build_object('candidate_id', 'erased'),"
    " withdrawn_at = COALESCE(withdrawn_at, now()), withdrawal_reason = COALESCE(withdrawal_reason, 'candidate_erased')"
)


async def candidates_of(conn: asyncpg.Connection, partner_id: str, partner_candidate_id: str) -> list[str]:
    """The network's candidates of the partner's referrals (not erased) of a person it knows
    by this id: one, unless the network had the e-mail and the phone the partner gave
    together under two candidates."""
    rows = await conn.fetch(
        "SELECT candidate_id FROM referrals WHERE partner_id = $1 AND partner_candidate_id = $2 AND status <> 'erased'"
        " UNION SELECT candidate_id FROM enrollments WHERE partner_id = $1 AND partner_candidate_id = $2"
        " AND status <> 'erased' ORDER BY candidate_id",
        partner_id,
        partner_candidate_id,
    )
    return [r["candidate_id"] for r in rows]


async def erase(conn: asyncpg.Connection, candidate_id: str, requested_by: str, principal: str, count: int) -> None:
    """Drop everything intake holds about the person; keep one row per referral for the counts."""
    await conn.execute("DELETE FROM candidate_identities WHERE candidate_id = $1", candidate_id)
    await conn.execute(_ERASE_ROWS + " WHERE candidate_id = $1", candidate_id)
    await conn.execute(
        "INSERT INTO erasures (candidate_id, requested_by, principal, referral_count) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        candidate_id,
        requested_by,
        principal,
        count,
    )


async def erase_referrals(
    conn: asyncpg.Connection, partner_id: str, referral_ids: list[str], principal: str, at: datetime
) -> None:
    """Drop what intake holds from these referrals of one partner (their sealed contact and
    demographics, profile, reference and link to the candidate), and record that it happened."""
    await conn.execute(_ERASE_ROWS + " WHERE referral_id = ANY($1::text[]) AND partner_id = $2", referral_ids, partner_id)
    await conn.execute(
        "INSERT INTO partner_erasures (erasure_id, partner_id, principal, referral_count, erased_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        f"era_{domain.random_hex()}",
        partner_id,
        principal,
        len(referral_ids),
        at,
    )


async def erasure(conn: asyncpg.Connection | asyncpg.Pool, candidate_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM erasures WHERE candidate_id = $1", candidate_id)


# --- imports ---------------------------------------------------------------------------------


async def start_import(
    pool: asyncpg.Pool, import_id: str, partner_id: str, filename: str | None, sha256: str, key: str | None
) -> asyncpg.Record | None:
    """A new import row, or None when this partner already used the idempotency key."""
    return await pool.fetchrow(
        "INSERT INTO imports (import_id, partner_id, filename, file_sha256, idempotency_key)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING *",
        import_id,
        partner_id,
        filename,
        sha256,
        key,
    )


async def import_by_key(pool: asyncpg.Pool, partner_id: str, key: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM imports WHERE partner_id = $1 AND idempotency_key = $2", partner_id, key)


async def get_import(pool: asyncpg.Pool, import_id: str, partner_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM imports WHERE import_id = $1 AND partner_id = $2", import_id, partner_id)


async def record_import_batch(
    conn: asyncpg.Connection,
    import_id: str,
    rows: int,
    accepted: int,
    duplicates: int,
    rejected: int,
    errors: list[tuple[Any, ...]],
) -> None:
    await conn.execute(
        "UPDATE imports SET rows = rows + $2, accepted = accepted + $3, duplicates = duplicates + $4,"
        " rejected = rejected + $5 WHERE import_id = $1",
        import_id,
        rows,
        accepted,
        duplicates,
        rejected,
    )
    if errors:
        await conn.executemany(
            "INSERT INTO import_errors (import_id, row_number, field, code, message, referral_id)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(import_id, *e) for e in errors],
        )


async def finish_import(
    pool: asyncpg.Pool, import_id: str, status: str, unknown_skills: dict[str, int], failure: str | None = None
) -> asyncpg.Record:
    return await pool.fetchrow(
        "UPDATE imports SET status = $2, unknown_skills = $3, failure = $4, finished_at = now()"
        " WHERE import_id = $1 RETURNING *",
        import_id,
        status,
        json.dumps(unknown_skills),
        failure,
    )


async def import_errors(pool: asyncpg.Pool, import_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT row_number, field, code, message, referral_id FROM import_errors WHERE import_id = $1"
        " ORDER BY row_number, field",
        import_id,
    )


# --- the plaintext of schema version 001 -----------------------------------------------------


async def seal_legacy_contacts(pool: asyncpg.Pool, vault: Vault, secret: bytes) -> int:
    """Seal contacts stored in plaintext before 002, link their identities, drop the column."""
    async with pool.acquire() as conn, conn.transaction():
        has_column = await conn.fetchval(
            "SELECT true FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = 'referrals' AND column_name = 'contact'"
        )
        if not has_column:
            return 0
        rows = await conn.fetch("SELECT referral_id, candidate_id, contact FROM referrals WHERE contact IS NOT NULL")
        keys = await vault.keys(conn, [r["candidate_id"] for r in rows], create=True)
        for r in rows:
            contact = domain.Contact.model_validate_json(r["contact"])
            await _link(conn, {h: r["candidate_id"] for h in domain.identity_hashes(contact, secret)})
            await conn.execute(
                "UPDATE referrals SET contact_sealed = $2 WHERE referral_id = $1",
                r["referral_id"],
                keys[r["candidate_id"]].seal(contact.model_dump(), "contact").model_dump_json(),
            )
        await conn.execute("ALTER TABLE referrals DROP COLUMN contact")
        return len(rows)


# --- training (programs and enrollments) ----------------------------------------------------


async def program(conn: asyncpg.Connection, program_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT program_id, partner_id, program FROM programs WHERE program_id = $1" + (" FOR UPDATE" if for_update else ""),
        program_id,
    )


async def save_program(conn: asyncpg.Connection, partner_id: str, program_id: str, program: str) -> None:
    await conn.execute(
        "INSERT INTO programs (program_id, partner_id, program) VALUES ($1, $2, $3)"
        " ON CONFLICT (program_id) DO UPDATE SET program = EXCLUDED.program, updated_at = now()",
        program_id,
        partner_id,
        program,
    )


async def programs_of(conn: asyncpg.Connection, partner_id: str, program_ids: list[str]) -> set[str]:
    """Those of the programs that are the partner's."""
    rows = await conn.fetch(
        "SELECT program_id FROM programs WHERE program_id = ANY($1::text[]) AND partner_id = $2",
        sorted(set(program_ids)),
        partner_id,
    )
    return {r["program_id"] for r in rows}


async def enrollments_by_key(conn: asyncpg.Connection, partner_id: str, keys: list[str]) -> dict[str, asyncpg.Record]:
    """The partner's enrollments (not erased) with these keys, locked for this transaction."""
    rows = await conn.fetch(
        "SELECT * FROM enrollments WHERE partner_id = $1 AND enrollment_key = ANY($2::text[]) FOR UPDATE",
        partner_id,
        sorted(set(keys)),
    )
    return {r["enrollment_key"]: r for r in rows}


async def save_enrollment(
    conn: asyncpg.Connection,
    *,
    enrollment_id: str,
    partner_id: str,
    program_id: str,
    enrollment_key: str,
    candidate_id: str,
    partner_candidate_id: str,
    identity_hashes: list[str],
    status: str,
    state: dict[str, Any],
    entry: str,
    contact_sealed: events.Sealed,
    demographics_sealed: events.Sealed | None,
) -> None:
    await conn.execute(
        "INSERT INTO enrollments (enrollment_id, partner_id, program_id, enrollment_key, candidate_id,"
        " partner_candidate_id, identity_hashes, status, state, entry, contact_sealed, demographics_sealed)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        " ON CONFLICT (enrollment_id) DO UPDATE SET status = EXCLUDED.status, state = EXCLUDED.state,"
        " identity_hashes = EXCLUDED.identity_hashes, contact_sealed = EXCLUDED.contact_sealed,"
        " demographics_sealed = EXCLUDED.demographics_sealed, updated_at = now()",
        enrollment_id,
        partner_id,
        program_id,
        enrollment_key,
        candidate_id,
        partner_candidate_id,
        identity_hashes,
        status,
        json.dumps(state),
        entry,
        contact_sealed.model_dump_json(),
        demographics_sealed.model_dump_json() if demographics_sealed else None,
    )


async def find_enrollment(conn: asyncpg.Connection, enrollment_id: str, partner_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM enrollments WHERE enrollment_id = $1 AND partner_id = $2", enrollment_id, partner_id
    )


async def enrollments_of(conn: asyncpg.Connection, candidate_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT enrollment_id, partner_id, partner_candidate_id, status, contact_sealed FROM enrollments"
        " WHERE candidate_id = $1 ORDER BY enrolled_at FOR UPDATE",
        candidate_id,
    )


_ERASE_ENROLLMENTS = (
    "UPDATE enrollments SET status = 'erased', candidate_id = 'erased', partner_candidate_id = NULL,"
    " identity_hashes = NULL, enrollment_key = NULL, contact_sealed = NULL, demographics_sealed = NULL, updated_at = now()"
)


async def erase_enrollments(conn: asyncpg.Connection, *, candidate_id: str | None = None, enrollment_ids: list[str] | None = None) -> None:
    """Keep one row per enrollment for the counts, and nothing that leads to the person."""
    if candidate_id is not None:
        await conn.execute(_ERASE_ENROLLMENTS + " WHERE candidate_id = $1", candidate_id)
    if enrollment_ids:
        await conn.execute(_ERASE_ENROLLMENTS + " WHERE enrollment_id = ANY($1::text[])", enrollment_ids)
