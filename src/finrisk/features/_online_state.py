"""Per-key window state of the online engine: the entries of one entity and running aggregates.

One :class:`KeyState` holds, for one entity key of one state group, the retained entries sorted
by ``(placement_us, event_time_us, event_id)`` and the running aggregates over the entries that
lie in the group's window at ``now`` (the half-open index range ``ws:we``). Sums are kept as
exact integers (each value scaled by 2**64 and truncated), so adding and removing a value cancels
exactly and the numerator of the sample variance ``(n Σx² - (Σx)²) / (n (n-1))`` has no cancellation
error however long the stream (equal values give exactly 0); sums, means and variances are then
read with one or two float roundings (a few ulp), far cheaper than exact big-integer division.
Min and max use monotonic deques of entries, valid while entries join the window at its end; an
insertion in the middle (a late event, a label placed in the past) marks them ``dirty`` and the
next read rebuilds them from the window. ``due`` is the first time at which the window moves (its
oldest entry leaves or a lagged entry joins): until then the running aggregates hold for any later
event and the hot path skips the slide altogether.

Features that differ only by window share one entry list per key: the state of the longest window
is the one stored, and ``sibs`` holds the states of the shorter windows (same ``ents`` list, own
indices and aggregates). Only the longest window forgets old entries, shifting its siblings'
indices (everything it forgets lies before their windows too).

The garbage collector walks every list and object of the state on a full collection (the tens of
milliseconds of a service's stalls, a sixth of a replay's time): an aggregate that no column of the
state uses (sums of a count-only window, extremes of a sum) is therefore an immutable tuple, never
written, instead of a list of zeros or None; the distinct-value dicts sit in a tuple (a dict of
strings and numbers is not tracked by the collector). On the demo set: 2.5x fewer tracked objects.
With the compiled kernel a state and its containers are not tracked at all (its ``State`` type untracks
each state it makes, :func:`untrack_containers` and the generated step the tuples, lists and deques where
they are made: none of them can be part of a reference cycle); at the benchmark's full size that took the
collector from about 7% of the engine's CPU to about 1% (docs/features.md, round 5).
"""

from __future__ import annotations

from collections import deque
from math import sqrt
from typing import Any, cast

from finrisk.features._online_native import KERNEL

__all__ = ["COUNT_MATCHED", "EXACT_FIELDS", "FAR", "FIELDS", "INLINE_FIELDS", "TIME_SINCE_MATCHED", "Column",
           "Entry", "FeatureRead", "KeyState", "add", "exact", "latest", "read", "rebuild_extremes", "remove",
           "set_due", "untrack_containers"]

#: ``(placement_us, event_time_us, event_id, value_0, value_1, ...)``
Entry = tuple[Any, ...]
#: ``(values index, sums, squares, minimum, maximum, distinct, counts)`` for one value column of a group
#: (``counts``: some feature reads its count of non-null values, ``nn``).
Column = tuple[int, bool, bool, bool, bool, bool, bool]
#: ``(output index, aggregation code, column number)`` for one feature of a group.
FeatureRead = tuple[int, int, int]

SCALE = 18446744073709551616.0  # 2**64: values become exact integers
INV_SCALE = 1.0 / SCALE
INV_SCALE2 = INV_SCALE * INV_SCALE  # 2**-128, exact
FIRST_COLUMN = 3  # entry[3] is the first value
FAR = 1 << 62  # a ``due`` that never comes: nothing in the window, nothing waiting to join

COUNT, SUM, MEAN, STD, MIN, MAX, COUNT_DISTINCT, LAST, TIME_SINCE_LAST = range(9)
#: a filtered count and time_since_last in a group of several filters: read the column of the filter
#: (``True`` or the event time when the event matched, else null): its non-null count, its latest value
COUNT_MATCHED, TIME_SINCE_MATCHED = 9, 10
if KERNEL is not None:
    KERNEL.bind(SCALE, FAR)


