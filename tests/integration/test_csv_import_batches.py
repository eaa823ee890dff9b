"""The CSV import across batch boundaries, on real PostgreSQL: the later of two rows of one
person is the duplicate whichever batches they are in, and every count, error line and
progress step comes in file order.

A change that lets batches overlap must keep this passing; `bc64ca9` had a version of this
test that forced the next batch's transaction to start before the one before it committed
(kept out with that overlap: docs/performance.md, thirteenth session, "Intake: the CSV
import's batches overlapped")."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path

import pytest

from services.intake import csv_import, mapping, store
from talentloop import samples
from tests.integration import intake_world
from tests.integration.intake_world import tag

pytestmark = pytest.mark.integration
intake = intake_world.intake  # the fixture: intake's dependencies on a migrated schema
ADAPTERS = Path(__file__).parents[2] / "deploy" / "adapters"
PARTNER = "riverbend-community-college"


@pytest.mark.parametrize("in_worker", [False, True], ids=["thread", "worker"])
async def test_the_later_row_is_the_duplicate_across_batches_and_all_comes_in_file_order(
    pool, intake, monkeypatch, in_worker
):
    # A file this small counts as large here, so the setting alone decides where it is mapped.
    monkeypatch.setattr(csv_import, "WORKER_FROM_BYTES", 0)
    if in_worker:  # TALENTLOOP_CSV_WORKER=true: mapped in the worker process, as a large file is
        intake = dataclasses.replace(intake, settings=intake.settings.model_copy(update={"csv_worker": True}))
        await asyncio.wrap_future(csv_import.WORKER.start())
    else:  # TALENTLOOP_CSV_WORKER=false: in the thread, the worker never started
        intake = dataclasses.replace(intake, settings=intake.settings.model_copy(update={"csv_worker": False}))

        def refused() -> None:
            raise AssertionError("the worker was started with the setting off")

        monkeypatch.setattr(csv_import.WORKER, "start", refused)
    run = tag()
    people = [samples.person(n, run=run) for n in range(5)]

    def row(n: int, student_id: str | None = None) -> dict[str, str]:
        r = samples.riverbend_row(people[n], run=run)
        if student_id:  # the same person under another reference: a duplicate by person and target
            r["STUDENT_ID"] = student_id.upper()
        return r

    # Batches of two (spreadsheet rows 2-3, 4-5, 6-7, 8-9): each repeat is in a later batch
    # than its first row, the next batch or the one after.
    rows = [row(0), row(1), row(0), row(2), row(1, f"X{run}"), row(3), row(2), row(4)]
    content = samples.csv_text(list(rows[0]), rows).encode()

    adapter = mapping.load_all(ADAPTERS)[(PARTNER, "csv", "referral")]
    import_id = f"imp_{run}"
    assert await store.start_import(pool, import_id, PARTNER, "batches.csv", run, None) is not None
    progress = csv_import.Progress(import_id, len(content))
    steps = []
    async for step in csv_import.run(pool, intake, adapter, io.BytesIO(content), progress, correlation_id="t", batch=2):
        steps.append((step.rows, step.accepted, step.duplicates, step.rejected))

    assert steps == [(2, 2, 0, 0), (4, 3, 1, 0), (6, 4, 2, 0), (8, 5, 3, 0)]
    accepted = {
        r["external_id"]: r["referral_id"]
        for r in await pool.fetch(
            "SELECT external_id, referral_id FROM referrals WHERE partner_id = $1 AND external_id LIKE $2",
            PARTNER,
            f"%{run.upper()}%",
        )
    }
    assert sorted(accepted) == sorted(row(n)["STUDENT_ID"] for n in range(5))  # the first row of each person
    errors = [(e["row_number"], e["code"], e["referral_id"]) for e in await store.import_errors(pool, import_id)]
    first = [accepted[row(n)["STUDENT_ID"]] for n in range(3)]
    assert errors == [
        (4, "duplicate-referral", first[0]),
        (6, "duplicate-referral", first[1]),
        (8, "duplicate-referral", first[2]),
    ]
    summary = await pool.fetchrow(
        "SELECT rows, accepted, duplicates, rejected FROM imports WHERE import_id = $1", import_id
    )
    assert tuple(summary) == (8, 5, 3, 0)
