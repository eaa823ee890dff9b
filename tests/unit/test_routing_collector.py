"""Routing's batches run with the cyclic collector paused, and leave it as they found it
(`plumbing.heap.paused`): on after a batch, also one that failed; off if it was off."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime

import pytest

from contracts import events
from plumbing import heap
from services.routing import handlers

pytestmark = pytest.mark.unit

CLOSED = events.OpeningClosedV1(
    opening_id="o1",
    employer_id="e1",
    reason=events.OpeningCloseReason.closed,
    closed_at=datetime(2026, 12, 1, tzinfo=UTC),
)


@pytest.fixture(autouse=True)
def collector_on():  # type: ignore[no-untyped-def]
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()  # as it was before, whatever the test left


def run_batch(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> list[bool]:
    """Apply a batch of one closed opening through the batch handler; what the collector was during it."""
    seen: list[bool] = []

    async def closing(ctx, env, event):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        if fail:
            raise RuntimeError("the batch fails")

    monkeypatch.setitem(handlers.HANDLERS, events.OpeningClosedV1.event_type, closing)
    batch = handlers.batch_handler_for(None)  # type: ignore[arg-type]  # no submissions: no postings read
    asyncio.run(batch(None, [(None, CLOSED)]))  # type: ignore[arg-type]
    return seen


def test_a_batch_runs_with_the_collector_paused_and_resumes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_batch(monkeypatch) == [False]
    assert gc.isenabled()


def test_a_failing_batch_resumes_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError):
        run_batch(monkeypatch, fail=True)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.disable()
    assert run_batch(monkeypatch) == [False]
    assert not gc.isenabled()


def test_overlapping_batches_resume_it_when_the_last_one_ends() -> None:
    first, second = heap.paused(), heap.paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second batch is still applying
    second.__exit__(None, None, None)
    assert gc.isenabled()
