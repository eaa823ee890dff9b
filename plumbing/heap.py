"""Keeping a service's long-lived objects out of the cyclic garbage collector's way.

A service holds many long-lived objects (its modules, contract models and validators, and
whatever it builds once: routing's postings index) and allocates many short-lived ones per
batch, almost none in cycles. Full collections then walk every long-lived object again and
again: 11 % of routing's CPU (bench/routing.py at ee0512b) and 12-17 % of outcomes' (the
pipeline benchmark at 30,000 referrals, db39e29). Frozen objects are still freed by reference
counting; only the cycle finder stops walking them."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# The young generation's threshold every service settles with after start-up (default 700): a
# batch's or a request's objects live until it ends and almost none are in cycles, so young
# collections walked and promoted them only for the older ones to walk them again. Measured
# per service in docs/performance.md: outcomes (bench/pipeline.py at 30,000 referrals, db39e29:
# about 2,900 objects found in some 4,000 collections), the gateway and intake (the collector
# 10 % and 9 % of a native profile) and routing (about a fifth of its CPU in bench/routing.py).
SERVICE_YOUNG_THRESHOLD = 10_000


def settle(young_threshold: int | None = None) -> None:
    """Collect what is garbage now (what an earlier `settle` froze and was let go since
    included), then freeze everything left out of full collections (`gc.freeze`). With
    `young_threshold`, collect the youngest generation only after that many allocations (the
    default 700 promotes a batch's objects towards the oldest generation, only for reference
    counting to free them there). Costs a full collection: tens of milliseconds."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    if young_threshold is not None:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)


class _Pauses:
    """How many pauses hold now, and whether the collector was on before the first."""

    count = 0
    resume = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off for the block, on again after it (also when it fails), unless it
    was off before. For work that allocates many objects that live until it ends and are almost
    never in a cycle (a batch decoded, a batch applied): collections meanwhile only walk them
    again, in each older generation they were promoted to, and reference counting frees them
    afterwards; what the block leaves in cycles is collected after it. Counted, so pauses that
    overlap (a batch decoded while another is applied, across awaits) turn it on only when the
    last one ends. Measured in docs/performance.md (thirteenth session: routing's batches,
    the consumer's decoding)."""
    if _Pauses.count == 0:
        _Pauses.resume = gc.isenabled()
        gc.disable()
    _Pauses.count += 1
    try:
        yield
    finally:
        _Pauses.count -= 1
        if _Pauses.count == 0 and _Pauses.resume:
            gc.enable()


class Sweeps:
    """Full collections by hand, one every `every` units of work, for a long pass run with the
    collector paused (`paused`) throughout: the pass's batches die by reference counting, and
    what little they leave in cycles is found at the next sweep instead of piling up.

    Pausing around each batch alone is not enough when the batch outlives the pause (a fetch
    decoded, then written while the next is read): the first allocation after the pause runs
    a young collection over the whole batch, which is alive and is walked for nothing (the
    rebuild's load pass: a third of its decoding's samples, docs/performance.md fifteenth
    session). A sweep between batches walks only what is alive then."""

    def __init__(self, every: int) -> None:
        self.every = every
        self._since = 0

    def done(self, units: int) -> None:
        self._since += units
        if self._since >= self.every:
            self._since = 0
            gc.collect()
