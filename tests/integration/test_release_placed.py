"""Placements gained between two stored releases held to the across-years rule (issue 16;
docs/transparency.md, "Across years"), on real PostgreSQL through outcomes' own handler: in 2025 a
program's 15 people, 12 of them placed; in 2026 two more of them placed and nobody joins (another
program gains twelve people, all placed). The 2026 release must not name the program (14 placed less 12 would give the 2); made without the stored 2025
release it would."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from services.outcomes import rebuild
from services.outcomes.reports.groups import SMALL_GROUPS
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, schemas  # noqa: F401
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_release_across_years import YEAR_BEFORE, apply, people, programs
from tests.integration.test_release_store import POLICY
from tests.support import training_events as training

pytestmark = pytest.mark.integration


def placed(tag: str, program: str, numbers: range, hours: float) -> list:
    """The referral lifecycle (to placed) of each numbered person of `people(tag, program, ...)`."""
    return [
        env(p, hours + n / 60 + i / 600)
        for n in numbers
        for i, p in enumerate(lifecycle(f"{tag}_{program}_{n}"))  # lifecycle's candidate: cand_<ref>
    ]


async def published_placed_2025(stack, schemas, tmp_path, tag: str) -> tuple[asyncpg.Pool, dict[str, bytes]]:  # type: ignore[no-untyped-def]  # noqa: F811
    """A fresh schema where x (15 people, 12 of them placed) and y (14) are published as 2025's release;
    its pool, the files."""
    x, y = f"prog_x_{tag}", f"prog_y_{tag}"
    schemas.append(f"rel_placed_{tag}")
    pool = await rebuild.fresh_schema(stack.database_url, schemas[0])
    try:
        await apply(
            pool,
            [env(training.program(x), YEAR_BEFORE), env(training.program(y), YEAR_BEFORE)]
            + people(tag, x, range(15), YEAR_BEFORE + 1)
            + people(tag, y, range(14), YEAR_BEFORE + 1)
            + placed(tag, x, range(12), YEAR_BEFORE + 2),
        )
        before, _ = await release.publish(stack.database_url, schemas[0], 2025, tmp_path / "y2025", POLICY, 3)
    except BaseException:
        await pool.close()
        raise
    assert programs(before, "placed") == {x: 12, y: 0}
    return pool, before


async def test_placements_gained_since_the_stored_release_are_held_to_the_rule(stack, schemas, tmp_path):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    x, y = f"prog_x_{tag}", f"prog_y_{tag}"
    pool, _ = await published_placed_2025(stack, schemas, tmp_path, tag)
    try:
        # 2026: two more of x's people placed, nobody joins x; twelve join y, all placed (else the
        # coalition's placed grew by 2 and the rule suppresses every people figure)
        await apply(
            pool,
            placed(tag, x, range(12, 14), 1) + people(tag, y, range(14, 26), 2) + placed(tag, y, range(14, 26), 3),
        )
    finally:
        await pool.close()

    after, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "y2026", POLICY, 3)
    assert json.loads(after["release.json"])["suppressed_against"][0]["year"] == 2025
    # x's 2 placed in 2026: x is not named, and y joins it in the combined row (else the row is x's)
    assert programs(after) == {SMALL_GROUPS: 41}

    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": schemas[0]})
    try:
        alone = (await release.computed(conn, 2026, POLICY, 3))[0]  # not against 2025: the control
    finally:
        await conn.close()
    assert programs(alone) == {x: 15, y: 26}
    assert programs(alone, "placed") == {x: 14, y: 12}  # x's 14 - 12: the two placed in 2026
