"""The annual release (`talentloop publish`, issue 16 item 5) on real PostgreSQL and Kafka: the same
ledger gives byte-identical files twice and after a rebuild from the topics; the release records
the ledger position it was made from; the projections refuse a year the ledger has moved past (the
command replays the ledger for it: test_release_past_year.py) and one with no event; the files are
written into a directory that holds nothing else or an earlier release."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from services.outcomes import rebuild
from services.outcomes.reports import GoodJobPolicy
from talentloop import publish as release
from tests.integration.test_outcomes_rebuild import env, history, live_hash, publish, schemas, topics  # noqa: F401
from tests.integration.test_withdraw_update_erase import opening
from tests.support import training_events as training

pytestmark = pytest.mark.integration

POLICY = GoodJobPolicy(Decimal("25.00"), "test threshold")


def found(tag: str) -> list:
    """The rebuild test's history, twelve more people through one program (a named group of the
    coalition funnel) and openings of three employers (a shown demand cell); all in 2026."""
    out = history(tag)
    for n in range(12):
        out += [
            env(training.enrolled(f"enr_{tag}_x{n}", f"cand_x{n}", f"prog_{tag}"), 5 + n),
            env(training.completed(f"enr_{tag}_x{n}", f"cand_x{n}", pid=f"prog_{tag}"), 30 + n),
        ]
    for n, employer in enumerate(("emp1", "emp2", "emp3")):
        posted = opening(f"opn_{tag}_e{n}", ["python"], capacity=2).model_copy(update={"employer_id": employer})
        out.append(env(posted, 110 + n))
    return out


async def files_of(database_url: str, schema: str, year: int = 2026) -> dict[str, bytes]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        return (await release.computed(conn, year, POLICY, 3))[0]
    finally:
        await conn.close()


async def test_the_release_is_byte_identical_twice_and_after_a_rebuild(stack, topics, schemas, tmp_path):  # noqa: F811
    placed = [(topics[0], e) for e in found("rel")]
    await publish(stack.bootstrap, placed)
    schemas += ["rel_live_" + uuid.uuid4().hex[:6], "rel_built_" + uuid.uuid4().hex[:6]]
    await live_hash(stack, schemas[0], placed)
    pool = await rebuild.fresh_schema(stack.database_url, schemas[1])
    try:
        await rebuild.replay(stack.bootstrap, pool, rebuild.Result(schemas[1]), batch=7, topics=topics)
        ledger = await pool.fetch("SELECT event_id FROM ledger ORDER BY event_id")
    finally:
        await pool.close()

    first = await files_of(stack.database_url, schemas[0])
    assert await files_of(stack.database_url, schemas[0]) == first
    assert await files_of(stack.database_url, schemas[1]) == first  # rebuilt: other sequence numbers, same files

    manifest = json.loads(first["release.json"])
    position = manifest["ledger_position"]
    assert position["events"] == len(ledger) > 0
    assert position["last_event_at"].startswith("2026-")
    expected = release.hashlib.sha256(b"".join(str(r["event_id"]).encode() + b"\n" for r in ledger)).hexdigest()
    assert position["event_ids_sha256"] == expected
    pipeline = json.loads(first["tables/pipeline.json"])
    program = [r for r in pipeline["rows"] if r[0] == "program" and r[3] == "enrolled"]
    # 12 + the history's two (an erased person's enrollment stays counted, redacted, as in every report)
    assert program == [["program", "prog_rel", "training", "enrolled", 14]]
    today = json.loads(first["tables/demand_today.json"])["rows"]
    assert today[0][:6] == ["15-1252.00", "not_said", 3, 6, "cell", ""]

    out = tmp_path / "site"
    written, removed = await release.publish(stack.database_url, schemas[1], 2026, out, POLICY, 3)
    assert written == first and removed == []
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == set(first)
    assert (out / "tables" / "pipeline.csv").read_bytes() == first["tables/pipeline.csv"]


async def test_a_year_the_ledger_has_moved_past_is_refused(stack, topics, schemas, tmp_path, monkeypatch):  # noqa: F811
    placed = [(topics[0], e) for e in found("old")]
    await publish(stack.bootstrap, placed)
    schemas.append("rel_old_" + uuid.uuid4().hex[:6])
    await live_hash(stack, schemas[0], placed)
    with pytest.raises(release.NotPublishable, match="occurred after 2025 ended"):
        await files_of(stack.database_url, schemas[0], 2025)
    # The command itself: the same refusal, exit 1; then the year that holds the ledger's events.
    from typer.testing import CliRunner

    from talentloop.cli import app

    monkeypatch.setenv("DATABASE_URL", stack.database_url)

    def run(*argv: str):  # type: ignore[no-untyped-def]  # the command runs its own event loop: not on this one
        return asyncio.to_thread(CliRunner().invoke, app, list(argv))

    args = ["publish", "--schema", schemas[0], "--home", str(tmp_path / "home")]
    # (the command replays the ledger to a past year's end: this one holds no event of 2025)
    refused = await run(*args, "--year", "2025", "--out", str(tmp_path / "y2025"))
    assert refused.exit_code == 1 and "no event that occurred by the end of 2025" in refused.output
    done = await run(*args, "--year", "2026", "--out", str(tmp_path / "y2026"))
    assert done.exit_code == 0, done.output
    assert (tmp_path / "y2026" / "release.json").read_bytes() == (await files_of(stack.database_url, schemas[0]))[
        "release.json"
    ]
    assert "ledger position" in done.output
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(release.NotPublishable, match="not empty"):
        await release.publish(stack.database_url, schemas[0], 2026, taken, POLICY, 3)
    assert not (taken / "index.html").exists()


def test_an_earlier_release_in_the_directory_is_replaced_and_its_extra_files_removed(tmp_path: Path):
    out = tmp_path / "site"
    release.write(
        out,
        {
            "index.html": b"old",
            "tables/gone.csv": b"x",
            "release.json": json.dumps({"files": {"index.html": "", "tables/gone.csv": ""}}).encode(),
        },
    )
    removed = release.write(out, {"index.html": b"new", "release.json": b'{"files": {"index.html": ""}}'})
    assert removed == ["tables/gone.csv"]
    assert (out / "index.html").read_bytes() == b"new" and not (out / "tables" / "gone.csv").exists()
