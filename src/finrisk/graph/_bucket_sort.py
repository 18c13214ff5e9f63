"""A counting sort by key that carries its payload without random memory traffic (the build's edge order).

A plain counting sort writes each item to a random place among millions, and gathering the payload after it
(by input row) reads from a random place: each is a cache miss per item. Here items go first to one of ~1,000
*buckets* of consecutive keys, written as ~1,000 sequential streams (their open cache lines stay in L2), and
the buckets are already laid out where their keys end: a bucket's range of the output is its keys' ranges.
Each bucket (a few thousand items, ~100 KB) is then counting-sorted into its own range through a scratch copy
that stays in cache, and each key's short run is sorted by its packed ``(time - low) << bits | tie`` word.
At 5 M transfers over 1 M accounts: figures in docs/graph.md (part F).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from finrisk._jit import kernel

IntArray = npt.NDArray[np.int64]

BUCKET_ITEMS = 4096  # items per bucket aimed at: ~100 KB of words and payload, sorted in L2
MAX_BUCKETS = 2048  # open write streams in the first pass (4 arrays x 64 B each: 512 KB, within L2)
DIRECT_ITEMS = 1 << 19  # up to here the items fit in cache: one bucket per key, placed directly (no pass 2)


def bucket_grouped(
    key: npt.NDArray[np.integer[Any]], t: IntArray, tie: IntArray, n_keys: int, low: int, bits: int,
    pay_a: npt.NDArray[Any], pay_b: npt.NDArray[Any], *, unpack: bool = False, direct_items: int = DIRECT_ITEMS,
) -> tuple[IntArray, IntArray, npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], IntArray]:
    """Items ``0..n-1`` ordered by (``key``, ``t``, ``tie``; ``tie`` empty: the item itself). Returns each
    item's word ``(t - low) << bits | tie`` in that order, each key's start, the keys in that order, and
    ``pay_a`` and ``pay_b`` (either may be empty: not carried) in that order, and (``unpack``) the times in that
    order, the words then holding the tie alone (unpacked per bucket while it is in cache). ``0 <= key < n_keys``.
    Up to ``direct_items`` items are placed by key directly (they fit in cache; tests lower it).

    The outputs are allocated here by numpy, not inside the kernel: numpy asks the kernel for huge pages on
    large arrays, and first touching them cost 0.005 s per 40 MB where numba's own allocation cost 0.018 s
    (page faults; same run)."""
    n = len(key)
    words = np.empty(n, dtype=np.int64)
    keys = np.empty(n, dtype=key.dtype)
    a = np.empty(n if len(pay_a) else 0, dtype=pay_a.dtype)
    c = np.empty(n if len(pay_b) else 0, dtype=pay_b.dtype)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    times = np.empty(n if unpack else 0, dtype=np.int64)
    _bucket_sort(key, t, tie, low, bits, pay_a, pay_b, words, keys, a, c, ptr, times, direct_items)
    return words, ptr, keys, a, c, times


@kernel
def _bucket_sort(  # pragma: no cover - compiled; checked against lexsort in tests/graph/test_build.py
    key: npt.NDArray[np.integer[Any]], t: IntArray, tie: IntArray, low: int, bits: int,
    pay_a: npt.NDArray[Any], pay_b: npt.NDArray[Any], words: IntArray, keys: npt.NDArray[Any],
    a: npt.NDArray[Any], c: npt.NDArray[Any], ptr: IntArray, times: IntArray, direct_items: int,
) -> None:
    """:func:`bucket_grouped` into its outputs (``ptr`` zeroed, ``n_keys + 1`` long). In pass 1 a word also
    carries its key's low ``shift`` bits above the time (when they fit in 63 bits: else one bucket per key),
    so the keys need not travel through the passes: they are written in order at the end."""
    n = len(key)
    n_keys = len(ptr) - 1
    own = len(tie) == 0
    carry_a = len(pay_a) > 0
    carry_b = len(pay_b) > 0
    unpack = len(times) > 0
    mask = (1 << bits) - 1
    top = 0
    for i in range(n):
        ptr[key[i] + 1] += 1
        top = max(top, t[i] - low)
    for k in range(n_keys):
        ptr[k + 1] += ptr[k]
    above = bits
    while top >> (above - bits):
        above += 1
    shift = 0
    target = max(min(n // BUCKET_ITEMS, MAX_BUCKETS), 1)
    while n > direct_items and (n_keys >> shift) > target:
        shift += 1
    if above + shift > 63:
        shift = 0
    low_key = (1 << shift) - 1
    n_buckets = ((n_keys - 1) >> shift) + 1 if n_keys else 0
    fill = np.empty(n_buckets, dtype=np.int64)
    widest = 0
    for b in range(n_buckets):
        fill[b] = ptr[b << shift]
        end = ptr[min((b + 1) << shift, n_keys)]
        widest = max(widest, end - fill[b])
    for i in range(n):  # pass 1: into the key's bucket, in input order
        k = key[i]
        b = k >> shift
        at = fill[b]
        fill[b] = at + 1
        words[at] = ((k & low_key) << above) | ((t[i] - low) << bits) | (i if own else tie[i])
        if carry_a:
            a[at] = pay_a[i]
        if carry_b:
            c[at] = pay_b[i]
    spread = shift > 0  # else every bucket is one key: pass 1 placed the items where they end
    w_s = np.empty(widest if spread else 0, dtype=np.int64)
    a_s = np.empty(widest if spread and carry_a else 0, dtype=pay_a.dtype)
    c_s = np.empty(widest if spread and carry_b else 0, dtype=pay_b.dtype)
    place = np.empty(min(1 << shift, max(n_keys, 1)) if spread else 0, dtype=np.int64)
    below = (1 << above) - 1
    for b in range(n_buckets):  # pass 2: each bucket by key within its own range, through a scratch copy
        first = b << shift
        last = min((b + 1) << shift, n_keys)
        lo, hi = ptr[first], ptr[last]
        if hi == lo:
            continue
        if spread:
            for j in range(hi - lo):
                w_s[j] = words[lo + j]
                if carry_a:
                    a_s[j] = a[lo + j]
                if carry_b:
                    c_s[j] = c[lo + j]
            for k in range(first, last):
                place[k - first] = ptr[k]
            for j in range(hi - lo):
                w = w_s[j]
                k = w >> above
                at = place[k]
                place[k] = at + 1
                words[at] = w & below
                if carry_a:
                    a[at] = a_s[j]
                if carry_b:
                    c[at] = c_s[j]
        for k in range(first, last):  # pass 3: each key's run by its word (time, tie)
            _sort_run(words, a, c, ptr[k], ptr[k + 1], carry_a, carry_b)
            for j in range(ptr[k], ptr[k + 1]):
                keys[j] = k
        if unpack:
            for j in range(lo, hi):
                w = words[j]
                times[j] = (w >> bits) + low
                words[j] = w & mask


@kernel
def _sort_run(words: IntArray, a: npt.NDArray[Any], c: npt.NDArray[Any], lo: int, hi: int, carry_a: bool,
              carry_b: bool) -> None:  # pragma: no cover - compiled
    """Sort ``words[lo:hi]`` in place carrying ``a`` and ``c``: insertion sort for the usual handful of items,
    a heap sort for a hub's run. No ``np.argsort`` here: numba names its sort helpers alike in every cached
    kernel, and a process mixing cached and freshly compiled ones crashed (numba issue 10128's shape)."""
    if hi - lo > 32:
        _heap_sort(words, a, c, lo, hi, carry_a, carry_b)
        return
    for i in range(lo + 1, hi):
        w = words[i]
        if words[i - 1] <= w:
            continue
        va = a[i] if carry_a else 0
        vc = c[i] if carry_b else 0
        j = i - 1
        while j >= lo and words[j] > w:
            words[j + 1] = words[j]
            if carry_a:
                a[j + 1] = a[j]
            if carry_b:
                c[j + 1] = c[j]
            j -= 1
        words[j + 1] = w
        if carry_a:
            a[j + 1] = va
        if carry_b:
            c[j + 1] = vc


@kernel
def _heap_sort(words: IntArray, a: npt.NDArray[Any], c: npt.NDArray[Any], lo: int, hi: int, carry_a: bool,
               carry_b: bool) -> None:  # pragma: no cover - compiled
    """In-place heap sort of ``words[lo:hi]`` (distinct words), swapping ``a`` and ``c`` alongside."""
    m = hi - lo
    for start in range(m // 2 - 1, -1, -1):
        _sift(words, a, c, lo, start, m, carry_a, carry_b)
    for end in range(m - 1, 0, -1):
        _swap(words, a, c, lo, lo + end, carry_a, carry_b)
        _sift(words, a, c, lo, 0, end, carry_a, carry_b)


@kernel
def _sift(words: IntArray, a: npt.NDArray[Any], c: npt.NDArray[Any], lo: int, root: int, size: int,
          carry_a: bool, carry_b: bool) -> None:  # pragma: no cover - compiled
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and words[lo + child + 1] > words[lo + child]:
            child += 1
        if words[lo + root] >= words[lo + child]:
            return
        _swap(words, a, c, lo + root, lo + child, carry_a, carry_b)
        root = child


@kernel
def _swap(words: IntArray, a: npt.NDArray[Any], c: npt.NDArray[Any], i: int, j: int, carry_a: bool,
          carry_b: bool) -> None:  # pragma: no cover - compiled
    words[i], words[j] = words[j], words[i]
    if carry_a:
        a[i], a[j] = a[j], a[i]
    if carry_b:
        c[i], c[j] = c[j], c[i]
