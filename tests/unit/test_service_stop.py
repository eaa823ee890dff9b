"""A service's stop is bounded: a task that ignores its cancellation and a pool whose close()
never returns are reported and forced, so SIGTERM (or a test's teardown) ends."""

from __future__ import annotations

import asyncio

import pytest

from plumbing import service

pytestmark = pytest.mark.unit


class Producer:
    stopped = False

    async def stop(self) -> None:
        self.stopped = True


class Pool:
    """asyncpg's close() waits for every connection to come back: here, one never does."""

    terminated = False

    async def close(self) -> None:
        await asyncio.Event().wait()

    def terminate(self) -> None:
        self.terminated = True


async def test_a_stuck_task_and_a_pool_that_never_closes_do_not_stop_the_stop(monkeypatch) -> None:
    monkeypatch.setattr(service, "STOP_WAIT_S", 0.05)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # ignores its cancellation until released

    async def failing() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("the connection was gone") from None

    stuck = asyncio.create_task(stubborn(), name="stubborn")
    broken = asyncio.create_task(failing(), name="failing")
    well = asyncio.create_task(asyncio.Event().wait(), name="well")
    await asyncio.sleep(0)
    producer, pool = Producer(), Pool()
    report = await asyncio.wait_for(service._stop("t", (stuck, broken, well), producer, pool), 5)
    assert report == {"failed": ["failing"], "stuck": ["stubborn"], "pool_terminated": True}
    assert pool.terminated and producer.stopped and well.cancelled() and not stuck.done()
    release.set()  # let the stubborn task end, so it does not outlive the test
    await stuck