#: the fields of a :class:`KeyState`, in the order of its pickled state
FIELDS = ("ents", "ws", "we", "now", "due", "nn", "s1", "s2", "mins", "maxs", "dist", "dirty", "sibs")
#: with the compiled kernel, the fields live in its ``State`` (``ws``, ``we``, ``now``, ``due`` as machine
#: integers in the object); without it, in this class's slots. Pickles name this class either way.
_Base: Any = object if KERNEL is None else KERNEL.State
#: the fields held inside the state object itself (no object of their own: sizes count them once)
INLINE_FIELDS = frozenset() if KERNEL is None else frozenset({"ws", "we", "now", "due"})
#: the exact integer aggregates: with the kernel, an ``Exact`` (the integers as machine numbers in one
#: object, read and written in place by the compiled group; a sequence of ints to Python, pickled as a
#: list), else a list of ints
EXACT_FIELDS = frozenset({"nn", "s1", "s2"})


def exact(n: int) -> list[int]:
    """``n`` zero integer aggregates (a written one: a list, or the kernel's ``Exact``)."""
    return [0] * n if KERNEL is None else cast(list[int], KERNEL.Exact(n))


class KeyState(_Base):  # type: ignore[misc]
    """Entries and running aggregates of one entity key of one state group."""

    __slots__ = FIELDS if KERNEL is None else ()

    def __init__(self, columns: tuple[Column, ...], now: int) -> None:
        self.ents: list[Entry] = []
        self.ws = 0
        self.we = 0
        self.now = now
        self.due = FAR
        n = len(columns)
        # an aggregate no column uses is an immutable tuple, never written (see the module docstring)
        self.nn: list[int] = exact(n) if any(c[6] for c in columns) else cast(list[int], (0,) * n)
        self.s1: list[int] = exact(n) if any(c[1] for c in columns) else cast(list[int], (0,) * n)
        self.s2: list[int] = exact(n) if any(c[2] for c in columns) else cast(list[int], (0,) * n)
        self.mins: list[deque[Entry] | None] = _extremes(columns, 3)
        self.maxs: list[deque[Entry] | None] = _extremes(columns, 4)
        self.dist: tuple[dict[Any, int] | None, ...] = tuple({} if c[5] else None for c in columns)
        self.dirty = False
        self.sibs: tuple[KeyState, ...] = ()
        untrack_containers(self)

    def __getstate__(self) -> tuple[Any, ...]:
        if KERNEL is None:
            return tuple(getattr(self, s) for s in FIELDS)
        # the kernel's Exact as the list of ints the pure-Python state holds: the same snapshot bytes
        return tuple(list(v) if type(v) is KERNEL.Exact else v for v in (getattr(self, s) for s in FIELDS))

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(FIELDS, state, strict=True):
            if KERNEL is not None and name in EXACT_FIELDS and type(value) is list:  # pickled as a list
                value = KERNEL.Exact(value)
            setattr(self, name, value)
        untrack_containers(self)


def untrack_containers(ks: KeyState) -> None:
    """With the kernel, take the state's containers (shorter windows' states, distinct-value dicts,
    extremes) out of the collector's care (see the module docstring); the generated step does the same
    where it makes a state. Call again after assigning new ``sibs``."""
    if KERNEL is None:
        return
    for value in (ks.sibs, ks.dist, ks.mins, ks.maxs):
        if type(value) is list or (type(value) is tuple and value):
            KERNEL.untracked(value)


def _extremes(columns: tuple[Column, ...], flag: int) -> list[deque[Entry] | None]:
    """The min (``flag`` 3) or max (4) deques: a list when a column keeps one (rebuilt in place after a
    late insertion), else a tuple of None."""
    if any(c[flag] for c in columns):
        return [deque() if c[flag] else None for c in columns]
    return cast(list[deque[Entry] | None], (None,) * len(columns))


def set_due(ks: KeyState, lag_us: int, window_us: int) -> None:
    """Set ``ks.due``: when the oldest entry of the window leaves it or the next lagged entry joins it."""
    ents = ks.ents
    due = ents[ks.ws][0] + lag_us + window_us if ks.ws < ks.we else FAR
    if ks.we < len(ents):
        due = min(due, ents[ks.we][0] + lag_us)
    ks.due = due


