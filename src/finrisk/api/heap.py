"""Keep the garbage collector's full passes away from the loaded service state while serving.

The service holds its feature state, lists, profiles and rule sets for as long as it runs: after
loading, most of the heap never becomes garbage. CPython's full (generation 2) collection still
walks all of it, holding the GIL: in a 5,000-decision run of the served app (in process, a fresh
demo workspace with a small state) two full passes of 60-140 ms each stopped every request, which
alone is above the 10 ms p99 goal; a workspace with months of history holds many times more
objects. ``gc.freeze()`` moves what exists after loading into a generation no pass visits; raising
the thresholds makes the young passes less frequent and full passes rare (what is freed by
reference counting, nearly everything a request allocates, never waits for them).
"""

from __future__ import annotations

import gc

__all__ = ["SERVING_THRESHOLDS", "freeze_loaded_state"]

SERVING_THRESHOLDS = (2_000, 50, 1_000)
"""Young passes every 2,000 net allocations (CPython: 700), middle ones every 50 of those (10), full
ones after 1,000 middle ones (10): in that run, no full pass instead of two, the same time in young ones."""


def freeze_loaded_state() -> int:
    """Collect once, then exclude every surviving object from later collections; returns how many."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    return gc.get_freeze_count()
