"""Four releases, 2023 to 2026, published one after the other on real PostgreSQL through outcomes'
own handler (issue 16; docs/transparency.md, "Across years"), each suppressed against the releases
stored before it, attacked together: a program gains 3 people a year (one or two of them placed), so
without the rule every pair of releases, and every combination of them, gives its joiners and
placed back. The unit test's attacker (tests/unit/test_release_many_years.py) reads the published
files and recovers nothing; made each year without the stored releases, it recovers them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from contracts import events
from services.outcomes import rebuild
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, schemas  # noqa: F401
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_release_across_years import apply
from tests.integration.test_release_store import POLICY
from tests.integration.test_withdraw_update_erase import T0
from tests.support import training_events as training
from tests.unit.test_release_many_years import FOUR, YEARS, attack_all
from tests.unit.test_reports_suppression import recovered

pytestmark = pytest.mark.integration


def program(pid: str, provider: str) -> events.ProgramRegisteredV1:
    """A program leading to its own credential, `Cert <pid>` (as the unit test's dataset)."""
    registered = training.program(pid, provider)
    return registered.model_copy(update={"credential": events.CredentialRequirement(name=f"Cert {pid}")})


def year_events(tag: str, year: int, then: dict, now: dict) -> list:
    """What happened in `year`: the people who joined each program and those placed (the first of
    each program's people, as the unit dataset places them), from `then`'s figures to `now`'s."""
    hours = (datetime(year, 3, 1, tzinfo=UTC) - T0).total_seconds() / 3600
    out = [env(program(p, provider), hours) for p, (provider, _, _) in now.items() if p not in then]
    for p, (provider, people, placed) in now.items():
        _, people_then, placed_then = then.get(p, (provider, 0, 0))
        for n in range(people_then, people):
            cand = f"cand_{tag}_{p}_{n}"  # lifecycle's candidate for the referral below
            out.append(env(training.enrolled(f"enr_{tag}_{p}_{n}", cand, p, provider), hours + 1 + n / 60))
        for n in range(placed_then, placed):
            out += [env(e, hours + 2 + n / 60 + i / 600) for i, e in enumerate(lifecycle(f"{tag}_{p}_{n}"))]
    return out


async def test_four_releases_each_suppressed_against_those_stored_before_give_nothing_back(stack, schemas, tmp_path):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    schemas.append(f"rel_years4_{tag}")
    pool = await rebuild.fresh_schema(stack.database_url, schemas[0])
    published, alone = [], []
    try:
        for year, then, now in zip(YEARS, [{}, *FOUR], FOUR, strict=False):
            await apply(pool, year_events(tag, year, then, now))
            files, _ = await release.publish(stack.database_url, schemas[0], year, tmp_path / f"y{year}", POLICY, 3)
            published.append(files)
            async with pool.acquire() as conn:
                alone.append((await release.computed(conn, year, POLICY, 3))[0])  # not against any: the control
    finally:
        await pool.close()

    assert [len(json.loads(f["release.json"])["suppressed_against"]) for f in published] == [0, 1, 2, 3]
    assert recovered(attack_all(FOUR, published)) == {}
    found = recovered(attack_all(FOUR, alone))
    assert found[("joined", 2023, 2026, "P1", "people")] == (9, 9, 9)
    assert found[("joined", 2025, 2026, "P1", "placed")] == (1, 1, 1)
    # the same year again from the same ledger: the same bytes (suppressed against what it was then)
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval(f'SELECT count(*) FROM "{schemas[0]}".releases') == 4
    finally:
        await conn.close()
    again, _ = await release.publish(stack.database_url, schemas[0], 2026, tmp_path / "again", POLICY, 3)
    assert again == published[-1]
