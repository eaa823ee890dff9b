"""Hiring by employer with demographics in the annual release (issue 16 item 5), on real PostgreSQL
and Kafka: employers' publication choices and consenting candidates' sealed demographics go through
the topics into outcomes; the release counts only the employer that opted in for the year (its last
choice), only consenting hires, and gives the same bytes after `talentloop outcomes rebuild`; once one
of the year's hires is erased, no count of the table is published (made again, the year would
otherwise differ from the stored release by the erased person's hire)."""

from __future__ import annotations

import csv
import io
import json
import uuid

import asyncpg
import pytest

from contracts import events
from plumbing.vault import Vault, new_master_key, parse_master_key
from services.outcomes import rebuild
from services.outcomes.public_api import program_rows
from services.outcomes.reports import inputs
from services.outcomes.reports.hiring import hiring_by_employer
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, live_hash, publish, schemas, topics  # noqa: F401
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_release_across_years import apply
from tests.integration.test_release_store import POLICY
from tests.integration.test_withdraw_update_erase import CONSENT
from tests.support import training_events as training

pytestmark = pytest.mark.integration


def choice(employer: str, opted_in: bool, hours: float):  # type: ignore[no-untyped-def]
    chosen = events.HiringPublicationChosenV1(
        employer_id=employer, employer_name=employer.upper(), year=2026, opted_in=opted_in
    )
    return env(chosen, hours)


async def hires(vault: Vault, pool: asyncpg.Pool, tag: str) -> list:
    """Fifteen hires starting in 2026: twelve at emp A (eleven women, one man), three at emp B; all
    consenting, with sealed demographics; a sixteenth at A without consent to aggregate reporting."""
    out = []
    async with pool.acquire() as conn:
        for n in range(16):
            ref, cand = f"ref_{tag}_{n}", f"cand_{tag}_{n}"
            employer = f"emp_a_{tag}" if n < 12 or n == 15 else f"emp_b_{tag}"
            (key,) = (await vault.keys(conn, [cand], create=True)).values()
            sealed = key.seal({"race_ethnicity": ["white"], "gender": "male" if n == 0 else "female"}, "demographics")
            consent = CONSENT if n < 15 else CONSENT.model_copy(update={"aggregate_reports": False})
            for i, p in enumerate(lifecycle(ref)):
                if isinstance(p, events.ReferralSubmittedV2):
                    p = p.model_copy(update={"candidate_id": cand, "demographics_sealed": sealed, "consent": consent})
                elif isinstance(p, events.PlacementReportedV1):
                    p = p.model_copy(update={"employer_id": employer, "start_date": p.start_date.replace(year=2026)})
                elif hasattr(p, "employer_id"):
                    p = p.model_copy(update={"employer_id": employer})
                if hasattr(p, "candidate_id") and not isinstance(p, events.ReferralSubmittedV2):
                    p = p.model_copy(update={"candidate_id": cand})
                out.append(env(p, i))
    return out


async def sealed_hires(stack, vault: Vault, tag: str) -> list:  # type: ignore[no-untyped-def]
    """`hires`, their demographics sealed with keys the vault keeps."""
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await Vault.ensure_schema(conn)
        return await hires(vault, pool, tag)
    finally:
        await pool.close()


def table(files: dict[str, bytes]) -> dict[tuple[str, str, str], str]:
    found = csv.DictReader(io.StringIO(files["tables/hiring_by_employer.csv"].decode()))
    return {(r["employer_id"], r["dimension"], r["category"]): r["hires"] for r in found}


