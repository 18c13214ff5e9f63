"""Window aggregates in numpy for the offline compiler's fast path (see ``offline.py`` for the strategy).

Rows of one entity key are sorted by ``(key, event order)``; every window is then a half-open index
range ``[lo, hi)`` of that array, found with ``searchsorted`` (both bounds are non-decreasing along the
array, which the aggregates below rely on). Each aggregate is a few vectorised passes:

- ``count``: differences of a cumulative count (exact).
- ``sum`` / ``mean``: differences of cumulative sums of each value's exact integer ``trunc(v * 2**64)``
  (the online engine's representation), kept as three 36-bit limbs in int64, so window sums are exact
  integers rounded to float once or twice: no cancellation however many values came before.
- ``min`` / ``max``: a range-extreme query (a sparse table for short ranges, block prefix/suffix
  extremes plus a sparse table over block extremes for long ones).
- ``count_distinct``: the values in ``[lo, hi)`` minus the pairs ``(j, next occurrence of j's value)``
  lying wholly inside; as both bounds only grow along the array, the rows a pair lies inside form one
  contiguous range, so the pairs become a difference array and a cumulative sum.
- ``last`` / ``time_since_last`` / ``first_seen``: the latest (earliest) qualifying index by a running
  maximum (minimum) of indices.

Measured against DuckDB window frames over the same rows, these are 5-20x faster (see docs/features.md),
which is why the fast path no longer uses window frames for them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from finrisk._jit import kernel

__all__ = [
    "LIMB_LIMIT",
    "Bounds",
    "KeyedRows",
    "count_distinct",
    "distinct_pairs",
    "encode",
    "exact_sums",
    "first_index",
    "key_codes",
    "last_index",
    "limb_prefix",
    "merge_bounds",
    "placed_ranges",
    "range_counts",
    "range_extreme",
    "stable_order",
    "window_counts",
    "window_std",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

#: |values| must stay below this for exact limb sums (2**44: trunc(v * 2**64) fits three 36-bit limbs).
LIMB_LIMIT = float(2**44)
_LIMB = 36
_MASK = (1 << _LIMB) - 1


def key_codes(encoded: list[tuple[I64, int, Bool]]) -> tuple[I64, Bool]:
    """One integer per row identifying its key (equal keys, equal codes), and whether every field is
    present, from each key field's :func:`encode`."""
    codes: I64 | None = None
    present: Bool | None = None
    for idx, card, valid in encoded:
        present = valid if present is None else present & valid
        if codes is None:
            codes = idx
        else:
            if (int(codes.max(initial=0)) + 1) * card >= 1 << 62:  # re-densify before the product overflows
                codes = np.unique(codes, return_inverse=True)[1].astype(np.int64, copy=False).reshape(-1)
            codes = codes * card + idx
    assert codes is not None and present is not None
    return codes, present


