"""Factorising Arrow strings (pandas 3's ``str`` columns) by a compiled hash table over the Arrow buffers.

``pandas.factorize`` of an Arrow string column goes through ``pyarrow.compute.dictionary_encode``: 1.93 s CPU
for the 10 M account ids of the 1 M-account scale world. Packing each short string into one or two 64-bit words
(its exact key) and hashing that in place (a multiplicative hash, open addressing, the table doubled as it fills)
gives the same codes in the same first-appearance order in a fraction of that (figures in docs/graph.md, Scale).
Anything that is not an Arrow string column, or holds a string over 15 bytes, is left to ``pandas.factorize``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from finrisk._jit import kernel

IntArray = npt.NDArray[np.int64]


BATCH = 16  # keys hashed, and their slots first read, together: see _short_codes


@kernel
def _packed_codes(  # pragma: no cover - compiled; checked against pandas.factorize in tests/graph/test_strings.py
    offsets: npt.NDArray[Any], data: npt.NDArray[np.uint8],
) -> tuple[IntArray, IntArray, bool]:
    """Codes in first-appearance order and the first position of each distinct string, for strings of at most
    15 bytes: each is packed with its length into two 64-bit words, the exact key of an open-addressing table
    whose slots hold (key, code) side by side, so a lookup is one cache miss (taken a batch at a time, as in
    :func:`_short_codes`). Returns ok=False on a longer one."""
    n = len(offsets) - 1
    codes = np.empty(n, dtype=np.int64)
    bits = 16
    size = 1 << bits
    table = np.zeros(4 * size, dtype=np.uint64)  # per slot: word 1, word 2 (with length), code + 1, unused
    first = np.empty(1 << 12, dtype=np.int64)
    k = 0
    golden = np.uint64(0x9E3779B97F4A7C15)
    keys1 = np.empty(BATCH, dtype=np.uint64)
    keys2 = np.empty(BATCH, dtype=np.uint64)
    hashes = np.empty(BATCH, dtype=np.uint64)
    touched = np.uint64(0)
    for base in range(0, n, BATCH):
        m = min(BATCH, n - base)
        for j in range(m):
            lo, hi = offsets[base + j], offsets[base + j + 1]
            length = hi - lo
            if length > 15:
                return codes, first[:0].copy(), False
            w1 = np.uint64(0)
            w2 = np.uint64(length) << np.uint64(56)
            for q in range(min(length, 8)):
                w1 |= np.uint64(data[lo + q]) << np.uint64(8 * q)
            for q in range(8, length):
                w2 |= np.uint64(data[lo + q]) << np.uint64(8 * (q - 8))
            h = ((w1 * golden) ^ (w2 + (w2 >> np.uint64(29)))) * golden
            keys1[j], keys2[j], hashes[j] = w1, w2, h
            touched ^= table[4 * np.int64(h >> np.uint64(64 - bits)) + 2]
        for j in range(m):
            w1, w2 = keys1[j], keys2[j]
            slot = np.int64(hashes[j] >> np.uint64(64 - bits))
            while True:
                at = 4 * slot
                c = np.int64(table[at + 2]) - 1
                if c < 0:
                    if k == len(first):
                        first = np.concatenate((first, np.empty(k, dtype=np.int64)))
                    table[at] = w1
                    table[at + 1] = w2
                    table[at + 2] = np.uint64(k + 1)
                    first[k] = base + j
                    c = np.int64(k)
                    k += 1
                    if 2 * k > size:  # keep the table at most half full: double it and re-place every key
                        old = table
                        bits += 1
                        size = 1 << bits
                        table = np.zeros(4 * size, dtype=np.uint64)
                        for o in range(len(old) // 4):
                            if old[4 * o + 2] == 0:
                                continue
                            v1, v2 = old[4 * o], old[4 * o + 1]
                            g = ((v1 * golden) ^ (v2 + (v2 >> np.uint64(29)))) * golden
                            s = np.int64(g >> np.uint64(64 - bits))
                            while table[4 * s + 2] != 0:
                                s = (s + 1) & (size - 1)
                            table[4 * s] = v1
                            table[4 * s + 1] = v2
                            table[4 * s + 2] = old[4 * o + 2]
                    break
                if table[at] == w1 and table[at + 1] == w2:
                    break
                slot = (slot + 1) & (size - 1)
            codes[base + j] = c
    if touched == np.uint64(1):  # keeps the touching reads from being optimised away; changes nothing
        codes[0] = codes[0]
    return codes, first[:k].copy(), True


@kernel
def _short_codes(  # pragma: no cover - compiled; checked against pandas.factorize in tests/graph/test_strings.py
    offsets: npt.NDArray[Any], data: npt.NDArray[np.uint8],
) -> tuple[IntArray, IntArray]:
    """:func:`_packed_codes` for strings of at most 7 bytes: one word per key, 16-byte slots (key, code), so the
    table is half the size and more of it stays in cache (1.35 -> ~1.0 s CPU for 10 M ids). Keys go a batch
    of :data:`BATCH` at a time: all hashed and their slots read first, so the batch's cache misses overlap
    instead of each lookup waiting for its own (10 M ids: 0.83-1.24 -> 0.49-0.68 s CPU, same runs)."""
    n = len(offsets) - 1
    codes = np.empty(n, dtype=np.int64)
    bits = 16
    size = 1 << bits
    table = np.zeros(2 * size, dtype=np.uint64)  # per slot: key (bytes and length), code + 1
    first = np.empty(1 << 12, dtype=np.int64)
    k = 0
    golden = np.uint64(0x9E3779B97F4A7C15)
    keys = np.empty(BATCH, dtype=np.uint64)
    hashes = np.empty(BATCH, dtype=np.uint64)
    touched = np.uint64(0)
    for base in range(0, n, BATCH):
        m = min(BATCH, n - base)
        for j in range(m):
            lo, hi = offsets[base + j], offsets[base + j + 1]
            w = np.uint64(hi - lo) << np.uint64(56)
            for q in range(hi - lo):
                w |= np.uint64(data[lo + q]) << np.uint64(8 * q)
            h = w * golden
            keys[j], hashes[j] = w, h
            touched ^= table[2 * np.int64(h >> np.uint64(64 - bits)) + 1]
        for j in range(m):
            w = keys[j]
            slot = np.int64(hashes[j] >> np.uint64(64 - bits))
            while True:
                c = np.int64(table[2 * slot + 1]) - 1
                if c < 0:
                    if k == len(first):
                        first = np.concatenate((first, np.empty(k, dtype=np.int64)))
                    table[2 * slot] = w
                    table[2 * slot + 1] = np.uint64(k + 1)
                    first[k] = base + j
                    c = np.int64(k)
                    k += 1
                    if 2 * k > size:  # keep the table at most half full: double it and re-place every key
                        old = table
                        bits += 1
                        size = 1 << bits
                        table = np.zeros(2 * size, dtype=np.uint64)
                        for o in range(len(old) // 2):
                            if old[2 * o + 1] == 0:
                                continue
                            s = np.int64((old[2 * o] * golden) >> np.uint64(64 - bits))
                            while table[2 * s + 1] != 0:
                                s = (s + 1) & (size - 1)
                            table[2 * s] = old[2 * o]
                            table[2 * s + 1] = old[2 * o + 1]
                    break
                if table[2 * slot] == w:
                    break
                slot = (slot + 1) & (size - 1)
            codes[base + j] = c
    if touched == np.uint64(1):  # keeps the touching reads from being optimised away; changes nothing
        codes[0] = codes[0]
    return codes, first[:k].copy()


def _arrow_strings(values: pd.Series) -> pa.Array | None:
    """The column as one Arrow string array without nulls, or None when it is something else."""
    array = values.array
    chunked = getattr(array, "_pa_array", None)
    if not isinstance(chunked, pa.ChunkedArray) or chunked.null_count:
        return None
    if not (pa.types.is_string(chunked.type) or pa.types.is_large_string(chunked.type)):
        return None
    return chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)


def factorize_strings(values: pd.Series, *, objects: bool = True) -> tuple[IntArray, Any] | None:
    """``pandas.factorize`` of an Arrow string column (codes, distinct values as an object array of Python
    strings, or with ``objects=False`` as the column's own Arrow-backed array, which makes no Python objects),
    or None when ``values`` is not one (callers fall back to ``pandas.factorize``)."""
    arr = _arrow_strings(values)
    if arr is None:
        return None
    if not len(arr):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, dtype=np.uint8)
    if int(np.diff(offsets).max()) <= 7:
        codes, first = _short_codes(offsets, data)
    else:
        codes, first, ok = _packed_codes(offsets, data)
        if not ok:
            return None
    if not objects:
        return codes, values.iloc[first].array
    uniques = arr.take(pa.array(first)).to_numpy(zero_copy_only=False)
    return codes, np.asarray(uniques, dtype=object)
