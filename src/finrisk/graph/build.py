"""The transfer graph: numeric node ids and edge arrays sorted for joins, with scipy.sparse views.

Accounts become dense ``int32`` ids (``pandas.factorize``; short Arrow strings by a compiled table,
``_strings.factorize_strings``), and every transfer is one row of parallel numpy arrays. Edges are kept
sorted by (source, time) so the loop and typology detectors can join paths with ``searchsorted`` instead of
looping in Python, and a second order by (target, time) serves in-edge scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from finrisk._jit import kernel
from finrisk.errors import GraphInputError
from finrisk.graph._bucket_sort import DIRECT_ITEMS, bucket_grouped
from finrisk.graph._strings import factorize_strings

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]

TRANSFER_COLUMNS = ("src", "dst", "amount", "time")


@dataclass(frozen=True)
class SharedAccounts:
    """One numbering of accounts shared by the transfer graph and the identity tables, made by one factorisation
    of all their ids, so propagation can join the two graphs by number instead of matching 2 M ids again (0.9 s
    CPU of ``pandas.factorize`` at 1 M accounts, docs/graph.md part F).

    ``names[:n_transfer]`` are the transfer graph's nodes in its order; accounts seen only in the identity tables
    follow in order of first appearance. ``codes[i]`` numbers the rows of the ``i``-th identity id column
    (-1: missing)."""

    names: npt.NDArray[Any]
    n_transfer: int
    codes: tuple[IntArray, ...]


@dataclass(frozen=True)
class TransferGraph:
    """Account-to-account transfers as compact arrays.

    Parameters
    ----------
    nodes
        Entity id of each node; node ``i`` is ``nodes[i]``.
    src, dst
        Node ids of each edge, sorted by (src, time).
    amount, time
        Amount and time (any integer clock: epoch seconds, simulation steps) of each edge.
    row
        Position of each edge in the input table, so alerts can point back at the original events.

    Examples
    --------
    >>> g = build_transfer_graph(["a", "b"], ["b", "a"], [10.0, 9.5], [1, 2])
    >>> g.n_nodes, g.n_edges, g.out_degree().tolist()
    (2, 2, [1, 1])
    """

    nodes: npt.NDArray[Any]
    src: Int32Array
    dst: Int32Array
    amount: FloatArray
    time: IntArray
    row: IntArray
    out_ptr: IntArray
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    accounts: SharedAccounts | None = field(default=None, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        return int(len(self.nodes))

    @property
    def n_edges(self) -> int:
        return int(len(self.src))

    def out_degree(self) -> IntArray:
        return np.diff(self.out_ptr)

    def in_degree(self) -> IntArray:
        return np.diff(self.in_ptr)

    @property
    def in_ptr(self) -> IntArray:
        """Start of each node's in-edges in :attr:`in_order` (a count of targets: made on first use)."""
        if "in_ptr" not in self._cache:
            ptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.dst, minlength=self.n_nodes), out=ptr[1:])
            self._cache["in_ptr"] = ptr
        in_ptr: IntArray = self._cache["in_ptr"]
        return in_ptr

    @property
    def in_order(self) -> IntArray:
        """Edge positions sorted by (target, time), ties by input row: made on first use, since only the
        in-edge scans (fan-in, structured fan-in, the console's neighbourhood) read it and the out-order
        alone is what a CSR build makes (0.1-0.15 s CPU of the build at 5 M transfers moved here)."""
        if "in_order" not in self._cache:
            self._cache["in_order"] = _sorted_in(self.dst, self.time, self.row, self.n_nodes)
        in_order: IntArray = self._cache["in_order"]
        return in_order

    def node_index(self) -> dict[Any, int]:
        """Entity id -> node id (built once, on demand)."""
        if "index" not in self._cache:
            self._cache["index"] = {v: i for i, v in enumerate(self.nodes.tolist())}
        index: dict[Any, int] = self._cache["index"]
        return index

    def adjacency(self) -> sp.csr_matrix:
        """Directed node x node matrix whose entries count transfers (duplicates summed by scipy)."""
        if "adj" not in self._cache:
            n = self.n_nodes
            data = np.ones(self.n_edges, dtype=np.float64)
            self._cache["adj"] = sp.csr_matrix((data, (self.src, self.dst)), shape=(n, n))
        adj: sp.csr_matrix = self._cache["adj"]
        return adj

    def edge_frame(self, edges: npt.ArrayLike) -> pd.DataFrame:
        """The evidence rows of ``edges`` (edge positions) with entity ids, amount, time and input row."""
        e = np.asarray(edges, dtype=np.int64)
        return pd.DataFrame({
            "src": self.nodes[self.src[e]], "dst": self.nodes[self.dst[e]], "amount": self.amount[e],
            "time": self.time[e], "row": self.row[e],
        })


