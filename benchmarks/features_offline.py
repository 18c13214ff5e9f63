"""Benchmark of the offline compiler: the demo feature set over a simulated world, against pandas.

finrisk: :func:`finrisk.features.offline.build_features` (DuckDB) over every event.
Named peer: the same features with pandas ``groupby(key).rolling(window, on=time, closed=...)``, the
way analysts compute them today. Its ties are pinned to the finrisk semantics: rows are sorted by
``(event_time, event_id)`` and placed at ``(event_time_us - t0) * S + tie`` "nanoseconds", where
``tie`` ranks events of one microsecond by event_id (below S/2; S = 1000, doubled while needed); a
window of ``w`` microseconds is then ``w * S - S/2`` with ``closed='left'`` (``'both'`` with
include_current), which is exactly ``t - w < p`` and "strictly before by (event_time, event_id)".
Filters are evaluated with pandas' nullable (Kleene) booleans, so SQL null logic holds.

pandas has no rolling count_distinct or ``last`` over a time window, no lagged windows and no
placement on another column (label features); those features, and derived features built on them,
are left out of the comparison and listed in the JSON (``not_compared``). ``speedup`` is pandas' time over
finrisk's time on the same compared features (``speedup_all_features`` uses finrisk's time for all
of them). The comparison checks every row of every compared feature: integers exactly, floats at
1e-9 relative (absolute 1e-9 near zero).

Full run: ~10 million events; ``--quick``: a small world (under a minute). The last stdout line
is one JSON object. ``cpu_seconds`` / ``pandas_cpu_seconds`` (process CPU time, all threads) are
given beside wall times because the 2-core test machine is shared: under load, wall time mostly
measures the neighbours.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finrisk._yamlfile import load_yaml
from finrisk.events import EventTypeRegistry
from finrisk.features.offline import build_features
from finrisk.features.spec import Aggregation, DerivedFeature, DerivedKind, FeatureSet, WindowFeature, parse_features
from finrisk.simulate import WorldConfig, simulate_world

DEMO = Path(__file__).resolve().parents[1] / "src" / "finrisk" / "features" / "demo_features.yaml"
_PANDAS_AGGS = {Aggregation.COUNT, Aggregation.SUM, Aggregation.MEAN, Aggregation.MIN, Aggregation.MAX,
                Aggregation.STD, Aggregation.TIME_SINCE_LAST, Aggregation.FIRST_SEEN}
_PANDAS_DERIVED = {DerivedKind.RATIO, DerivedKind.DIFFERENCE, DerivedKind.ZSCORE}


def load_events(world: Path) -> pa.Table:
    tables = []
    for folder in sorted((world / "events").iterdir()):
        files = sorted(folder.glob("*.parquet"))
        if not files:
            continue
        t = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        tables.append(t.drop_columns([c for c in t.column_names if c.startswith("label_")]))
    wide = pa.concat_tables(tables, promote_options="default")
    return wide.cast(pa.schema([f.with_nullable(True) for f in wide.schema]))


# --- the pandas peer --------------------------------------------------------------------------
def _filter_mask(df: pd.DataFrame, text: str) -> pd.Series:
    """A filter evaluated with pandas nullable booleans (three-valued, like SQL)."""

    def ev(node: ast.expr) -> Any:
        if isinstance(node, ast.BoolOp):
            parts = [ev(v) for v in node.values]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if isinstance(node.op, ast.And) else (out | p)
            return out
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~ev(node.operand)
        if isinstance(node, ast.Name):
            return df[node.id].astype("boolean") if node.id in df else pd.Series(pd.NA, index=df.index,
                                                                                  dtype="boolean")
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Compare):
            assert isinstance(node.left, ast.Name)
            left, op, right = _nullable(df, node.left.id), node.ops[0], node.comparators[0]
            if isinstance(op, (ast.In, ast.NotIn)):
                assert isinstance(right, ast.List)
                vals = [ev(v) for v in right.elts]
                res = left.isin(vals).astype("boolean").mask(left.isna())
                return ~res if isinstance(op, ast.NotIn) else res
            r = ev(right)
            ops = {ast.Eq: "__eq__", ast.NotEq: "__ne__", ast.Lt: "__lt__", ast.LtE: "__le__", ast.Gt: "__gt__",
                   ast.GtE: "__ge__"}
            return getattr(left, ops[type(op)])(r).astype("boolean").mask(left.isna())
        raise ValueError(f"the pandas peer cannot evaluate {ast.unparse(node)!r}")

    out = ev(ast.parse(text, mode="eval").body)
    return out.fillna(False).astype(bool)


def _nullable(df: pd.DataFrame, name: str) -> pd.Series:
    col = df[name] if name in df else pd.Series(np.nan, index=df.index)
    return col


def pandas_features(df: pd.DataFrame, fs: FeatureSet, compared: list[str]) -> pd.DataFrame:
    """The compared features with groupby-rolling, rows in (event_time, event_id) order."""
    df = df.sort_values(["event_time", "event_id"], kind="stable").reset_index(drop=True)
    us = df["event_time"].astype("int64").to_numpy() // 1000 if df["event_time"].dt.unit == "ns" else \
        df["event_time"].astype("int64").to_numpy()
    tie = df.groupby(us, sort=False).cumcount().to_numpy()
    scale = 1000
    while tie.max(initial=0) >= scale // 2:  # simulated repayments share timestamps by the thousand
        scale *= 2
    if (us.max() - us.min() + max((f.window_us or 0) for f in fs.window_features)) * scale >= 1 << 62:
        raise SystemExit("too many ties for the time span: the pandas peer cannot pin them")
    df["_t"] = pd.to_datetime((us - us.min()) * scale + tie, unit="ns")
    df["_us"] = us.astype(np.float64)  # exact integers below 2**53; seconds only after subtracting
    out = pd.DataFrame({"event_id": df["event_id"]})
    masks: dict[tuple[tuple[str, ...], str], pd.Series] = {}
    wanted = set(compared)
    for f in fs.window_features:
        if f.name not in wanted:
            continue
        mk = (f.events, f.filter.text if f.filter else "")
        if mk not in masks:
            m = df["event_type"].isin(list(f.events))
            if f.filter is not None:
                m &= _filter_mask(df, f.filter.text)
            masks[mk] = m
        mask = masks[mk]
        keyed = df[list(f.key)].notna().all(axis=1)
        sub = df.loc[keyed, [*f.key, "_t"]].copy()
        if f.agg in (Aggregation.COUNT,):
            sub["_x"] = np.where(mask[keyed], 1.0, np.nan)
        elif f.agg in (Aggregation.TIME_SINCE_LAST, Aggregation.FIRST_SEEN):
            sub["_x"] = df.loc[keyed, "_us"].where(mask[keyed])
        else:
            assert f.field is not None
            sub["_x"] = pd.to_numeric(_nullable(df, f.field)[keyed], errors="coerce").astype(float).where(mask[keyed])
        key = list(f.key)
        if f.agg is Aggregation.FIRST_SEEN:
            prior = sub.groupby(key, sort=False)["_x"].transform(lambda s: s.shift().cummin().ffill())
            vals = (df.loc[keyed, "_us"] - prior) / 1e6
        else:
            assert f.window_us is not None
            window = pd.Timedelta(f.window_us * scale - scale // 2, unit="ns")
            roll = sub.groupby(key, sort=False).rolling(window, on="_t",
                                                        closed="both" if f.include_current else "left")["_x"]
            agg = f.agg
            if agg is Aggregation.COUNT:
                r = roll.count()
            elif agg is Aggregation.SUM:
                r = roll.sum().fillna(0.0)
            elif agg is Aggregation.MEAN:
                r = roll.mean()
            elif agg is Aggregation.MIN:
                r = roll.min()
            elif agg is Aggregation.MAX:
                r = roll.max()
            elif agg is Aggregation.STD:
                r = roll.std()
            else:  # time_since_last
                r = roll.max()
            # with on=, rows come back indexed by (key..., _t); _t is unique, so it maps them back
            r = pd.Series(r.reset_index(level=list(range(len(key))), drop=True).reindex(sub["_t"]).to_numpy(),
                          index=sub.index)
            vals = (df.loc[keyed, "_us"] - r) / 1e6 if agg is Aggregation.TIME_SINCE_LAST else r
            if agg is Aggregation.COUNT:
                vals = vals.fillna(0)
        col = pd.Series(np.nan, index=df.index)
        col[keyed] = vals
        out[f.name] = col
    for d in fs.derived_features:
        if d.name not in wanted:
            continue
        a = [out[i] if i in out else pd.to_numeric(_nullable(df, i), errors="coerce") for i in d.inputs]
        if d.kind is DerivedKind.RATIO:
            out[d.name] = (a[0] / a[1]).where(a[1] != 0)
        elif d.kind is DerivedKind.DIFFERENCE:
            out[d.name] = a[0] - a[1]
        elif d.kind is DerivedKind.ZSCORE:
            out[d.name] = ((a[0] - a[1]) / a[2]).where(a[2] != 0)
    return out


def comparable(fs: FeatureSet) -> tuple[list[str], list[str]]:
    names = {f.name: f for f in fs}
    ok: list[str] = []
    for f in fs:
        if isinstance(f, WindowFeature):
            if f.agg in _PANDAS_AGGS and f.lag_us == 0 and f.time_field == "event_time":
                ok.append(f.name)
        elif isinstance(f, DerivedFeature) and f.kind in _PANDAS_DERIVED:
            if all(i in ok or i not in names for i in f.inputs):
                ok.append(f.name)
    return ok, [n for n in names if n not in ok]


def equal_values(ours: pa.Table, theirs: pd.DataFrame, names: list[str]) -> tuple[bool, dict[str, int]]:
    assert ours.column("event_id").to_pylist() == theirs["event_id"].tolist(), "row order differs"
    bad: dict[str, int] = {}
    for n in names:
        a = ours.column(n).to_numpy(zero_copy_only=False).astype(float)
        b = theirs[n].to_numpy(dtype=float, na_value=np.nan)
        same = (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=1e-9)
        if not same.all():
            bad[n] = int((~same).sum())
    return not bad, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small world (under a minute)")
    ap.add_argument("--customers", type=int, default=None)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--skip-pandas", action="store_true", help="time finrisk only")
    args = ap.parse_args()
    customers = args.customers or (1000 if args.quick else 120_000)
    fs = parse_features(load_yaml(DEMO), EventTypeRegistry.builtin())
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        simulate_world(WorldConfig(customers=customers, days=args.days, seed=7), out_dir=Path(tmp), fmt="parquet")
        events = load_events(Path(tmp))
        sim_s = time.perf_counter() - t
    print(f"world: {events.num_rows:,} events in {sim_s:.1f}s", file=sys.stderr)
    t, cpu = time.perf_counter(), time.process_time()
    ours = build_features(fs, events)
    seconds, cpu_s = time.perf_counter() - t, time.process_time() - cpu
    print(f"finrisk: {len(fs)} features in {seconds:.1f}s (cpu {cpu_s:.1f}s)", file=sys.stderr)
    compared, skipped = comparable(fs)
    result: dict[str, Any] = {"events": events.num_rows, "features": len(fs), "seconds": round(seconds, 2),
                              "cpu_seconds": round(cpu_s, 2), "events_per_s": round(events.num_rows / seconds)}
    if not args.skip_pandas:
        df = events.select([c for c in events.column_names]).to_pandas(types_mapper=None)
        t, cpu = time.perf_counter(), time.process_time()
        theirs = pandas_features(df, fs, compared)
        pandas_s, pandas_cpu = time.perf_counter() - t, time.process_time() - cpu
        print(f"pandas: {len(compared)} features in {pandas_s:.1f}s", file=sys.stderr)
        subset = FeatureSet(tuple(f for f in fs if f.name in set(compared)))
        t = time.perf_counter()
        build_features(subset, events)
        same_s = time.perf_counter() - t
        equal, bad = equal_values(ours, theirs, compared)
        result.update({"pandas_seconds": round(pandas_s, 2), "pandas_cpu_seconds": round(pandas_cpu, 2),
                       "speedup": round(pandas_s / same_s, 2),
                       "equal": equal, "compared_features": len(compared),
                       "finrisk_seconds_compared_features": round(same_s, 2),
                       "speedup_all_features": round(pandas_s / seconds, 2), "mismatches": bad,
                       "not_compared": skipped})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
