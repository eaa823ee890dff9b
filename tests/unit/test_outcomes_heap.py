"""Outcomes takes its start-up heap out of full collections and collects the young
generation less often (`app.settle_heap`)."""

from __future__ import annotations

import gc
import weakref

import pytest

from services.outcomes import app

pytestmark = pytest.mark.unit


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_collects_garbage_freezes_the_rest_and_raises_the_young_threshold():
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    held = Cycle()
    before = gc.get_threshold()
    try:
        app.settle_heap()
        assert gone() is None  # garbage then: collected, not frozen
        assert gc.get_freeze_count() > 0 and held.me is held
        assert gc.get_threshold() == (app.YOUNG_THRESHOLD, *before[1:])
        young = Cycle()  # a cycle made later is still found by a collection
        later = weakref.ref(young)
        del young
        gc.collect()
        assert later() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
