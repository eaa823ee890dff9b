"""Placements (a figure of the program outcomes that is not people) gained between two stored releases
held to the across-years rule (issue 16; docs/transparency.md, "Across years"), on real PostgreSQL
through outcomes' own handler: in 2025 a program's 15 people, 12 of them placed; in 2026 three of the
placed are placed again by a second referral and nobody joins (another program gains twelve people, all
placed). The program's placed people stay 12, its placements go from 12 to 15: the 2026 release must
not name it; held only to the lines held before (people, training, stages to 90 days) it would, and 15
less 12 would give the three placements."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from services.outcomes.public_api import stored_releases
from services.outcomes.reports import across_years
from services.outcomes.reports.groups import SMALL_GROUPS
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, schemas  # noqa: F401
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_release_across_years import apply, people, programs
from tests.integration.test_release_placed import placed, published_placed_2025
from tests.integration.test_release_store import POLICY
from tests.integration.test_withdraw_update_erase import routed, submitted

pytestmark = pytest.mark.integration


def placed_again(tag: str, program: str, numbers: range, hours: float) -> list:
    """A second referral of each numbered person of `people(tag, program, ...)`, to placed."""
    out = []
    for n in numbers:
        ref, cand = f"again_{tag}_{program}_{n}", f"cand_{tag}_{program}_{n}"
        steps = [submitted(ref, "python", cand=cand), routed(ref, cand=cand), *lifecycle(ref)[2:]]
        out += [env(p, hours + n / 60 + i / 600) for i, p in enumerate(steps)]
    return out


async def test_placements_gained_by_the_same_people_are_held_to_the_rule(stack, schemas, tmp_path, monkeypatch):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    x, y = f"prog_x_{tag}", f"prog_y_{tag}"
    pool, before = await published_placed_2025(stack, schemas, tmp_path, tag)
    try:
        assert programs(before, "placements") == {x: 12, y: 0}
        held = json.loads(await pool.fetchval("SELECT held FROM releases"))  # what it computed, stored with it
        assert held["figures"]["placements"] == {x: 12} and held["blocks"] == {x: x, y: y}
        await apply(
            pool,
            placed_again(tag, x, range(3), 1) + people(tag, y, range(14, 26), 2) + placed(tag, y, range(14, 26), 3),
        )
    finally:
        await pool.close()

    after, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "y2026", POLICY, 3)
    # x's placements 12 -> 15 with the same 12 placed people: x not named, y joins it
    assert programs(after) == {SMALL_GROUPS: 41}

    # the control: held only to the lines held before, x is named and 15 - 12 gives the three
    monkeypatch.setattr(across_years, "LINES_HELD", ("enrolled", *across_years.TRAINING_LINES, *across_years.STAGES))
    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": schemas[0]})
    try:
        old = (await release.computed(conn, 2026, POLICY, 3, earlier=(await stored_releases(conn))[:1]))[0]
    finally:
        await conn.close()
    assert programs(old) == {x: 15, y: 26}
    assert programs(old, "placed") == {x: 12, y: 12} and programs(old, "placements") == {x: 15, y: 12}
