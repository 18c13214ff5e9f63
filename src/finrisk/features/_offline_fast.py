"""The offline compiler's fast path: DuckDB reads, filters and orders the events once; numpy computes the
window features key by key (``_offline_numpy``); DuckDB runs what numpy does not (label joins, ``std``,
values outside the exact-sum range) and the derived features. See ``offline.py`` for the strategy.

Why not DuckDB window frames for everything: each windowed aggregate cost about 1 us per row there
(the 47 demo features over 10 M events took 250+ s on the 2-core test machine); the numpy kernels share
one sort per key and cost a few vectorised passes per feature. Two keys run at a time in threads (the
kernels release the GIL): 10.3 M events took 70 s alone, 45 s so (docs/features.md).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from finrisk.features import _offline_numpy as K
from finrisk.features._offline_derived import derive
from finrisk.features._offline_sql import contrib_sql, derived_sql, fast_query, join_query, quote
from finrisk.features.spec import Aggregation, FeatureSet, WindowFeature

__all__ = ["build_fast"]

Progress = Callable[[int, int, str], None]
Run = Callable[[str], list[Any]]

_NUMPY_AGGS = {Aggregation.COUNT, Aggregation.SUM, Aggregation.MEAN, Aggregation.MIN, Aggregation.MAX, Aggregation.STD,
               Aggregation.COUNT_DISTINCT, Aggregation.LAST, Aggregation.TIME_SINCE_LAST, Aggregation.FIRST_SEEN}
_COUNTS = {Aggregation.COUNT, Aggregation.COUNT_DISTINCT}


@dataclass
class _Column:
    """One window feature's values over every row (``valid`` False: null)."""

    values: Any  # a numpy array, or a pyarrow array for ``last``
    valid: K.Bool | None = None


@dataclass
class _Rows:
    """The events, the columns the features read, and per-span time ranks (cached).

    ``table`` is as DuckDB returned it (not sorted: sorting the wide rows there took more memory than
    all the rest); ``perm`` lists its rows in event order, and every array below is in that order.
    """

    table: pa.Table
    perm: K.I64
    ts: K.I64
    time_rank: K.I64
    unique_ts: K.I64
    ranks: dict[int, K.I64] = field(default_factory=dict)
    encoded: dict[str, tuple[K.I64, int, K.Bool]] = field(default_factory=dict)
    converted: dict[tuple[str, str], Any] = field(default_factory=dict)

    def rank_after(self, span_us: int) -> K.I64:
        """Per row: the rank of the first distinct time after ``t - span_us``."""
        got = self.ranks.get(span_us)
        if got is None:
            # searchsorted 'right' of integers is 'left' of the next one; ts is sorted: a linear merge
            got = self.ranks[span_us] = K.merge_bounds(self.unique_ts, self.ts - span_us + 1)
        return got

    def codes(self, name: str) -> tuple[K.I64, int, K.Bool]:
        """Dense integer codes of a column (cached: keys and distinct-count fields repeat)."""
        got = self.encoded.get(name)
        if got is None:
            idx, card, valid = K.encode(self.table.column(name))
            got = self.encoded[name] = (idx[self.perm], card, valid[self.perm])
        return got

    def numpy(self, name: str, dtype: Any) -> Any:
        """A column without nulls, in event order."""
        return np.asarray(self.table.column(name).to_numpy(), dtype=dtype)[self.perm]

    def values(self, name: str, dtype: Any, fill: Any = 0) -> Any:
        """A column in event order, nulls as ``fill`` (cached)."""
        got = self.converted.get(("values", f"{name}:{np.dtype(dtype)}:{fill}"))
        if got is None:
            col = self.table.column(name).fill_null(fill)
            got = np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype)[self.perm]
            self.converted["values", f"{name}:{np.dtype(dtype)}:{fill}"] = got
        return got

    def valid(self, name: str) -> K.Bool:
        """Which rows of a column are not null, in event order (cached)."""
        got = self.converted.get(("valid", name))
        if got is None:
            col = self.table.column(name)
            got = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)[self.perm]
            self.converted["valid", name] = got
        return got


