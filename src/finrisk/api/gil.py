"""How long a thread may keep the GIL while another waits for it, while serving.

The event loop's thread shares the GIL with the group-commit writer, the access-log writer and
the WAL checkpointer. A thread that wants the GIL waits for the holder to release it on its own (a
system call, a blocking wait) or until CPython's switch interval runs out and the holder is asked
to drop it: 5 ms by default, which is the size of the p99 excess this service had at 2,000
decisions/s. The writer thread, back from its fsync with a batch to resolve, can wait that long
behind the busy loop (and every request of the batch with it), and the loop can wait that long
behind the writer. A shorter interval bounds each hand-off; ``docs/api.md`` (fourth round) has the
measured effect.
"""

from __future__ import annotations

import sys

__all__ = ["SERVING_SWITCH_INTERVAL_S", "set_switch_interval"]

SERVING_SWITCH_INTERVAL_S = 0.0005
"""0.5 ms (CPython: 5 ms)."""


def set_switch_interval(seconds: float = SERVING_SWITCH_INTERVAL_S) -> float:
    """Set the interpreter's thread switch interval; returns the previous one."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    return previous
