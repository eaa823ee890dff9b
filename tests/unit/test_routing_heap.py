"""Routing moves its long-lived objects out of the collector's full collections (`store.settle_heap`)."""

from __future__ import annotations

import gc
import weakref

import pytest

from services.routing import store

pytestmark = pytest.mark.unit


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_collects_garbage_freezes_the_rest_and_frees_it_later():
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    held = Cycle()
    let_go = weakref.ref(held)
    try:
        store.settle_heap()
        assert gone() is None  # garbage then: collected, not frozen
        assert gc.get_freeze_count() > 0
        del held  # frozen, then let go: a full collection does not see it ...
        gc.collect()
        assert let_go() is not None
        store.settle_heap()  # ... the next settle does
        assert let_go() is None
    finally:
        gc.unfreeze()
