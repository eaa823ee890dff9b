"""A past year's release once later events exist (issue 16 item 5), on real PostgreSQL: the 2025
release is published, 2026 brings more people, the erasure of a person counted in 2025 and the
2026 release; publishing 2025 again replays the ledger to 2025's end (`services.outcomes.as_of`)
and gives the very same bytes, with the erased person's rows redacted and counted under the
erasure's key (erasure applies, docs/transparency.md "A past year")."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from services.outcomes import as_of, rebuild
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, schemas  # noqa: F401
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_release_across_years import YEAR_BEFORE, apply, people, programs
from tests.integration.test_release_store import POLICY
from tests.support import training_events as training

pytestmark = pytest.mark.integration


def enrolled_in_pipeline(files: dict[str, bytes], program: str) -> int:
    table = json.loads(files["tables/pipeline.json"])
    (row,) = [r for r in table["rows"] if r[0] == "program" and r[1] == program and r[3] == "enrolled"]
    return row[4]


async def test_a_past_year_published_after_later_events_and_an_erasure_gives_the_same_bytes(stack, schemas, tmp_path):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    x = f"prog_x_{tag}"
    ref, enr = f"ref_{tag}", f"enr_{tag}_gone"
    cand = f"cand_{ref}"  # (lifecycle's candidate)
    schemas += [f"rel_past_{tag}", f"rel_past_{tag}_as_of", f"rel_past_{tag}_probe"]
    live = schemas[0]
    pool = await rebuild.fresh_schema(stack.database_url, live)
    try:
        # 2025: a program of 14 people, and a 15th referred, placed and enrolled in it
        await apply(
            pool,
            [env(training.program(x), YEAR_BEFORE)]
            + people(tag, x, range(14), YEAR_BEFORE + 1)
            + [env(p, YEAR_BEFORE + 2 + i) for i, p in enumerate(lifecycle(ref))]
            + [env(training.enrolled(enr, cand, x), YEAR_BEFORE + 9)],
        )
        before, _ = await release.publish(stack.database_url, live, 2025, tmp_path / "a", POLICY, 3)
        assert enrolled_in_pipeline(before, x) == 15 and programs(before) == {x: 15}
        # 2026: three join x, the 15th person is erased, and 2026 is published (and stored)
        await apply(
            pool,
            people(tag, x, range(14, 17), 1) + [env(training.erased(cand, [ref], [enr]), 5)],
        )
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM ledger WHERE redacted_at IS NOT NULL AND occurred_at < $1", release.year_end(2025)
            )
            == 7
        )  # the referral's six rows and the enrollment (the erasure is of 2026)
        await release.publish(stack.database_url, live, 2026, tmp_path / "b", POLICY, 3)
    finally:
        await pool.close()

    again, _ = await release.publish(stack.database_url, live, 2025, tmp_path / "c", POLICY, 3)
    assert again == before  # every file, release.json (its ledger position) included
    assert (tmp_path / "c" / "release.json").read_bytes() == before["release.json"]
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schemas[1]) == 0  # dropped
        assert await conn.fetchval(f'SELECT count(*) FROM "{live}".releases WHERE year = 2025') == 1  # stored once
    finally:
        await conn.close()

    # The replay itself: the year's events only, the erased person's rows redacted and counted under
    # the erasure's key (as the live projections count them), never with what the erasure removed.
    replayed = await as_of.replay_until(stack.database_url, live, schemas[2], release.year_end(2025))
    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": schemas[2]})
    try:
        assert replayed == await conn.fetchval("SELECT count(*) FROM ledger") == 1 + 14 + 6 + 1
        assert await conn.fetchval("SELECT max(occurred_at) FROM ledger") < release.year_end(2025)
        row = await conn.fetchrow(
            "SELECT person_key, candidate_id, demographics_sealed FROM referral_facts WHERE referral_id = $1", ref
        )
        assert row["person_key"].startswith("erased:") and row["demographics_sealed"] is None
        assert (
            await conn.fetchval("SELECT person_key FROM enrollment_facts WHERE enrollment_id = $1", enr)
            == (row["person_key"])
        )  # one person still: counted once, as in 2025
        text = " ".join(r["envelope"] for r in await conn.fetch("SELECT envelope::text FROM ledger"))
        assert cand not in text and "Credential of" not in text
        assert await conn.fetchval("SELECT count(*) FROM enrollment_facts") == 15
    finally:
        await conn.close()