def _fetch(run_arrow: Callable[[str], pa.Table], fs: FeatureSet, numpy_keys: dict[tuple[str, ...],
           list[WindowFeature]], flags: dict[str, str], labels: list[list[WindowFeature]]) -> _Rows:
    cols: set[str] = set()
    for key, feats in numpy_keys.items():
        cols.update(key)
        cols.update(f.field for f in feats if f.field)
    for g in labels:
        cols.update(g[0].key)
    placed = sorted({g[0].time_field for g in labels})
    names = set(fs.names)
    cols.update({i for d in fs.derived_features for i in d.inputs} - names)
    cols -= {"event_id", "event_type", "event_time"}
    select = ", ".join(["_ord", "_ts", "_target", "event_id", "event_type", "event_time",
                        *(quote(c) for c in sorted(cols)),
                        *(f"epoch_us({quote(c)}) AS {quote('_p_' + c)}" for c in placed),
                        *(f"{cond} AS {alias}" for cond, alias in flags.items())])
    table = run_arrow(f"SELECT {select} FROM _fr_base")
    # stable: timsort takes the runs of already ordered rows (DuckDB scans in table order) in linear time
    perm = np.argsort(np.asarray(table.column("_ord").to_numpy(), dtype=np.int64), kind="stable")
    ts = np.asarray(table.column("_ts").to_numpy(), dtype=np.int64)[perm]
    change = np.r_[True, ts[1:] != ts[:-1]] if len(ts) else np.zeros(0, dtype=bool)
    time_rank = (np.cumsum(change) - 1).astype(np.int64, copy=False)
    return _Rows(table, perm, ts, time_rank, ts[change])


def _numeric_ok(values: K.F64, valid: K.Bool) -> bool:
    """Exact limb sums and float extremes need finite values below LIMB_LIMIT."""
    v = values[valid]
    return bool(np.all(np.isfinite(v)) and (len(v) == 0 or float(np.abs(v).max()) < K.LIMB_LIMIT))


