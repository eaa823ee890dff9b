"""A large CSV's batches are mapped and validated in a worker process (`csv_import.WORKER`),
each good record sent back as its JSON and validated again in the service's process: the
answer is the one the service's own mapping gives, row for row, whichever process mapped
it, and a worker that dies costs nothing but the worker."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.intake import csv_import, mapping
from talentloop import samples

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, tzinfo=UTC)
ROOT = Path(__file__).parents[2]
ADAPTERS = mapping.load_all(ROOT / "deploy" / "adapters")
RIVERBEND = ADAPTERS[("riverbend-community-college", "csv", "referral")]


def rows_of(path: Path, adapter: mapping.Adapter) -> list[tuple[int, dict[str, str]]]:
    with path.open("rb") as file:
        return list(csv_import._rows(file, adapter))


def hostile(adapter: mapping.Adapter, good: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
    """Rows each wrong in one way (and two right ones around them)."""
    bad = [
        {"COMPETENCIES": "x" * 201},  # a skill beyond the contract
        {"RELEASE_DT": "20260230"},  # an impossible date
        {"PHONE": "12", "PERSONAL_EMAIL": "", "CAMPUS_EMAIL": "nobody"},  # no way to reach them
        {"FIRST_NM": "A\x00NA"},  # a character PostgreSQL cannot store
        {"FIRST_NM": "ÅSA \t ÖSTERGÅRD", "PERSONAL_EMAIL": "åsa@exämple.org"},  # non-ASCII, valid
        {"TARGET_SOC": "99-9999"},  # not an occupation routed to
        {"AWARD_STATUS": "LOST"},  # not a mapped value
        {"RELEASE_DT": "20990101"},  # consent in the future
        {"\0extra": "1"},  # more cells than columns
    ]
    return [(n + 2, {**good, **over}) for n, over in enumerate([{}, *bad, {}])]


def same(one: csv_import.Translated, other: csv_import.Translated) -> None:
    assert one[2] == other[2]
    assert [n for n, _ in one[0]] == [n for n, _ in other[0]]
    for (_, a), (_, b) in zip(one[0], other[0], strict=True):
        assert a == b
        assert type(a) is type(b)
        assert a.model_dump_json() == b.model_dump_json()
        consent = getattr(a, "consent", None)
        if consent is not None:  # the same kind of time zone: the event's JSON writes it alike
            assert type(consent.given_at.tzinfo) is type(b.consent.given_at.tzinfo)
    assert one[1] == other[1]


def by_worker(adapter: mapping.Adapter, batch: list[tuple[int, dict[str, str]]]) -> csv_import.Translated:
    """What the worker answers (through pickle, as between the processes), as the service reads it."""
    packed = pickle.loads(pickle.dumps(csv_import._translate_packed(adapter, [(n, dict(r)) for n, r in batch], NOW)))
    return csv_import._unpacked(adapter, batch, packed, NOW)


@pytest.mark.parametrize(
    ("key", "sample"),
    [
        (("riverbend-community-college", "csv", "referral"), "riverbend-community-college.csv"),
        (("northside-tech-collective", "csv", "referral"), "northside-tech-collective.csv"),
        (("riverbend-community-college", "csv", "training"), "riverbend-community-college.training.csv"),
    ],
)
def test_the_worker_answers_what_the_service_would_for_every_sample_file(key, sample):
    adapter = ADAPTERS[key]
    batch = rows_of(ROOT / "examples" / "partners" / sample, adapter)
    assert batch
    expected = csv_import._translate(adapter, [(n, dict(r)) for n, r in batch], NOW)
    assert expected[0]
    same(by_worker(adapter, batch), expected)


def test_the_worker_answers_what_the_service_would_for_hostile_rows():
    good = samples.riverbend_row(samples.person(1, run="worker"), "worker")
    batch = hostile(RIVERBEND, good)
    expected = csv_import._translate(RIVERBEND, [(n, dict(r)) for n, r in batch], NOW)
    assert len(expected[0]) == 3 and {n for n, _ in expected[1]} == set(range(3, 12)) - {7}
    same(by_worker(RIVERBEND, batch), expected)


def test_a_record_the_service_would_not_take_from_its_json_is_mapped_again_by_the_service(monkeypatch):
    batch = [(n + 2, samples.riverbend_row(samples.person(n, run="worker"), "worker")) for n in range(3)]
    expected = csv_import._translate(RIVERBEND, [(n, dict(r)) for n, r in batch], NOW)
    packed, bad, size = csv_import._translate_packed(RIVERBEND, [(n, dict(r)) for n, r in batch], NOW)
    packed[1] = (packed[1][0], None)  # not writable as JSON in the worker
    packed[2] = (packed[2][0], b'{"skills": []}')  # refused again
    same(csv_import._unpacked(RIVERBEND, batch, (packed, bad, size), NOW), expected)


async def test_the_worker_process_maps_a_batch_and_a_dead_worker_leaves_the_batch_to_the_thread():
    batch = [(n + 2, samples.riverbend_row(samples.person(n, run="worker"), "worker")) for n in range(40)]
    expected = csv_import._translate(RIVERBEND, [(n, dict(r)) for n, r in batch], NOW)
    await asyncio.wrap_future(csv_import.WORKER.start())
    pool = csv_import.WORKER.ready()
    assert pool is not None
    same(await csv_import._translated(RIVERBEND, batch, NOW, True), expected)

    (pid,) = pool._processes  # the one worker
    os.kill(pid, signal.SIGKILL)
    # The pool notices the death on its next call; the batch is mapped in the thread instead,
    # and the next large import starts another worker.
    same(await csv_import._translated(RIVERBEND, batch, NOW, True), expected)
    assert csv_import.WORKER.ready() is not pool

