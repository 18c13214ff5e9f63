"""A Bloom filter of the event ids in the log: "certainly not logged" without a database read.

Every decision first asks whether its ``event_id`` is a retry. Almost all are new, and the
SQLite lookup that answers it (tens of microseconds alone) waits behind the writer's commits and
the GIL under load, on the request's path. The filter answers "not logged" for a new id in about a
microsecond; only a "maybe" (a real retry, or a false positive, about 0.2 % at the designed size)
goes to the database. A Bloom filter has no false negatives, so idempotency never depends on it.

Hand-written rather than a library: the lookup is a few integer operations on a ``bytearray``; the
build from an existing log is vectorised with numpy (2.6 M ids in about a second).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["IdFilter"]

_PROBES = 4
_BITS_PER_ID = 16  # with 4 probes: about 0.24 % false positives at capacity
_MASK64 = (1 << 64) - 1


class IdFilter:
    """Event ids added so far; :meth:`may_contain` is False only for ids never added.

    Ids are hashed with Python's own string hash (salted per process), so a filter lives and dies
    with its process and is rebuilt from the log at start. Past ``capacity`` it stays correct and
    only sends more lookups to the database.
    """

    def __init__(self, capacity: int) -> None:
        bits = 1 << max(20, (max(capacity, 1) * _BITS_PER_ID - 1).bit_length())
        self._mask = bits - 1
        self._bits = bytearray(bits >> 3)
        self.count = 0

    # add and may_contain: the 4 probes written out (h, h + step, h + 2 step, h + 3 step), not a loop
    # (same bits): may_contain of a new id 0.37-0.43 against 0.45-0.51 µs, add within noise of the loop
    # (its 4 memory misses in a megabytes table dominate; a blocked layout was no better: docs/api.md).
    def add(self, event_id: str) -> None:
        h = hash(event_id) & _MASK64
        step = (h >> 32) | 1
        bits, mask = self._bits, self._mask
        i = h & mask
        bits[i >> 3] |= 1 << (i & 7)
        i = (h + step) & mask
        bits[i >> 3] |= 1 << (i & 7)
        i = (h + 2 * step) & mask
        bits[i >> 3] |= 1 << (i & 7)
        i = (h + 3 * step) & mask
        bits[i >> 3] |= 1 << (i & 7)
        self.count += 1

    def may_contain(self, event_id: str) -> bool:
        h = hash(event_id) & _MASK64
        step = (h >> 32) | 1
        bits, mask = self._bits, self._mask
        i = h & mask
        if not bits[i >> 3] >> (i & 7) & 1:
            return False  # most new ids stop here or at the next probe
        i = (h + step) & mask
        if not bits[i >> 3] >> (i & 7) & 1:
            return False
        i = (h + 2 * step) & mask
        if not bits[i >> 3] >> (i & 7) & 1:
            return False
        i = (h + 3 * step) & mask
        return bool(bits[i >> 3] >> (i & 7) & 1)

    def add_many(self, event_ids: Iterable[str], count: int) -> None:
        """Add ``count`` ids at once (the build from an existing log), vectorised."""
        if count <= 0:
            return
        h = np.fromiter(map(hash, event_ids), dtype=np.int64, count=count).view(np.uint64)
        step = (h >> np.uint64(32)) | np.uint64(1)
        table = np.frombuffer(self._bits, dtype=np.uint8)
        mask = np.uint64(self._mask)
        with np.errstate(over="ignore"):
            for _ in range(_PROBES):
                i = h & mask
                byte = (i >> np.uint64(3)).astype(np.intp)
                bit = (i & np.uint64(7)).astype(np.uint8)
                for b in range(8):  # repeated indices in one pass all write the same value
                    where = byte[bit == b]
                    table[where] |= np.uint8(1 << b)
                h = h + step
        self.count += count
