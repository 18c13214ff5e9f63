"""After loading, the served state is frozen out of the garbage collector's passes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from finrisk.api.heap import SERVING_THRESHOLDS, freeze_loaded_state


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_loaded_objects_are_frozen_and_passes_made_rarer(restore_gc: None) -> None:
    state = {f"customer-{i}": [i, {"window": [i]}] for i in range(10_000)}  # long-lived, like feature state
    frozen = freeze_loaded_state()
    assert frozen >= 10_000 and gc.get_freeze_count() == frozen
    assert gc.get_threshold() == SERVING_THRESHOLDS
    assert all(not any(o is state for o in gc.get_objects(generation)) for generation in range(3))
    cycle: list[object] = []
    cycle.append(cycle)  # garbage made after loading is still collected
    del cycle
    assert gc.collect() >= 1
