"""`plumbing.heap.settle`, as routing (after building its index) and outcomes (after start-up) use it."""

from __future__ import annotations

import gc
import weakref

import pytest

from plumbing import heap

pytestmark = pytest.mark.unit


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_collects_garbage_freezes_the_rest_and_frees_it_at_the_next_settle():
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    held = Cycle()
    let_go = weakref.ref(held)
    before = gc.get_threshold()
    try:
        heap.settle()
        assert gone() is None  # garbage then: collected, not frozen
        assert gc.get_freeze_count() > 0 and gc.get_threshold() == before
        del held  # frozen, then let go: a full collection does not see it ...
        gc.collect()
        assert let_go() is not None
        heap.settle()  # ... the next settle does
        assert let_go() is None
    finally:
        gc.unfreeze()


def test_a_young_threshold_is_set_and_later_cycles_are_still_found():
    before = gc.get_threshold()
    try:
        heap.settle(10_000)
        assert gc.get_threshold() == (10_000, *before[1:])
        young = Cycle()
        later = weakref.ref(young)
        del young
        gc.collect()
        assert later() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_sweeps_collect_once_every_so_many_units_while_the_collector_is_paused():
    sweeps = heap.Sweeps(every=10)
    with heap.paused():
        garbage = Cycle()
        gone = weakref.ref(garbage)
        del garbage
        sweeps.done(6)
        assert gone() is not None  # paused, and not yet `every` units: left for later
        sweeps.done(4)
        assert gone() is None  # the tenth unit: a full collection found it
        again = Cycle()
        later = weakref.ref(again)
        del again
        sweeps.done(9)
        assert later() is not None  # counted anew from the last sweep
        assert not gc.isenabled()
    assert gc.isenabled()