def unique_pairs(first: IntArray, second: IntArray, n_first: int) -> tuple[IntArray, IntArray]:
    """Distinct ``(first, second)`` pairs of non-negative ids, sorted by ``first`` then ``second`` (``first``
    below ``n_first``). A counting sort on ``first`` with each run sorted in cache (:func:`_grouped`), then one
    pass dropping repeats. The 3 M identity links of the scale world, in the order the identity graph makes them
    (per kind, accounts numbered by first appearance): 0.035 s CPU where a radix sort of packed keys (three
    passes over 42-bit keys) took 0.10-0.12 s; shuffled, the counting sort's random writes make it the slower
    (0.135 s against 0.09 s). Ids outside ``[0, n_first)`` or too wide to pack go to ``lexsort``."""
    if not len(first):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    packing = _packing(b, len(a))
    if (packing is None or int(b.min()) < 0 or int(a.min()) < 0 or int(a.max()) >= n_first
            or n_first > 4 * len(a) + (1 << 20)):
        order = np.lexsort((b, a))
        a, b = a[order], b[order]
        keep = np.ones(len(a), dtype=bool)
        keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        return a[keep], b[keep]
    none = np.zeros(0, dtype=np.int64)
    words, _, ptr = _grouped(a, b, none, none, n_first, *packing)
    return _distinct_runs(words, ptr, *packing)


@kernel
def _distinct_runs(words: IntArray, ptr: IntArray, low: int,
                   bits: int) -> tuple[IntArray, IntArray]:  # pragma: no cover - compiled; checked vs np.unique
    """(key, value) of each distinct value in each key's sorted run of packed words (value in the high bits)."""
    keys = np.empty(len(words), dtype=np.int64)
    values = np.empty(len(words), dtype=np.int64)
    m = 0
    for k in range(len(ptr) - 1):
        for i in range(ptr[k], ptr[k + 1]):
            v = (words[i] >> bits) + low
            if i == ptr[k] or v != values[m - 1]:
                keys[m] = k
                values[m] = v
                m += 1
    return keys[:m].copy(), values[:m].copy()


def _packing(t: IntArray, n: int) -> tuple[int, int] | None:
    """(lowest time, bits of a row number) when (time - lowest, row) packs into one non-negative 64-bit word,
    else None (a time span over ~2**40 with millions of rows: the callers fall back to ``lexsort``)."""
    if not n:
        return 0, 1
    low = int(t.min())
    bits = max(int(n - 1).bit_length(), 1)
    return (low, bits) if (int(t.max()) - low).bit_length() + bits <= 63 else None


