"""A group of `store.COPY_FROM` referrals or more (a CSV batch) is written by COPY, a smaller
one (a few API requests) by INSERT: both store the same rows, and each stored submission is
its event's payload exactly as the outbox wrote it (written once, `application._payload_json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from plumbing.context import Deps
from services.intake import application, mapping, store
from talentloop import samples
from tests.integration import intake_world
from tests.integration.intake_world import tag

pytestmark = pytest.mark.integration
intake = intake_world.intake  # the fixture: intake's dependencies on a migrated schema
ADAPTER = Path(__file__).parents[2] / "deploy" / "adapters" / "riverbend-community-college.csv.yaml"
# What differs between two partners' referrals of the same people: ids, and the nonces of sealed copies.
_OWN = {"referral_id", "partner_id", "partner_candidate_id", "submitted_at"}
_SEALED = ("contact_sealed", "demographics_sealed")


async def _stored(pool: asyncpg.Pool, intake: Deps, partner: str) -> list[dict[str, Any]]:
    """The partner's referrals as comparable values (sealed copies opened), by external id;
    checks on the way that each submission is its event's payload as written."""
    data = {e.data["referral_id"]: e.data for e in await intake_world.outbox(pool) if e.partnerid == partner}
    rows = await pool.fetch("SELECT * FROM referrals WHERE partner_id = $1 ORDER BY external_id", partner)
    assert len(rows) == len(data) > 0
    found = []
    async with pool.acquire() as conn:
        for r in rows:
            submission = json.loads(r["submission"])
            assert submission == data[r["referral_id"]]
            key = await intake.vault.key(conn, r["candidate_id"])
            assert key is not None
            row = {k: v for k, v in dict(r).items() if k not in _OWN}
            for name, purpose in zip(_SEALED, ("contact", "demographics"), strict=True):
                row[name] = key.open(store.sealed(r[name]), purpose) if r[name] else None
                assert (submission.get(name) is None) or submission[name] == json.loads(r[name])
            row["submission"] = {k: v for k, v in submission.items() if k not in {*_OWN, *_SEALED}}
            row["published_demographics"] = submission.get("demographics_sealed") is not None
            found.append(row)
    return found


async def test_a_copied_group_stores_what_an_inserted_one_does(pool, intake, monkeypatch):
    run = tag()
    adapter = mapping.load(ADAPTER)
    # The registrar's rows: credentials, training, demographics, with and without consent to reports.
    referrals = [
        mapping.referral_from(adapter, samples.riverbend_row(samples.person(n, run=run), run))[0]
        for n in range(store.COPY_FROM)
    ]
    assert all(referrals)

    async def submit(partner: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            results = await application.submit(intake.bind(conn), partner, referrals, entry="csv", correlation_id="t")
        assert all(isinstance(r, application.Accepted) for r in results)

    copied, inserted = f"pc-{run}", f"pi-{run}"
    await submit(copied)
    monkeypatch.setattr(store, "COPY_FROM", len(referrals) + 1)  # the same group by INSERT
    await submit(inserted)

    by_copy, by_insert = await _stored(pool, intake, copied), await _stored(pool, intake, inserted)
    assert by_copy == by_insert
    assert {r["entry"] for r in by_copy} == {"csv"} and all(r["identity_hashes"] for r in by_copy)
    # Demographics sealed in every row, published only with consent to aggregate reports.
    assert all(r["demographics_sealed"] for r in by_copy)
    assert {r["published_demographics"] for r in by_copy} == {True, False}
