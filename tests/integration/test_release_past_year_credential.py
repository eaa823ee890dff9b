"""A past year's release made again after the erasure of a person who earned a credential that year
(issue 16; docs/transparency.md, "A past year"), end to end on real PostgreSQL through outcomes' own
handler: 2025 is published with fifteen people who each earned the program's credential; in 2026 one
of them is erased (their `credential.earned` redacted: `EarnedCredentialRecord.erased`), three join
and 2026 is published; 2025 published again works, erasure wins (the erased person's credential is in
no credential's row), only the files the docs name change, and the attacker over the stored releases
recovers nothing."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from services.outcomes import rebuild
from services.outcomes.reports.credentials import FIGURES
from services.outcomes.reports.groups import SMALL_GROUPS
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, schemas  # noqa: F401
from tests.integration.test_outcomes_store import lifecycle
from tests.integration.test_release_across_years import YEAR_BEFORE, apply
from tests.integration.test_release_store import POLICY
from tests.support import training_events as training

pytestmark = pytest.mark.integration


def earners(tag: str, program: str, numbers: range, hours: float) -> list:
    """Each numbered person enrolled in `program` and earning its credential (training's `Canary A+`)."""
    out = []
    for n in numbers:
        enr, cand = f"enr_{tag}_{n}", f"cand_{tag}_{program}_{n}"
        out += [
            env(training.enrolled(enr, cand, program), hours + n / 60),
            env(training.earned(enr, cand, pid=program), hours + 1 + n / 60),
        ]
    return out


def table(files: dict[str, bytes], name: str) -> list[dict]:
    doc = json.loads(files[f"tables/{name}.json"])
    return [dict(zip(doc["columns"], r, strict=True)) for r in doc["rows"]]


async def test_a_past_year_made_again_after_a_credential_earners_erasure(stack, schemas, tmp_path):  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    x = f"prog_x_{tag}"
    ref = f"{tag}_{x}_14"  # the 15th person's referral: lifecycle's candidate is cand_<ref>, theirs
    schemas += [f"rel_pastc_{tag}", f"rel_pastc_{tag}_as_of"]
    live = schemas[0]
    pool = await rebuild.fresh_schema(stack.database_url, live)
    try:
        await apply(
            pool,
            [env(training.program(x), YEAR_BEFORE)]
            + earners(tag, x, range(15), YEAR_BEFORE + 1)
            + [env(p, YEAR_BEFORE + 3 + i / 10) for i, p in enumerate(lifecycle(ref))],
        )
        before, _ = await release.publish(stack.database_url, live, 2025, tmp_path / "a", POLICY, 3)
        # 2026: the 15th person is erased, three join x and earn the credential, 2026 is published
        erasure = training.erased(f"cand_{ref}", [ref], [f"enr_{tag}_14"])
        await apply(pool, [env(erasure, 1)] + earners(tag, x, range(15, 18), 2))
        y2026, _ = await release.publish(stack.database_url, live, 2026, tmp_path / "b", POLICY, 3)
    finally:
        await pool.close()

    again, _ = await release.publish(stack.database_url, live, 2025, tmp_path / "c", POLICY, 3)  # no KeyError
    changed = {p.split("/")[-1].rsplit(".", 1)[0] for p in before if again.get(p) != before[p]}
    assert changed == {"release", "pipeline", "credential_outcomes"}  # as the docs name them
    assert json.loads(again["release.json"])["ledger_position"] == json.loads(before["release.json"])["ledger_position"]

    # Erasure wins: the credential is named no more, neither in the funnel nor in credential outcomes
    # (its 14 other earners and the erased one's unnamed credential go to the combined row) ...
    assert {r["group"] for r in table(before, "pipeline") if r["dimension"] == "credential"} == {"Canary A+"}
    assert {r["group"] for r in table(again, "pipeline") if r["dimension"] == "credential"} == {SMALL_GROUPS}
    assert [r["name"] for r in table(before, "credential_outcomes")] == ["Canary A+"]
    assert [r["name"] for r in table(again, "credential_outcomes")] == [SMALL_GROUPS]

    # ... and the counts stay: every people figure of the row is the same, so subtracting the two stored
    # releases of 2025 gives 0 everywhere (made naming the credential with 14 earners, it gives the 1)
    def lines(files: dict[str, bytes]) -> list:
        return [(r["line"], r["people"]) for r in table(files, "pipeline") if r["dimension"] == "credential"]

    assert lines(again) == lines(before) and ("placed", 1) in lines(before)
    (then,), (now,) = table(before, "credential_outcomes"), table(again, "credential_outcomes")
    assert {f: now[f] for f in FIGURES} == {f: then[f] for f in FIGURES}
    assert then["credential_earned"] == then["participants"] == 15
    # the other tables: byte for byte; both releases stored, 2026 after the erasure too
    assert table(again, "program_outcomes") == table(before, "program_outcomes")
    conn = await asyncpg.connect(stack.database_url, server_settings={"search_path": live})
    try:
        assert await conn.fetchval("SELECT count(*) FROM releases WHERE year = 2025") == 2
    finally:
        await conn.close()
    assert {r["name"] for r in table(y2026, "credential_outcomes")} == {SMALL_GROUPS}  # never named again
    assert {r["group"] for r in table(y2026, "pipeline") if r["dimension"] == "credential"} == {SMALL_GROUPS}