@kernel
def _grouped(  # pragma: no cover - compiled; checked against lexsort in tests/graph/test_build.py
    key: npt.NDArray[np.integer[Any]], t: IntArray, tie: IntArray, payload: IntArray, n_keys: int, low: int,
    bits: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """Items ``0..n-1`` ordered by (``key``, ``t``, ``tie``; ``tie`` empty: the item itself, a stable sort).
    Returns each item's word ``(t - low) << bits | tie`` in that order, its ``payload`` (if given) in that
    order, and each key's start. A counting sort on the key places one word per item (the time and tie travel
    in it, so a key's run sorts as plain integers and the placing pass makes one random write, not two), then
    each run is sorted where it lies: the runs are short and in cache. The radix sort on time this replaced
    took two passes over all edges before the key's pass (figures in docs/graph.md, part E)."""
    n = len(key)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(n):
        ptr[key[i] + 1] += 1
    for k in range(n_keys):
        ptr[k + 1] += ptr[k]
    own = len(tie) == 0
    carry = len(payload) > 0
    words = np.empty(n, dtype=np.int64)
    carried = np.empty(n if carry else 0, dtype=np.int64)
    for i in range(n):  # ptr[k] serves as key k's next free place, then is shifted back to its start
        k = key[i]
        at = ptr[k]
        ptr[k] = at + 1
        words[at] = ((t[i] - low) << bits) | (i if own else tie[i])
        if carry:
            carried[at] = payload[i]
    for k in range(n_keys, 0, -1):
        ptr[k] = ptr[k - 1]
    ptr[0] = 0
    for k in range(n_keys):
        lo, hi = ptr[k], ptr[k + 1]
        if hi - lo > 32:  # a hub's run: numpy's sort
            if carry:
                by = np.argsort(words[lo:hi])
                words[lo:hi] = words[lo:hi][by]
                carried[lo:hi] = carried[lo:hi][by]
            else:
                words[lo:hi] = np.sort(words[lo:hi])
            continue
        for i in range(lo + 1, hi):  # insertion sort: most accounts have a handful of transfers
            w = words[i]
            c = carried[i] if carry else 0
            j = i - 1
            while j >= lo and words[j] > w:
                words[j + 1] = words[j]
                if carry:
                    carried[j + 1] = carried[j]
                j -= 1
            words[j + 1] = w
            if carry:
                carried[j + 1] = c
    return words, carried, ptr


@kernel
def _out_order(  # pragma: no cover - compiled; the graph tests check the result
    s: Int32Array, d: Int32Array, amt: FloatArray, t: IntArray, n_nodes: int, low: int, bits: int,
) -> tuple[Int32Array, Int32Array, FloatArray, IntArray, IntArray, IntArray]:
    """The edge columns in (source, time) order for inputs that fit in cache (up to ``DIRECT_ITEMS``): one
    counting sort of packed words (:func:`_grouped`) and one pass unpacking and gathering (0.006-0.015 s CPU at
    250,000 transfers where :func:`bucket_grouped` carrying target and amount took 0.010-0.015 s, same runs).
    Consumes ``s`` and ``d`` (the build's own id arrays): the sorted targets are written over ``s`` and the
    sorted sources over ``d``, and the rows over the packed words, since touching fresh memory costs about
    0.4 ms per MB on this machine (60 MB saved at 5 M transfers)."""
    none = np.zeros(0, dtype=np.int64)
    row, _, out_ptr = _grouped(s, t, none, none, n_nodes, low, bits)
    n = len(row)
    d2 = s
    a2 = np.empty(n, dtype=np.float64)
    t2 = np.empty(n, dtype=np.int64)
    mask = (1 << bits) - 1
    for i in range(n):
        w = row[i]
        r = w & mask
        t2[i] = (w >> bits) + low
        row[i] = r
        d2[i] = d[r]
        a2[i] = amt[r]
    s2 = d
    for node in range(n_nodes):
        for i in range(out_ptr[node], out_ptr[node + 1]):
            s2[i] = node
    return s2, d2, a2, t2, row, out_ptr


def _sorted_out(s: Int32Array, d: Int32Array, amt: FloatArray, t: IntArray,
                n_nodes: int) -> tuple[Int32Array, Int32Array, FloatArray, IntArray, IntArray, IntArray]:
    """The edge columns in (source, time) order, ties by input row, with the input row of each edge and the
    sources' pointer array: :func:`bucket_grouped` carrying target and amount (:func:`_out_order` while the
    edges fit in cache), or ``lexsort`` when times span too much to pack beside a row number."""
    packing = _packing(t, len(s))
    if packing is not None and len(s) <= DIRECT_ITEMS:
        return _out_order(s, d, amt, t, n_nodes, *packing)
    if packing is not None:
        none = np.zeros(0, dtype=np.int64)
        row, out_ptr, s2, d2, a2, t2 = bucket_grouped(s, t, none, n_nodes, *packing, d, amt, unpack=True)
        return s2, d2, a2, t2, row, out_ptr
    row = np.lexsort((t, s)).astype(np.int64)
    out_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(s, minlength=n_nodes), out=out_ptr[1:])
    return s[row], d[row], amt[row], t[row], row, out_ptr


