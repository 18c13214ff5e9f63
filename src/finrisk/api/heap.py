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

SERVING_THRESHOLDS = (2_000, 5, 10_000)
"""Young passes every 2,000 net allocations (CPython: 700); middle passes every 5 of those (CPython: 10);
full passes after 10,000 middle ones (CPython: 10), as rare as the earlier (2,000, 50, 1,000).

Why the middle threshold is small: the feature state that new customers, devices and cards create while
serving survives the young passes and piles up in the middle generation, and a middle pass walks all of
it. At (2,000, 50, 1,000) the decision_http benchmark had middle passes of 16-44 ms (72,000 objects:
``KeyState``, lists, tuples) every ~5 s; at 5 they are 3-7 ms, ten times as often, the same CPU per
request. Two alternating pairs, ``--quick --access-log``, load ~1: p99 26.1 / 28.2 ms against 43.0 /
41.6 ms, p99.9 34 / 43 against 60 / 56 ms (docs/api.md)."""


def freeze_loaded_state() -> int:
    """Collect once, then exclude every surviving object from later collections; returns how many."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
    return gc.get_freeze_count()