def encode(col: pa.ChunkedArray | pa.Array) -> tuple[I64, int, Bool]:
    """Dense codes ``0 <= code < cardinality`` (equal values, equal codes, as Python's ``==`` groups
    them: 0.0 and -0.0 alike), the cardinality, and which rows are not null."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        vals = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64) + 0.0  # -0.0 -> 0.0
        uniq, inv = np.unique(vals, return_inverse=True)
        return inv.astype(np.int64, copy=False).reshape(-1), len(uniq), valid
    enc = pc.dictionary_encode(col)
    idx = np.asarray(enc.indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return idx, max(1, len(enc.dictionary)), valid


def _group_sort(codes: I64, present: Bool) -> tuple[I64, I64]:
    """The rows with ``present``, sorted by code, in row order within a code, and their codes.

    Dense codes take a counting sort; sparse ones (multi-field keys) sort the packed ``code * n + row``."""
    sel = np.flatnonzero(present)
    n = len(codes) + 1
    c = codes[sel]
    top = int(c.max(initial=0)) + 1
    if top <= 4 * n:  # dense codes (one-field keys): a counting sort, linear
        order = stable_order(c, top)
        return sel[order], c[order]
    if top * n < 1 << 62:
        packed = np.sort(c * n + sel)
        return packed % n, packed // n
    order = np.argsort(c, kind="stable")
    return sel[order], c[order]


class KeyedRows:
    """The rows of one entity key, sorted by ``(key, event order)``; ``rows`` maps them to global positions.

    ``order_ts`` are all rows' timestamps in event order (non-decreasing); ``time_rank`` their dense rank.
    """

    def __init__(self, codes: I64, present: Bool, order_ts: I64, time_rank: I64) -> None:
        self.rows, self.code = _group_sort(codes, present)
        self.ts: I64 = order_ts[self.rows]
        self.size = len(self.rows)
        n_times = int(time_rank[-1]) + 2 if len(time_rank) else 1
        self._stride = n_times
        # sorted composite (key, time rank): a window bound is one searchsorted away
        self._composite: I64 = self.code * n_times + time_rank[self.rows]
        self._arange: I64 = np.arange(self.size, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, self.code[1:] != self.code[:-1]]) if self.size else np.zeros(0, np.int64)
        lengths = np.diff(np.r_[starts, self.size])
        self.segment_start: I64 = np.repeat(starts, lengths).astype(np.int64, copy=False)
        self._bounds: dict[int, tuple[I64, I64]] = {}

    def bound_at(self, code: I64, rank: I64) -> I64:
        """First index whose key code is ``code`` and time rank >= ``rank`` (the next key's first, if none)."""
        return np.searchsorted(self._composite, code * self._stride + rank, "left").astype(np.int64, copy=False)

    def bound(self, rank_after: I64) -> I64:
        """First index of the row's key whose time rank is >= ``rank_after`` (a per-global-row rank).

        The queries are non-decreasing along the array (key, then time), so one forward merge answers
        them all in linear time instead of a binary search each."""
        return merge_bounds(self._composite, self.code * self._stride + rank_after[self.rows])

    def bounds(self, lo_rank: I64 | None, hi_rank: I64 | None, include_current: bool) -> Bounds:
        """``[lo, hi)`` per row: ``lo_rank`` / ``hi_rank`` are, per global row, the rank of the first time
        after the window's start / end (None: the key's first row / the row itself)."""
        lo = self.segment_start if lo_rank is None else self._cached(lo_rank)
        if hi_rank is None:
            hi = self._arange + 1 if include_current else self._arange
        else:
            hi = self._cached(hi_rank)
        return Bounds(lo, hi)

    def _cached(self, rank_after: I64) -> I64:
        got = self._bounds.get(id(rank_after))
        if got is None or got[0] is not rank_after:
            got = self._bounds[id(rank_after)] = (rank_after, self.bound(rank_after))
        return got[1]


@kernel
def merge_bounds(sorted_values: I64, queries: I64) -> I64:  # pragma: no cover - compiled by numba
    """``searchsorted(sorted_values, queries, 'left')`` for non-decreasing ``queries``: one forward pass."""
    out = np.empty(len(queries), dtype=np.int64)
    j = 0
    n = len(sorted_values)
    for i in range(len(queries)):
        q = queries[i]
        while j < n and sorted_values[j] < q:
            j += 1
        out[i] = j
    return out


@kernel
def stable_order(codes: I64, cardinality: int) -> I64:  # pragma: no cover - compiled by numba
    """The stable sort order of ``codes`` (``0 <= code < cardinality``) by counting: linear, about 5x
    faster than sorting the packed ``code * n + row`` at 2.6 M rows."""
    counts = np.zeros(cardinality + 1, dtype=np.int64)
    for i in range(len(codes)):
        counts[codes[i] + 1] += 1
    for k in range(cardinality):
        counts[k + 1] += counts[k]
    out = np.empty(len(codes), dtype=np.int64)
    for i in range(len(codes)):
        c = codes[i]
        out[counts[c]] = i
        counts[c] += 1
    return out


class Bounds:
    """``[lo, hi)`` index ranges, one per row of a :class:`KeyedRows`."""

    def __init__(self, lo: I64, hi: I64) -> None:
        self.lo = lo
        self.hi = np.maximum(hi, lo)


def placed_ranges(kr: KeyedRows, flag: Bool, first_rank: I64, last_rank: I64) -> tuple[I64, I64]:
    """For label-like contributions placed at another time: the rows each one counts for.

    Row ``c`` (with ``flag``) placed at ``p`` counts for the later rows of its key whose time
    ``t`` satisfies ``t - lag - window < p <= t - lag``, i.e. ``p + lag <= t < p + lag + window``: with
    ``first_rank`` / ``last_rank`` the time ranks of the first times >= ``p + lag`` / ``p + lag + window``,
    that is one contiguous index range ``[start, end)`` per contribution (empty when start >= end).
    """
    c = np.flatnonzero(flag)
    start = np.maximum(kr.bound_at(kr.code[c], first_rank), c + 1)  # strictly after c, as c is known
    end = kr.bound_at(kr.code[c], last_rank)
    return start, end


def range_counts(n: int, start: I64, end: I64) -> I64:
    """Per row, how many of the ranges ``[start, end)`` contain it."""
    ok = start < end
    diff = np.bincount(start[ok], minlength=n + 1) - np.bincount(end[ok], minlength=n + 1)
    return np.cumsum(diff[:n]).astype(np.int64, copy=False)


def window_counts(flag: Bool, b: Bounds) -> I64:
    """How many rows with ``flag`` lie in each window."""
    cum = np.zeros(len(flag) + 1, dtype=np.int64)
    np.cumsum(flag, out=cum[1:])
    return cum[b.hi] - cum[b.lo]


def _limbs(values: F64) -> list[I64]:
    """``trunc(v * 2**64)`` as three signed 36-bit limbs (low first); |v| < LIMB_LIMIT, finite."""
    a = np.abs(values) * 2.0**-8  # trunc(|v| * 2**64) / 2**72: the top limb is its integer part
    top = np.floor(a)
    rest = (a - top) * 2.0**_LIMB  # exact: only the fraction bits of ``a`` remain
    mid = np.floor(rest)
    low = np.floor((rest - mid) * 2.0**_LIMB)
    sign = np.where(values < 0, -1, 1)
    return [low.astype(np.int64) * sign, mid.astype(np.int64) * sign, top.astype(np.int64) * sign]


def limb_prefix(values: F64, valid: Bool) -> list[I64]:
    """Cumulative sums (with a leading 0) of the exact limbs of ``values`` where ``valid``: the part of
    :func:`exact_sums` independent of the window (so windows of one key and field share it)."""
    x = np.where(valid, values, 0.0)
    out = []
    for limb in _limbs(x):
        cum = np.zeros(len(limb) + 1, dtype=np.int64)
        np.cumsum(limb, out=cum[1:])
        out.append(cum)
    return out


def exact_sums(values: F64, valid: Bool, b: Bounds, prefix: list[I64] | None = None) -> F64:
    """Window sums of ``values`` where ``valid``, from exact integer limb sums (see the module docstring);
    ``prefix``: :func:`limb_prefix` of the same values, when several windows share it."""
    low, mid, top = (cum[b.hi] - cum[b.lo] for cum in (limb_prefix(values, valid) if prefix is None else prefix))
    mid = mid + (low >> _LIMB)  # carry: the lower limbs become 0 <= limb < 2**36, the top keeps the sign
    low = low & _MASK
    top = top + (mid >> _LIMB)
    mid = mid & _MASK
    out: F64 = (top.astype(np.float64) * 2.0**8 + mid.astype(np.float64) * 2.0**-28) + low.astype(
        np.float64) * 2.0**-64
    return out


def last_index(flag: Bool, b: Bounds) -> tuple[I64, Bool]:
    """The last index with ``flag`` in each window, and whether there is one."""
    idx = np.where(flag, np.arange(len(flag), dtype=np.int64), -1)
    running = np.empty(len(flag) + 1, dtype=np.int64)
    running[0] = -1
    np.maximum.accumulate(idx, out=running[1:])
    last = running[b.hi]
    found = last >= b.lo
    return np.where(found, last, 0), found


def first_index(flag: Bool, b: Bounds) -> tuple[I64, Bool]:
    """The first index with ``flag`` in each window, and whether there is one."""
    n = len(flag)
    idx = np.where(flag, np.arange(n, dtype=np.int64), n)
    running = np.empty(n + 1, dtype=np.int64)
    running[n] = n
    running[:n] = np.minimum.accumulate(idx[::-1])[::-1]
    first = running[b.lo]
    found = first < b.hi
    return np.where(found, first, 0), found


def count_distinct(flag: Bool, codes: I64, cardinality: int, group: I64, b: Bounds,
                   pairs: tuple[I64, I64] | None = None) -> I64:
    """Distinct ``codes`` (``0 <= code < cardinality``) among the rows with ``flag`` in each window
    (``group``: the key code per row, non-decreasing; ``pairs``: :func:`distinct_pairs` of the same
    arguments, when several windows share them)."""
    n = len(flag)
    total = window_counts(flag, b)
    j, nxt = distinct_pairs(flag, codes, cardinality, group) if pairs is None else pairs
    if len(j) == 0:
        return total
    # rows r with lo[r] <= j and hi[r] > nxt form one range [first, last), as lo and hi only grow
    first = _count_at_most(b.hi, nxt, n)
    last = _count_at_most(b.lo, j, n)
    ok = first < last
    diff = np.bincount(first[ok], minlength=n + 1) - np.bincount(last[ok], minlength=n + 1)
    return total - np.cumsum(diff[:n])


def distinct_pairs(flag: Bool, codes: I64, cardinality: int, group: I64) -> tuple[I64, I64]:
    """The pairs ``(j, next row of j's key with j's value)`` among the rows with ``flag``: the sort
    :func:`count_distinct` needs, independent of the window (so windows of one key and field share it)."""
    n = len(flag)
    pos = np.flatnonzero(flag)
    if len(pos) < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    # sorted by (value, row), a key's rows of one value are adjacent (a key's rows are one contiguous run)
    if cardinality <= 4 * (n + 1):
        order = stable_order(codes[pos], cardinality)
        sp, sc = pos[order], codes[pos][order]
    elif (cardinality + 1) * (n + 1) < 1 << 62:
        packed = np.sort(codes[pos] * (n + 1) + pos)
        sp, sc = packed % (n + 1), packed // (n + 1)
    else:
        order = np.argsort(codes[pos], kind="stable")
        sp, sc = pos[order], codes[pos][order]
    sg = group[sp]
    same = (sc[1:] == sc[:-1]) & (sg[1:] == sg[:-1])
    return sp[:-1][same], sp[1:][same]


def _count_at_most(sorted_bounds: I64, x: I64, n: int) -> I64:
    """How many entries of the non-decreasing ``sorted_bounds`` (values in 0..n) are <= each ``x``:
    ``searchsorted(..., 'right')`` by counting, linear instead of a binary search per query."""
    cum = np.cumsum(np.bincount(sorted_bounds, minlength=n + 1))
    return cum[x]


def range_extreme(values: F64, valid: Bool, b: Bounds, *, maximum: bool) -> tuple[F64, Bool]:
    """The max (or min) of ``values`` where ``valid`` in each window, and whether the window has any."""
    pos = np.flatnonzero(valid)
    cum = np.zeros(len(valid) + 1, dtype=np.int64)
    np.cumsum(valid, out=cum[1:])
    lo, hi = cum[b.lo], cum[b.hi]  # the window in the compressed array of valid values
    found = hi > lo
    sign = 1.0 if maximum else -1.0
    v = values[pos] * sign
    out = np.full(len(lo), -np.inf)
    if len(v):
        q = np.flatnonzero(found)
        out[q] = _range_max(v, lo[q], hi[q])
    return out * sign, found


_LEVELS = 7  # the short-range sparse table answers ranges up to 2 * 2**6 = 128 long
_BLOCK = 64


def _sparse(v: F64, levels: int) -> list[F64]:
    table = [v]
    for k in range(1, levels):
        prev = table[-1]
        step = 1 << (k - 1)
        if len(prev) <= step:
            break
        table.append(np.maximum(prev[:-step], prev[step:]))
    return table


def _query(table: list[F64], lo: I64, hi: I64) -> F64:
    """Max over [lo, hi) (non-empty, hi - lo <= 2 * 2**(len(table) - 1)) from a sparse table."""
    width = hi - lo
    k = np.zeros(len(lo), dtype=np.int64)
    for level in range(1, len(table)):
        k += width >= (1 << level)
    out = np.empty(len(lo))
    for level in range(len(table)):
        sel = np.flatnonzero(k == level)
        if len(sel):
            t = table[level]
            out[sel] = np.maximum(t[lo[sel]], t[hi[sel] - (1 << level)])
    return out


def _range_max(v: F64, lo: I64, hi: I64) -> F64:
    short_table = _sparse(v, _LEVELS)
    reach = 1 << len(short_table)
    out = np.empty(len(lo))
    short = (hi - lo) <= reach
    s = np.flatnonzero(short)
    out[s] = _query(short_table, lo[s], hi[s])
    g = np.flatnonzero(~short)
    if len(g):
        padded = np.full(-(-len(v) // _BLOCK) * _BLOCK, -np.inf)
        padded[: len(v)] = v
        blocks = padded.reshape(-1, _BLOCK)
        prefix = np.maximum.accumulate(blocks, axis=1).ravel()
        suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
        block_max = blocks.max(axis=1)
        start, h = lo[g], hi[g]
        first_full = -(-start // _BLOCK)
        last_full = h // _BLOCK  # exclusive
        res = np.maximum(suffix[start], prefix[h - 1])  # long ranges span at least two blocks
        inner = np.flatnonzero(last_full > first_full)
        if len(inner):
            bt = _sparse(block_max, 64)
            res[inner] = np.maximum(res[inner], _query(bt, first_full[inner], last_full[inner]))
        out[g] = res
    return out



_EPS = 2.0**-53
_SCALE = 2.0**64


def _two_sum_err(a: F64, b: F64, s: F64) -> F64:
    """The exact rounding error of ``s = fl(a + b)`` (Knuth's TwoSum)."""
    bb = s - a
    err: F64 = (a - (s - bb)) + (b - bb)
    return err


def _segmented_cumsum(y: F64, starts: I64, lengths: I64) -> F64:
    """Inclusive prefix sums restarting at each segment, added strictly left to right within it (keys of
    similar length share one 2-D ``cumsum``), so a key's sums never depend on other keys' values."""
    out = np.empty_like(y)
    width = np.left_shift(1, np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64, copy=False))
    for w in np.unique(width).tolist():
        ks = np.flatnonzero(width == w)
        ln, st = lengths[ks], starts[ks]
        row = np.repeat(np.arange(len(ks)), ln)
        col = np.arange(int(ln.sum())) - np.repeat(np.cumsum(ln) - ln, ln)
        src = np.repeat(st, ln) + col
        grid = np.zeros((len(ks), w))
        grid[row, col] = y[src]
        np.cumsum(grid, axis=1, out=grid)
        out[src] = grid[row, col]
    return out


class _DDPrefix:
    """Per-key inclusive prefix sums as double-doubles (high + low): a window's sum is accurate to about
    2**-106 of the prefix, so the values before a window cost it no precision."""

    def __init__(self, y: F64, starts: I64, lengths: I64, first: Bool) -> None:
        self.high = _segmented_cumsum(y, starts, lengths)
        prev = np.where(first, 0.0, np.concatenate(([0.0], self.high[:-1])))
        self.low = _segmented_cumsum(_two_sum_err(prev, y, self.high), starts, lengths)

    def window(self, lo: I64, hi: I64, opens: Bool) -> tuple[F64, F64]:
        """Sums over ``[lo, hi)`` (``opens``: ``lo`` is its key's first index) and the prefix magnitude."""
        before = np.maximum(lo - 1, 0)
        hb = np.where(opens, 0.0, self.high[before])
        lb = np.where(opens, 0.0, self.low[before])
        ha = self.high[hi - 1]
        d = ha - hb
        out: F64 = d + (_two_sum_err(ha, -hb, d) + (self.low[hi - 1] - lb))
        return out, np.abs(ha) + np.abs(hb)


def window_std(values: F64, valid: Bool, group: I64, b: Bounds, *, max_exact: float = 0.05) -> tuple[F64, Bool] | None:
    """Sample standard deviation of ``values`` where ``valid`` in each window (None: too many windows need
    the exact path; let DuckDB do it).

    Values are centred on their key's first value, window sums of ``y`` and ``y**2`` come from per-key
    double-double prefix sums, and ``var = (Q - S**2 / n) / (n - 1)``. Where the cancellation in that
    numerator could exceed 1e-10 of it (a window much narrower than its key's spread, or all equal), the
    window is recomputed exactly as the online engine does it: integers ``trunc(v * 2**64)``,
    ``n*Σx² - (Σx)²``. Every step depends only on the key's own values up to the window.
    """
    pos = np.flatnonzero(valid)
    cum = np.zeros(len(valid) + 1, dtype=np.int64)
    np.cumsum(valid, out=cum[1:])
    lo, hi = cum[b.lo], cum[b.hi]
    n = hi - lo
    out = np.zeros(len(lo))
    found = n >= 2
    if not found.any():
        return out, found
    x = values[pos]
    g = group[pos]
    first = np.r_[True, g[1:] != g[:-1]]
    starts = np.flatnonzero(first)
    lengths = np.diff(np.r_[starts, len(g)])
    key_start = np.repeat(starts, lengths)
    y = x - x[key_start]
    sy = _DDPrefix(y, starts, lengths, first)
    qy = _DDPrefix(y * y, starts, lengths, first)
    q = np.flatnonzero(found)
    lq, hq, nq = lo[q], hi[q], n[q].astype(np.float64)
    opens = key_start[lq] == lq
    s, s_mag = sy.window(lq, hq, opens)
    sq, q_mag = qy.window(lq, hq, opens)
    mean_part = s * s / nq
    num = sq - mean_part
    err = 8 * _EPS * (np.abs(sq) + mean_part) + 1e-28 * (q_mag + s_mag * np.abs(s))
    fast = num > 1e10 * err
    out[q[fast]] = np.sqrt(num[fast] / (nq[fast] - 1))
    slow = q[~fast]
    if len(slow) > max_exact * len(q) + 1000:
        return None
    keys = lo[slow] * (len(x) + 1) + hi[slow]
    exact: dict[int, float] = {}
    for key in np.unique(keys).tolist():
        a, z = divmod(key, len(x) + 1)
        xs = [int(v * _SCALE) for v in x[a:z].tolist()]
        s1 = sum(xs)
        m = z - a
        exact[key] = float(np.sqrt((m * sum(v * v for v in xs) - s1 * s1) * 2.0**-128 / (m * (m - 1))))
    out[slow] = [exact[k] for k in keys.tolist()]
    return out, found