def add(columns: tuple[Column, ...], ks: KeyState, ent: Entry) -> None:
    """Add ``ent`` to the running aggregates (it joins the window at its end unless ``ks.dirty``)."""
    c = 0
    for pos, sums, squares, minimum, maximum, distinct, counts in columns:
        v = ent[pos]
        if v is not None:
            if counts:
                ks.nn[c] += 1
            if sums:
                x = int(v * SCALE)
                ks.s1[c] += x
                if squares:
                    ks.s2[c] += x * x
            if distinct:
                d = ks.dist[c]
                assert d is not None
                d[v] = d.get(v, 0) + 1
            if not ks.dirty:
                if maximum:
                    dq = ks.maxs[c]
                    assert dq is not None
                    while dq and dq[-1][pos] <= v:
                        dq.pop()
                    dq.append(ent)
                if minimum:
                    dq = ks.mins[c]
                    assert dq is not None
                    while dq and dq[-1][pos] >= v:
                        dq.pop()
                    dq.append(ent)
        c += 1


def remove(columns: tuple[Column, ...], ks: KeyState, ent: Entry) -> None:
    """Remove ``ent``, the oldest entry of the window, from the running aggregates."""
    c = 0
    for pos, sums, squares, _minimum, _maximum, distinct, counts in columns:
        v = ent[pos]
        if v is not None:
            if counts:
                ks.nn[c] -= 1
            if sums:
                x = int(v * SCALE)
                ks.s1[c] -= x
                if squares:
                    ks.s2[c] -= x * x
            if distinct:
                d = ks.dist[c]
                assert d is not None
                left = d[v] - 1
                if left:
                    d[v] = left
                else:
                    del d[v]
            if not ks.dirty:
                dq = ks.maxs[c]
                if dq and dq[0] is ent:
                    dq.popleft()
                dq = ks.mins[c]
                if dq and dq[0] is ent:
                    dq.popleft()
        c += 1


def rebuild_extremes(columns: tuple[Column, ...], ks: KeyState) -> None:
    """Rebuild the monotonic deques from the window after an insertion in its middle."""
    window = ks.ents[ks.ws:ks.we]
    for c, (pos, _s, _q, minimum, maximum, _d, _n) in enumerate(columns):
        if maximum:
            dq: deque[Entry] = deque()
            for ent in window:
                v = ent[pos]
                if v is not None:
                    while dq and dq[-1][pos] <= v:
                        dq.pop()
                    dq.append(ent)
            ks.maxs[c] = dq
        if minimum:
            dq = deque()
            for ent in window:
                v = ent[pos]
                if v is not None:
                    while dq and dq[-1][pos] >= v:
                        dq.pop()
                    dq.append(ent)
            ks.mins[c] = dq
    ks.dirty = False


def latest(ks: KeyState, pos: int) -> Any:
    """The newest non-null value at ``pos`` in the window ``ks.ents[ws:we]``, or None."""
    ents = ks.ents
    for i in range(ks.we - 1, ks.ws - 1, -1):
        v = ents[i][pos]
        if v is not None:
            return v
    return None


def read(columns: tuple[Column, ...], reads: tuple[FeatureRead, ...], ks: KeyState, t: int,
         out: list[Any]) -> None:
    """Write each feature's value over the window ``ks.ents[ws:we]`` into ``out``."""
    for idx, code, c in reads:
        if code == COUNT:
            out[idx] = ks.we - ks.ws
        elif code == SUM:
            out[idx] = ks.s1[c] * INV_SCALE
        elif code == MEAN:
            n = ks.nn[c]
            out[idx] = ks.s1[c] * INV_SCALE / n if n else None
        elif code == STD:
            n = ks.nn[c]
            if n > 1:
                s1 = ks.s1[c]
                out[idx] = sqrt((n * ks.s2[c] - s1 * s1) * INV_SCALE2 / (n * (n - 1)))
            else:
                out[idx] = None
        elif code == MIN or code == MAX:
            if ks.dirty:
                rebuild_extremes(columns, ks)
            dq = ks.mins[c] if code == MIN else ks.maxs[c]
            out[idx] = float(dq[0][columns[c][0]]) if dq else None
        elif code == COUNT_DISTINCT:
            d = ks.dist[c]
            out[idx] = len(d) if d is not None else 0
        elif code == LAST:
            out[idx] = latest(ks, columns[c][0]) if ks.nn[c] else None
        elif code == COUNT_MATCHED:
            out[idx] = ks.nn[c]
        elif code == TIME_SINCE_MATCHED:
            v = latest(ks, columns[c][0]) if ks.nn[c] else None
            out[idx] = None if v is None else (t - v) / 1_000_000
        else:  # TIME_SINCE_LAST
            out[idx] = (t - ks.ents[ks.we - 1][0]) / 1_000_000 if ks.we > ks.ws else None