async def test_hiring_by_employer_counts_the_opted_in_employer_and_survives_a_rebuild(stack, topics, schemas):  # noqa: F811
    vault, tag = Vault(parse_master_key(new_master_key())), uuid.uuid4().hex[:6]
    found = await sealed_hires(stack, vault, tag)
    # A opts in, out, then in again (the last counts); B opts out after opting in.
    found += [
        choice(f"emp_a_{tag}", True, 200),
        choice(f"emp_a_{tag}", False, 201),
        choice(f"emp_a_{tag}", True, 202),
        choice(f"emp_b_{tag}", True, 200),
        choice(f"emp_b_{tag}", False, 203),
    ]
    placed = [(topics[0], e) for e in found]
    await publish(stack.bootstrap, placed)
    schemas += ["hire_live_" + tag, "hire_built_" + tag]
    await live_hash(stack, schemas[0], placed)
    built = await rebuild.fresh_schema(stack.database_url, schemas[1])
    try:
        await rebuild.replay(stack.bootstrap, built, rebuild.Result(schemas[1]), batch=5, topics=topics)
    finally:
        await built.close()

    async def files_of(schema: str) -> dict[str, bytes]:
        conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": schema})
        try:
            return (await release.computed(conn, 2026, POLICY, 3, vault))[0]
        finally:
            await conn.close()

    live = await files_of(schemas[0])
    assert await files_of(schemas[1]) == live  # the rebuild reproduces the choices and the hires
    cells = table(live)
    a = f"emp_a_{tag}"
    assert {e for e, _, _ in cells} == {a, ""}  # B's last choice is out
    assert cells[(a, "gender", "total")] == "12"  # the hire without consent is not counted
    assert cells[(a, "gender", "male")] == cells[(a, "gender", "female")] == "suppressed"  # 1, and 11 with it
    assert cells[(a, "race_ethnicity", "white")] == "12"
    without_vault = await asyncpg.connect(stack.database_url, server_settings={"search_path": schemas[0]})
    try:
        nobody = (await release.computed(without_vault, 2026, POLICY, 3))[0]
    finally:
        await without_vault.close()
    assert table(nobody)[(a, "gender", "total")] == "0"  # demographics unreadable: nobody counted

    # One of A's hires erased: counted nowhere, and every count of the table suppressed (A's 12 less
    # the 11 of the same year made again would give the erased person's hire and categories)
    pool = await asyncpg.create_pool(
        stack.database_url, min_size=1, max_size=1, server_settings={"search_path": schemas[0]}
    )
    try:
        await apply(pool, [env(training.erased(f"cand_{tag}_1", [f"ref_{tag}_1"], []), 300)])
        async with pool.acquire() as conn:
            erased = (await release.computed(conn, 2026, POLICY, 3, vault))[0]
            unruled = hiring_by_employer(await inputs.hiring_inputs(conn, vault, 2026))  # the control
    finally:
        await pool.close()
    assert {v for v in table(erased).values()} == {"suppressed"}
    assert {k[0] for k in table(erased)} == {a, ""}
    totals = {r["employer_id"]: r["hires"] for r in unruled["tables"]["gender"] if r["category"] == "total"}
    assert totals[a] == 11  # 12 in the release made before the erasure: the 1 by subtraction


async def test_a_year_made_again_after_a_late_placement_is_held_to_its_stored_release(stack, schemas, tmp_path):  # noqa: F811
    """2026 published with A's 11 hires (every hire's person enrolled in one program), then one more
    placement at A reported late (it occurred before the release's last event) and 2026 published
    again from the later position: its hiring table differs from the stored one's, so no count of it
    is shown (12 less 11 would give the late hire and their categories), and the program that gained
    the one placed person is not named (its placed line would give them); against nothing, both
    come out."""
    vault, tag = Vault(parse_master_key(new_master_key())), uuid.uuid4().hex[:6]
    found = await sealed_hires(stack, vault, tag)
    each = len(found) // 16
    late, on_time = found[11 * each : 12 * each], found[: 11 * each] + found[12 * each :]
    x, a = f"prog_h_{tag}", f"emp_a_{tag}"
    schemas.append(f"hire_late_{tag}")
    pool = await rebuild.fresh_schema(stack.database_url, schemas[0])
    try:
        await apply(
            pool,
            [env(training.program(x), -3)]
            + [env(training.enrolled(f"enr_{tag}_{n}", f"cand_{tag}_{n}", x), -2) for n in range(16)]
            + on_time
            + [choice(a, True, 200)],  # B (three hires) not published
        )
        first, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "a", POLICY, 3, vault=vault)
        await apply(pool, late)
    finally:
        await pool.close()
    assert table(first)[(a, "gender", "total")] == "11"
    placed_before = funnel(first)["placed"][x]

    again, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "b", POLICY, 3, vault=vault)
    assert {v for v in table(again).values()} == {"suppressed"}
    assert not any(x in rows for rows in funnel(again).values())

    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": schemas[0]})
    try:
        alone = (await release.computed(conn, 2026, POLICY, 3, vault))[0]  # the control: against nothing
    finally:
        await conn.close()
    assert table(alone)[(a, "gender", "total")] == "12"  # 12 - 11: the late hire
    assert funnel(alone)["placed"][x] - placed_before == 1


def funnel(files: dict[str, bytes]) -> dict[str, dict[str, int]]:
    return program_rows(json.loads(files["tables/pipeline.json"]))