def _sorted_in(dst: Int32Array, time: IntArray, row: IntArray, n_nodes: int) -> IntArray:
    """Edge positions by (target, time, input row): :func:`bucket_grouped` carrying the positions, or
    ``lexsort``."""
    packing = _packing(time, len(dst))
    if packing is None:
        return np.lexsort((row, time, dst)).astype(np.int64)
    none = np.zeros(0, dtype=np.float64)
    positions: IntArray = bucket_grouped(dst, time, row, n_nodes, *packing, np.arange(len(dst)), none)[3]
    return positions


@kernel
def _assign_codes(values: IntArray, code_of: Int32Array | IntArray, uniques: IntArray, k: int,
                  codes: Int32Array | IntArray) -> int:  # pragma: no cover - compiled
    """Codes of ``values`` through the value-indexed ``code_of``, new values numbered from ``k``; returns the
    next free code (``int32`` codes for the graph's edge columns, ``int64`` for :func:`_dense_codes`)."""
    for i in range(len(values)):
        c = code_of[values[i]]
        if c < 0:
            c = k
            code_of[values[i]] = k
            uniques[k] = values[i]
            k += 1
        codes[i] = c
    return k


def _dense_codes(values: IntArray, n_values: int) -> tuple[IntArray, IntArray]:
    """``pandas.factorize`` for small non-negative integers: codes in order of first appearance, through
    an array indexed by value instead of a hash table (:func:`_assign_codes`)."""
    code_of = np.full(n_values, -1, dtype=np.int64)
    codes = np.empty(len(values), dtype=np.int64)
    uniques = np.empty(min(len(values), n_values), dtype=np.int64)
    k = _assign_codes(values, code_of, uniques, 0, codes)
    return codes, uniques[:k]


def _dense_pair_codes(src: IntArray, dst: IntArray, n_values: int) -> tuple[Int32Array, Int32Array, IntArray]:
    """:func:`_dense_codes` of ``src`` then ``dst`` as one column, without concatenating them, into ``int32``
    codes (the graph's id type): half the memory written for 10 M ids, and an ``int32`` table in cache. The
    arrays are numpy's (huge pages: see :func:`bucket_grouped`), filled by :func:`_assign_codes`."""
    code_of = np.full(n_values, -1, dtype=np.int32)
    uniques = np.empty(min(len(src) + len(dst), n_values), dtype=np.int64)
    s = np.empty(len(src), dtype=np.int32)
    d = np.empty(len(dst), dtype=np.int32)
    k = _assign_codes(src, code_of, uniques, 0, s)
    k = _assign_codes(dst, code_of, uniques, k, d)
    return s, d, uniques[:k].copy()


def _dense_range(*columns: npt.NDArray[Any]) -> int | None:
    """Size of a value-indexed code array for these integer ids taken as one column (from 0 to a few times
    their count), or None when they are not integers, negative or too sparse for one."""
    if not all(c.dtype.kind in "iu" for c in columns) or not sum(len(c) for c in columns):
        return None
    low = min(int(c.min()) for c in columns if len(c))
    high = max(int(c.max()) for c in columns if len(c))
    return high + 1 if low >= 0 and high < 4 * sum(len(c) for c in columns) + (1 << 20) else None


def factorize_ids(ids: pd.Series) -> tuple[IntArray, npt.NDArray[Any]]:
    """Codes (first appearance order) and distinct ids. Integer ids from 0 to a few times their count (edge
    arrays of already-numbered accounts) go through :func:`_dense_codes`: 0.33 s CPU for 10 M ids where
    ``pandas.factorize`` took 0.71 s (same run); short Arrow strings through :func:`factorize_strings`."""
    if ids.dtype.kind in "iu" and len(ids):
        values = ids.to_numpy().astype(np.int64)
        size = _dense_range(values)
        if size is not None:
            codes, uniques = _dense_codes(values, size)
            return codes, uniques
    packed = factorize_strings(ids)
    if packed is not None:
        return packed
    codes, found = pd.factorize(ids)
    return codes.astype(np.int64), np.asarray(found)


