"""A release suppressed against the earlier year's release the schema stores (issue 16), on real
PostgreSQL: the 2025 release is published and stored, a year of enrollments follows, and the 2026
release names no program whose joiners since 2025 are 1 to 10 people (release.json says which
release it was suppressed against); made without the earlier release, it would name it."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import asyncpg
import pytest

from contracts import Envelope
from services.outcomes import rebuild
from services.outcomes.handlers import batch_handler
from services.outcomes.public_api import stored_releases
from services.outcomes.reports.groups import SMALL_GROUPS
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, schemas  # noqa: F401
from tests.integration.test_release_store import POLICY
from tests.support import training_events as training

pytestmark = pytest.mark.integration

YEAR_BEFORE = -24 * 400  # hours from the tests' T0 (2026-11-02): in 2025


async def apply(pool: asyncpg.Pool, found: list[Envelope]) -> None:
    """The events through outcomes' own batch handler, as the live consumer applies them."""
    result = rebuild.Result("test")
    items = [rebuild._parse(e.to_bytes(), result) for e in found]  # noqa: SLF001
    await rebuild._apply(pool, batch_handler(live=False), [i for i in items if i], result)  # noqa: SLF001


def people(tag: str, program: str, numbers: range, hours: float) -> list[Envelope]:
    return [
        env(training.enrolled(f"enr_{tag}_{program}_{n}", f"cand_{tag}_{program}_{n}", program), hours + n / 60)
        for n in numbers
    ]


def programs(files: dict[str, bytes], figure: str = "participants") -> dict[str, int | str]:
    """Each row of program_outcomes: its program (or the combined row) -> its `figure`."""
    table = json.loads(files["tables/program_outcomes.json"])
    program, count = table["columns"].index("program"), table["columns"].index(figure)
    return {r[program]: r[count] for r in table["rows"]}


async def published_2025(stack, schemas, tmp_path, tag: str) -> tuple[asyncpg.Pool, dict[str, bytes]]:  # type: ignore[no-untyped-def]  # noqa: F811
    """A fresh schema where x (15 people) and y (14) are published as 2025's release; its pool, the files."""
    x, y = f"prog_x_{tag}", f"prog_y_{tag}"
    schemas.append(f"rel_years_{tag}")
    pool = await rebuild.fresh_schema(stack.database_url, schemas[0])
    try:
        await apply(
            pool,
            [env(training.program(x), YEAR_BEFORE), env(training.program(y), YEAR_BEFORE)]
            + people(tag, x, range(15), YEAR_BEFORE + 1)
            + people(tag, y, range(14), YEAR_BEFORE + 1),
        )
        before, _ = await release.publish(stack.database_url, schemas[0], 2025, tmp_path / "y2025", POLICY, 3)
    except BaseException:
        await pool.close()
        raise
    assert programs(before) == {x: 15, y: 14}
    return pool, before


async def test_the_2026_release_is_suppressed_against_the_stored_2025_release(stack, schemas, tmp_path):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    x, y = f"prog_x_{tag}", f"prog_y_{tag}"
    pool, before = await published_2025(stack, schemas, tmp_path, tag)
    try:
        # 2026: three people join x, twelve join y
        await apply(pool, people(tag, x, range(15, 18), 1) + people(tag, y, range(14, 26), 1))
    finally:
        await pool.close()

    after, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "y2026", POLICY, 3)
    manifest = json.loads(after["release.json"])
    sha = release.hashlib.sha256(before["release.json"]).hexdigest()
    assert manifest["suppressed_against"] == [{"year": 2025, "release_sha256": sha}]
    # x's 3 joiners: x is not named, and y joins it in the combined row (else the row would be x's)
    assert programs(after) == {SMALL_GROUPS: 44}
    assert "release of 2025" in after["methods.html"].decode()
    again, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "y2026", POLICY, 3)
    assert again == after  # the release stored from this very position is not one to suppress against

    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": schemas[0]})
    try:
        alone = (await release.computed(conn, 2026, POLICY, 3))[0]  # not against 2025: the control
    finally:
        await conn.close()
    assert programs(alone) == {x: 18, y: 26}  # 18 - 15: the three who joined x, a group of 3


async def test_a_late_event_of_the_stored_year_is_held_against_what_that_release_published(stack, schemas, tmp_path):  # noqa: F811
    """An enrollment that occurred in 2025 before the 2025 release's last event but arrived after it
    was published: the 2025 release named x with 15, the ledger now says x had 16 by then. Held to
    what 2025 published, the 2026 release does not name x with 16; held to the ledger read again, it
    would (16 - 15: that one person)."""
    tag = uuid.uuid4().hex[:6]
    x, y = f"prog_x_{tag}", f"prog_y_{tag}"
    pool, before = await published_2025(stack, schemas, tmp_path, tag)
    try:
        # late: occurred before the 2025 release's last event (y's enrollments), recorded after it
        await apply(pool, people(tag, x, range(15, 16), YEAR_BEFORE))  # at YEAR_BEFORE + 15 minutes
        await apply(pool, people(tag, y, range(14, 26), 1))  # 2026: twelve join y
    finally:
        await pool.close()

    after, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "y2026", POLICY, 3)
    assert programs(after) == {SMALL_GROUPS: 42}  # x's 16 - 15 = 1: x not named, y joins it (else the row is x's)

    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": schemas[0]})
    try:
        stored = await stored_releases(conn)
        assert stored[0].published["enrolled"] == {x: 15, y: 14}  # what the 2025 release showed
        # what it computed, stored with it, says 15 too: held to that alone x is not named either
        computed_only = [replace(s, published=None) for s in stored[:1]]
        assert programs((await release.computed(conn, 2026, POLICY, 3, earlier=computed_only))[0]) == {SMALL_GROUPS: 42}
        # the control: its figures read again from the ledger, as before the fix
        ledger_only = [replace(s, published=None, held=None) for s in stored[:1]]
        alone = (await release.computed(conn, 2026, POLICY, 3, earlier=ledger_only))[0]
    finally:
        await conn.close()
    assert programs(alone) == {x: 16, y: 26}  # 16 - 15: the late one, recovered