class _KeyMemo:
    """What several features of one key share (per key, freed with it): flags over the key's rows,
    limb prefix sums and count_distinct pairs of a (field, flag)."""

    def __init__(self, rows: _Rows, kr: K.KeyedRows) -> None:
        self.rows, self.kr = rows, kr
        self.got: dict[tuple[str, ...], Any] = {}

    def flag(self, column: str) -> K.Bool:
        key = ("flag", column)
        if key not in self.got:
            self.got[key] = self.rows.numpy(column, bool)[self.kr.rows]
        got: K.Bool = self.got[key]
        return got

    def get(self, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        if key not in self.got:
            self.got[key] = make()
        return self.got[key]


def _window_feature(f: WindowFeature, rows: _Rows, kr: K.KeyedRows, flag_name: str, memo: _KeyMemo) -> _Column | None:
    """``f`` over the rows of ``kr`` (None: numpy does not take it, DuckDB will)."""
    agg = f.agg
    flag = memo.flag(flag_name)
    if f.window_us is None:
        b = kr.bounds(None, None, f.include_current)
    else:
        lo = rows.rank_after(f.lag_us + f.window_us)
        b = kr.bounds(lo, rows.rank_after(f.lag_us) if f.lag_us else None, f.include_current)
    if agg is Aggregation.COUNT:
        return _Column(K.window_counts(flag, b))
    if agg in (Aggregation.TIME_SINCE_LAST, Aggregation.FIRST_SEEN):
        idx, found = (K.last_index if agg is Aggregation.TIME_SINCE_LAST else K.first_index)(flag, b)
        return _Column((kr.ts - kr.ts[idx]) / 1e6, found)
    assert f.field is not None
    name = f.field
    col = rows.table.column(name)
    ok = memo.get(("ok", name, flag_name), lambda: flag & rows.valid(name)[kr.rows])
    if agg is Aggregation.COUNT_DISTINCT:
        codes, card, _valid = rows.codes(f.field)
        kc = memo.get(("codes", f.field), lambda: codes[kr.rows])
        pairs = memo.get(("pairs", f.field, flag_name), lambda: K.distinct_pairs(ok, kc, card, kr.code))
        return _Column(K.count_distinct(ok, kc, card, kr.code, b, pairs))
    if agg is Aggregation.LAST:
        idx, found = K.last_index(ok, b)
        take = pa.array(rows.perm[kr.rows[idx]], mask=~found)
        return _Column(col.take(take), None)
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        return None
    values = memo.get(("values", f.field), lambda: rows.values(name, np.float64)[kr.rows])
    if not memo.get(("numeric_ok", f.field, flag_name), lambda: _numeric_ok(values, ok)):
        return None
    if agg in (Aggregation.SUM, Aggregation.MEAN):
        sums = K.exact_sums(values, ok, b, memo.get(("limbs", f.field, flag_name), lambda: K.limb_prefix(values, ok)))
        if agg is Aggregation.SUM:
            return _Column(sums)
        n = K.window_counts(ok, b)
        return _Column(sums / np.maximum(n, 1), n > 0)
    if agg in (Aggregation.MIN, Aggregation.MAX):
        ext, found = K.range_extreme(values, ok, b, maximum=agg is Aggregation.MAX)
        return _Column(ext, found)
    got = K.window_std(values, ok, kr.code, b)
    return None if got is None else _Column(*got)


def build_fast(
    fs: FeatureSet,
    *,
    run: Run,
    run_arrow: Callable[[str], pa.Table],
    db: duckdb.DuckDBPyConnection,
    tie_bits: int,
    unit_us: int,
    made: list[tuple[str, str]],
    progress: Progress | None,
) -> pa.Table:
    """Every feature of ``fs`` for the target rows of ``_fr_base`` (already created), in event order."""
    by_key: dict[tuple[str, ...], list[WindowFeature]] = {}
    joins: list[list[WindowFeature]] = []
    for group in fs.groups().values():
        if group[0].time_field == "event_time":
            by_key.setdefault(group[0].key, []).extend(group)
        else:
            joins.append(group)
    flags: dict[str, str] = {}
    for feats in by_key.values():
        for f in feats:
            flags.setdefault(contrib_sql(f), f"_c{len(flags)}")
    labels = [g for g in joins if all(f.agg is Aggregation.COUNT for f in g)]
    joins = [g for g in joins if g not in labels]
    for g in labels:
        flags.setdefault(contrib_sql(g[0]), f"_c{len(flags)}")
    rows = _fetch(run_arrow, fs, by_key, flags, labels)
    n = rows.table.num_rows
    target = rows.numpy("_target", bool)
    target_rows = np.flatnonzero(target)
    columns: dict[str, pa.Array] = {}
    leftovers: list[tuple[tuple[str, ...], list[WindowFeature]]] = []
    total = len(by_key) + len(joins) + len(labels)
    done = 0

    def step_done(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, label)

    label_keys: dict[tuple[str, ...], list[list[WindowFeature]]] = {}
    for g in labels:
        label_keys.setdefault(g[0].key, []).append(g)
    def one_key(key: tuple[str, ...]) -> tuple[dict[str, pa.Array], list[WindowFeature], list[str]]:
        """The numpy features and label counts of one key; what numpy left; the progress labels."""
        out: dict[str, pa.Array] = {}
        codes, present = K.key_codes([rows.codes(k) for k in key])
        kr = K.KeyedRows(codes, present, rows.ts, rows.time_rank)
        del codes, present
        pick = _targets_of(kr, n, target_rows)
        memo = _KeyMemo(rows, kr)
        feats = by_key.get(key, [])
        rest: list[WindowFeature] = []
        labels_done = [f"{'+'.join(key)}: {len(feats)} features"] if feats else []
        for f in feats:
            col = _window_feature(f, rows, kr, flags[contrib_sql(f)], memo) if f.agg in _NUMPY_AGGS else None
            if col is None:
                rest.append(f)
                continue
            out[f.name] = _scatter(col, pick, pa.int64() if f.agg in _COUNTS else pa.float64())
        for g in label_keys.get(key, []):
            counts = _label_counts(g[0], rows, kr, memo.flag(flags[contrib_sql(g[0])]))
            for f in g:
                out[f.name] = _scatter(_Column(counts), pick, pa.int64())
            labels_done.append(f"{'+'.join(key)}: {g[0].name}")
        return out, rest, labels_done

    keys = [*by_key, *(k for k in label_keys if k not in by_key)]
    for k in {c for key in keys for c in key}:
        rows.codes(k)  # encoded once, before the threads share the cache
    # two keys at a time: the kernels (numpy, numba, Arrow) release the GIL and the machine has 2 cores
    with ThreadPoolExecutor(max_workers=min(2, max(1, len(keys)))) as pool:
        for key, (got, rest, labels_done) in zip(keys, pool.map(one_key, keys), strict=True):
            columns.update(got)
            if rest:
                leftovers.append((key, rest))
            for label in labels_done:
                step_done(label)
    ords = rows.numpy("_ord", np.int64)
    steps = [(f"{'+'.join(key)}: {len(feats)} features", fast_query(key, feats, tie_bits, unit_us), feats, False)
             for key, feats in leftovers]
    steps += [(f"{'+'.join(g[0].key)}: {g[0].name}", join_query(g), g, True) for g in joins]
    for i, (label, sql, feats, counted) in enumerate(steps):
        name = f"_fr_q{i}"
        run(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        made.append(("TABLE", name))
        got = run_arrow(f"SELECT _ord, {', '.join(quote(f.name) for f in feats)} FROM {name} WHERE _target")
        at = np.searchsorted(ords, np.asarray(got.column("_ord").to_numpy(), dtype=np.int64))
        where = np.full(n, -1, dtype=np.int64)
        where[at] = np.arange(len(at))
        row_of = where[target_rows]
        take = pa.array(np.maximum(row_of, 0), mask=row_of < 0)
        for f in feats:
            columns[f.name] = got.column(f.name).take(take).combine_chunks()
        if counted:
            step_done(label)
    return _assemble(fs, rows, target_rows, columns, db, run_arrow, made)


def _label_counts(f: WindowFeature, rows: _Rows, kr: K.KeyedRows, flag: K.Bool) -> K.I64:
    """Counts of a group placed at ``f.time_field`` (labels known late): each label counts for a range."""
    placed = rows.values("_p_" + f.time_field, np.int64)[kr.rows]
    known = rows.valid("_p_" + f.time_field)[kr.rows]
    flag = flag & known
    p = placed[flag]
    assert f.window_us is not None
    first = np.searchsorted(rows.unique_ts, p + f.lag_us, "left").astype(np.int64, copy=False)
    last = np.searchsorted(rows.unique_ts, p + f.lag_us + f.window_us, "left").astype(np.int64, copy=False)
    start, end = K.placed_ranges(kr, flag, first, last)
    return K.range_counts(kr.size, start, end)


@dataclass
class _Pick:
    """For each target row, its index among the key's rows (``safe``; 0 where ``absent``: the target has no
    key; ``absent`` None when every target has it). Made once per key, used by every feature's scatter."""

    safe: K.I64
    absent: K.Bool | None


def _targets_of(kr: K.KeyedRows, n: int, target_rows: K.I64) -> _Pick:
    where = np.full(n, -1, dtype=np.int64)
    where[kr.rows] = np.arange(kr.size, dtype=np.int64)
    pick = where[target_rows]
    absent = pick < 0
    if not absent.any():
        return _Pick(pick, None)
    pick[absent] = 0
    return _Pick(pick, absent)


def _scatter(col: _Column, pick: _Pick, typ: pa.DataType) -> pa.Array:
    """Values over the key's rows -> an Arrow column over the target rows."""
    n = len(pick.safe)
    if isinstance(col.values, (pa.Array, pa.ChunkedArray)):
        values = col.values.combine_chunks() if isinstance(col.values, pa.ChunkedArray) else col.values
        if len(values) == 0:
            return pa.nulls(n, type=values.type)
        return values.take(pa.array(pick.safe, mask=pick.absent))
    if len(col.values) == 0:
        return pa.nulls(n, type=typ)
    out = col.values[pick.safe]
    if col.valid is None:
        return pa.array(out, type=typ, mask=pick.absent)
    mask = ~col.valid[pick.safe]
    if pick.absent is not None:
        mask |= pick.absent
    return pa.array(out, type=typ, mask=mask if mask.any() else None)


def _assemble(fs: FeatureSet, rows: _Rows, target_rows: K.I64, columns: dict[str, pa.Array],
              db: duckdb.DuckDBPyConnection, run_arrow: Callable[[str], pa.Table],
              made: list[tuple[str, str]]) -> pa.Table:
    """The result table: ids, times, then the features in declaration order (derived ones by SQL)."""
    take = pa.array(rows.perm[target_rows])
    out: dict[str, Any] = {"_row": pa.array(np.arange(len(target_rows), dtype=np.int64))}
    for name in ("event_id", "event_type", "event_time"):
        out[name] = rows.table.column(name).take(take)
    names = set(fs.names)
    for i in sorted({i for d in fs.derived_features for i in d.inputs} - names):
        out["_in_" + i] = rows.table.column(i).take(take)
    for f in fs.window_features:
        out[f.name] = columns[f.name]
    refs = {**{k.removeprefix("_in_"): v for k, v in out.items() if k.startswith("_in_")}, **columns}
    for d in fs.derived_features:
        got = derive(d, [refs[i] for i in d.inputs])
        if got is None:
            break
        out[d.name] = refs[d.name] = got
    else:
        return pa.table(out).select(["event_id", "event_type", "event_time", *fs.names])
    table = pa.table({k: v for k, v in out.items() if k not in {d.name for d in fs.derived_features}})
    db.register("_fr_wide", table)
    made.append(("VIEW", "_fr_wide"))
    result = run_arrow(derived_sql(fs, "_fr_wide"))
    row = np.asarray(result.column("_row").to_numpy(), dtype=np.int64)
    if len(row) > 1 and not bool(np.all(row[1:] > row[:-1])):
        result = result.take(pa.array(np.argsort(row)))
    return result.drop_columns(["_row"])