def order_by(key: npt.NDArray[np.integer[Any]], time: IntArray) -> IntArray:
    """Stable order of edges by (key, time): a counting sort on the key, each key's run then sorted by time
    (:func:`_grouped`); negative or sparse keys, or times too wide to pack, go to ``lexsort``."""
    if not len(key):
        return np.zeros(0, dtype=np.int64)
    t = np.asarray(time, dtype=np.int64)
    n_keys = int(key.max()) + 1
    packing = _packing(t, len(key))
    if int(key.min()) < 0 or n_keys > 4 * len(key) + (1 << 20) or packing is None:
        return np.lexsort((t, key)).astype(np.int64)
    none = np.zeros(0, dtype=np.int64)
    words, _, _ = _grouped(key, t, none, none, n_keys, *packing)
    return words & ((1 << packing[1]) - 1)


def as_epoch_seconds(values: npt.ArrayLike | pd.Series) -> IntArray:
    """Integer clock values as they are; datetimes (naive = UTC) and ISO strings as epoch seconds. An ``int64``
    array comes back uncopied (callers only read it; the copy was 40 MB of fresh memory at 5 M transfers)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[s]").astype(np.int64)
    if arr.dtype == object:
        try:
            parsed = pd.to_datetime(pd.Series(arr), utc=True).dt.tz_localize(None)
            return parsed.to_numpy().astype("datetime64[s]").astype(np.int64)
        except (ValueError, TypeError) as exc:
            raise GraphInputError("time", "must be integers or timestamps", str(arr[:1].tolist())) from exc
    if not np.issubdtype(arr.dtype, np.number):
        raise GraphInputError("time", "must be integers or timestamps", str(arr.dtype))
    return arr.astype(np.int64, copy=False)


def _as_series(ids: npt.ArrayLike | pd.Series) -> pd.Series:
    """Ids as a Series: integer arrays keep their dtype (building from 5 M integer edges took 2.7 s CPU, 7.4 s
    with the same ids as Python objects), anything else becomes objects."""
    if isinstance(ids, pd.Series):
        return ids.reset_index(drop=True)
    arr = np.asarray(ids)
    return pd.Series(arr) if arr.dtype.kind in "iu" else pd.Series(arr, dtype=object)


def build_transfer_graph(
    src: npt.ArrayLike | pd.Series, dst: npt.ArrayLike | pd.Series, amount: npt.ArrayLike,
    time: npt.ArrayLike | pd.Series, *, nodes: npt.ArrayLike | None = None,
    shared_ids: Sequence[pd.Series] = (),
) -> TransferGraph:
    """Build a :class:`TransferGraph` from parallel columns (entity ids, amounts, times).

    ``nodes`` optionally lists entities up front (isolated accounts, or ids shared with other graphs);
    ids not in it are appended. Pandas columns are factorised as they are (no copy to Python objects).
    ``shared_ids`` (the account columns of identity tables) are numbered in the same pass, after the transfer
    ids, into :attr:`TransferGraph.accounts` (:class:`SharedAccounts`); the graph itself is unchanged.
    """
    s_ser = _as_series(src)
    d_ser = _as_series(dst)
    amt = np.asarray(amount, dtype=np.float64)
    t = as_epoch_seconds(time)
    n = len(s_ser)
    for name, size in (("dst", len(d_ser)), ("amount", len(amt)), ("time", len(t))):
        if size != n:
            raise GraphInputError(name, f"must have as many rows as 'src' ({n})", str(size))
    if n and (s_ser.isna().any() or d_ser.isna().any()):
        raise GraphInputError("src/dst", "must not be empty", "a missing account id")
    if n and not np.isfinite(amt).all():
        raise GraphInputError("amount", "must be a finite number", "NaN or infinity")
    shared: SharedAccounts | None = None
    if shared_ids:
        s, d, shared = _number_shared(s_ser, d_ser, nodes, shared_ids)
        uniques = shared.names[:shared.n_transfer]
    else:
        s, d, uniques = _number_accounts(s_ser, d_ser, nodes)
    n_nodes = len(uniques)
    s, d, amt, t, row, out_ptr = _sorted_out(s, d, amt, t, n_nodes)
    return TransferGraph(nodes=np.asarray(uniques, dtype=object), src=s, dst=d, amount=amt, time=t, row=row,
                         out_ptr=out_ptr, accounts=shared)


def _number_accounts(s_ser: pd.Series, d_ser: pd.Series,
                     nodes: npt.ArrayLike | None) -> tuple[Int32Array, Int32Array, npt.NDArray[Any]]:
    """Dense ``int32`` node ids of sources and targets (first appearance over ``nodes``, sources, targets)
    and the entity id of each node. Integer edge arrays go through one value-indexed pass
    (:func:`_dense_pair_codes`), anything else through :func:`factorize_ids` on the concatenated ids."""
    n = len(s_ser)
    if nodes is None and s_ser.dtype.kind in "iu" and d_ser.dtype.kind in "iu":
        s_val, d_val = s_ser.to_numpy(), d_ser.to_numpy()
        size = _dense_range(s_val, d_val)
        if size is not None:
            return _dense_pair_codes(s_val.astype(np.int64, copy=False), d_val.astype(np.int64, copy=False),
                                     size)
    parts = [s_ser, d_ser]
    k = 0
    if nodes is not None:
        prefix = pd.Series(np.asarray(nodes), dtype=object)
        k = len(prefix)
        parts = [prefix, s_ser.astype(object), d_ser.astype(object)]
    elif s_ser.dtype != d_ser.dtype:
        parts = [s_ser.astype(object), d_ser.astype(object)]
    codes, uniques = factorize_ids(pd.concat(parts, ignore_index=True))
    return codes[k:k + n].astype(np.int32), codes[k + n:].astype(np.int32), uniques


def _number_shared(s_ser: pd.Series, d_ser: pd.Series, nodes: npt.ArrayLike | None,
                   shared_ids: Sequence[pd.Series]) -> tuple[Int32Array, Int32Array, SharedAccounts]:
    """:func:`_number_accounts` with the ``shared_ids`` columns numbered in the same factorisation, after the
    transfer ids (so the transfer nodes keep their numbers and come first). Columns of another dtype than the
    sources are taken as Python objects, as :func:`_number_accounts` does for mixed sources and targets."""
    n = len(s_ser)
    head = [s_ser, d_ser] if nodes is None else [pd.Series(np.asarray(nodes), dtype=object), s_ser, d_ser]
    extra = [c.reset_index(drop=True) for c in shared_ids]
    parts = [*head, *extra]
    if len({str(p.dtype) for p in parts}) > 1:
        parts = [p.astype(object) for p in parts]
    codes, uniques = factorize_ids(pd.concat(parts, ignore_index=True))
    k = 0 if nodes is None else len(head[0])
    n_head = k + 2 * n
    n_transfer = int(codes[:n_head].max()) + 1 if n_head else 0
    bounds = np.cumsum([n_head, *(len(c) for c in extra)])
    shared = SharedAccounts(names=np.asarray(uniques, dtype=object), n_transfer=n_transfer,
                            codes=tuple(codes[lo:hi].astype(np.int64) for lo, hi in zip(bounds[:-1], bounds[1:],
                                                                                      strict=True)))
    return codes[k:k + n].astype(np.int32), codes[k + n:n_head].astype(np.int32), shared


def transfer_graph_from_frame(
    frame: pd.DataFrame, *, src: str = "account_id", dst: str = "counterparty_account",
    amount: str = "amount", time: str = "event_time", shared_ids: Sequence[pd.Series] = (),
) -> TransferGraph:
    """Build the graph from a table of transfer events (column names default to the ``transaction`` type);
    ``shared_ids`` as in :func:`build_transfer_graph`."""
    missing = [c for c in (src, dst, amount, time) if c not in frame.columns]
    if missing:
        raise GraphInputError(missing[0], "is a required column of the transfer table", "absent")
    return build_transfer_graph(frame[src], frame[dst], frame[amount].to_numpy(), frame[time],
                                shared_ids=shared_ids)
