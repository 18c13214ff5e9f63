"""The offline compiler: feature declarations become point-in-time-correct DuckDB SQL.

The values are exactly those of the rules in :mod:`finrisk.features.spec`, for any set of target
events, using the whole ``events`` table as history; nothing after a target event (in the order
``(event_time, event_id)``) reaches its value.

Strategy
--------
- **Fast path** (no ``arrival_column``, the integer order below fits): DuckDB reads the events once
  (type and filter masks, keys, fields); then ``_offline_fast`` / ``_offline_numpy`` compute the window
  features in numpy, one sort per entity key: every window is an index range of the key's rows
  (``searchsorted``), and count, sum, mean, std, min, max, count_distinct, last, time_since_last and
  first_seen are a few vectorised passes each (sums exact, see ``_offline_numpy``). Label counts placed
  at another time (``time_field``) become difference arrays; derived features are numpy over the
  columns. What numpy does not take (values beyond the exact-sum range, other aggregations of labels)
  runs as the SQL below, and the results are joined by row.
- **Window-frame SQL** (the fallback of the fast path; also what :func:`compile_sql` prints): all
  features with one entity key share one query and one sort. Every event gets one integer order,
  ``ord = (event_time_us - t0) / unit * 2**bits + tie``, where ``tie`` ranks the events of one
  timestamp by ``event_id`` (a small side table: only tied timestamps are ranked), ``tie`` stays
  below ``2**(bits - 1)`` and ``unit`` divides every timestamp offset, window and lag (1 us, or
  coarser for coarse data; both are read from the data). Then the half-open window
  ``t - g - w < p <= t - g`` *and* "strictly before by (event_time, event_id)" are constant
  ``RANGE`` frame offsets on ``ord`` (``(g + w) / unit * 2**bits - 2**(bits - 1) PRECEDING`` to
  ``1 PRECEDING``, or ``g / unit * 2**bits - 2**(bits - 1) PRECEDING`` with a lag), so every
  aggregation is a DuckDB window aggregate and ties are exact. Type and filter are ``CASE`` masks
  inside the aggregate, so targets that do not contribute still sit in the frame order. Should
  the order overflow 62 bits (thousands of ties over decades), every group takes the join path.
- **Join path** (``time_field`` placement, e.g. labels placed at their transaction's time but known
  later, and the ``arrival_column`` mode): contributions are two-dimensional (placement in the
  window, known before the target), so a group is a key-equality range join plus ``GROUP BY``.
- **Derived features** are SQL expressions over the joined feature columns and the target's
  fields, with exactly the :class:`~finrisk.features.spec.DerivedKind` formulas.

``arrival_column`` ("as served"): an integer giving the order the online engine saw events in.
An event then also needs ``c.arrival < e.arrival`` to count for ``e``; this reproduces the
online engine's served values when events arrived out of order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finrisk.config import Workspace
from finrisk.errors import QueryError, WorkspaceError
from finrisk.features._offline_fast import build_fast
from finrisk.features._offline_sql import TIE_BITS, Plan, plan_sql, quote, unordered
from finrisk.features.spec import FeatureSet

__all__ = ["BuildProgress", "FeatureBuildSummary", "build_features", "compile_sql", "warehouse_features"]

#: Called after each step with ``(groups_done, groups_total, label)``.
BuildProgress = Callable[[int, int, str], None]

Events: TypeAlias = "pa.Table | duckdb.DuckDBPyRelation | str"


@dataclass(frozen=True)
class FeatureBuildSummary:
    """What :func:`warehouse_features` wrote."""

    out: Path
    events: int
    features: int
    groups: int
    history_events: int
    seconds: float


def compile_sql(
    feature_set: FeatureSet,
    *,
    events: str = "events",
    columns: Sequence[str] | None = None,
    targets: str | None = None,
    arrival_column: str | None = None,
) -> str:
    """The whole computation as one DuckDB query over the table or view ``events``.

    ``columns`` lists the columns ``events`` has (a declared field it lacks reads as null; default:
    all present); ``targets`` names a table of ``event_id`` to compute features for (default: all).
    """
    return _plan(feature_set, events, columns, targets, arrival_column).as_query()


def _plan(fs: FeatureSet, events: str, columns: Sequence[str] | None, targets: str | None,
          arrival_column: str | None) -> Plan:
    if not fs.features:
        raise WorkspaceError("no features are declared; add some to the workspace's features file")
    return plan_sql(fs, events=events, columns=columns, targets=targets, arrival_column=arrival_column)


def build_features(
    feature_set: FeatureSet,
    events: Events,
    *,
    targets: pa.Table | duckdb.DuckDBPyRelation | str | None = None,
    arrival_column: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    progress: BuildProgress | None = None,
) -> pa.Table:
    """Feature values for ``targets`` (default: every event) using all of ``events`` as history.

    Returns ``event_id, event_type, event_time`` and one column per feature in declaration order,
    rows ordered by ``(event_time, event_id)``.
    """
    own = con is None
    db = duckdb.connect() if con is None else con
    made: list[tuple[str, str]] = []
    try:
        events_name = _as_relation(db, events, "_fr_events", made)
        targets_name = None if targets is None else _as_relation(db, targets, "_fr_targets", made)
        columns = [r[0] for r in db.sql(f"DESCRIBE {events_name}").fetchall()]
        for required in ("event_id", "event_type", "event_time"):
            if required not in columns:
                raise QueryError(f"events: missing the column {required!r}; have {', '.join(columns)}")
        if arrival_column is not None and arrival_column not in columns:
            raise QueryError(f"arrival_column: the events have no column {arrival_column!r}")
        unit, bits = _order_params(db, events_name, feature_set)
        plan = plan_sql(feature_set, events=events_name, columns=columns, targets=targets_name,
                        arrival_column=arrival_column, tie_bits=bits or TIE_BITS, unit_us=unit, frames=bits is not None)
        total = sum(s.groups for s in plan.steps)
        done = 0
        ties, base = plan.steps[0], plan.steps[1]
        _run(db, f"CREATE OR REPLACE TEMP TABLE {ties.name} AS {ties.sql}")
        made.append(("TABLE", ties.name))
        _run(db, f"CREATE OR REPLACE TEMP VIEW {base.name} AS {base.sql}")
        made.append(("VIEW", base.name))
        if bits is not None and arrival_column is None:
            return build_fast(feature_set, run=lambda sql: _run(db, sql), run_arrow=lambda sql: _arrow(db, sql),
                              db=db, tie_bits=bits, unit_us=unit, made=made, progress=progress)
        for step in plan.steps[2:]:
            _run(db, f"CREATE OR REPLACE TEMP TABLE {step.name} AS {step.sql}")
            made.append(("TABLE", step.name))
            done += step.groups
            if progress is not None:
                progress(done, total, step.label)
        table = db.sql(unordered(plan.final)).to_arrow_table()
        return table.take(pc.sort_indices(table.column("_ord"))).drop_columns(["_ord"])
    except duckdb.Error as exc:
        raise QueryError(f"feature query failed: {str(exc).strip()}") from None
    finally:
        for kind, name in reversed(made):
            _run(db, f"DROP {kind} IF EXISTS {name}")
        if own:
            db.close()


_UNITS_US = (86_400_000_000, 3_600_000_000, 60_000_000, 1_000_000, 1_000, 1)


def _order_params(db: duckdb.DuckDBPyConnection, events: str, fs: FeatureSet) -> tuple[int, int | None]:
    """The coarsest time unit dividing every timestamp offset, window and lag, and the tie bits the
    data needs; ``None`` bits when the integer order would overflow (then every group uses joins)."""
    spans = [f.lag_us + (f.window_us or 0) for f in fs.window_features] + [f.lag_us for f in fs.window_features]
    checks = ", ".join(f"bool_and((_t - _t0) % {u} = 0)" for u in _UNITS_US)
    rows = _run(db, f"SELECT {checks}, max(_t) - min(_t) FROM (SELECT epoch_us(event_time) AS _t, "
                    f"min(epoch_us(event_time)) OVER () AS _t0 FROM {events})")
    if not rows or rows[0][-1] is None:
        return 1, TIE_BITS
    ok, span = rows[0][:-1], int(rows[0][-1])
    unit = next(u for u, good in zip(_UNITS_US, ok, strict=True) if good and all(s % u == 0 for s in spans))
    ties = _run(db, f"SELECT max(n) FROM (SELECT count(*) AS n FROM {events} GROUP BY event_time)")
    bits = max(2, (int(ties[0][0] or 1) - 1).bit_length() + 1)
    reach = (span + max(spans, default=0)) // unit + 1
    return unit, (bits if reach << bits < 1 << 62 else None)


def _as_relation(db: duckdb.DuckDBPyConnection, obj: Any, name: str, made: list[tuple[str, str]]) -> str:
    if isinstance(obj, str):
        return quote(obj)
    if isinstance(obj, pa.Table):
        db.register(name, obj)
        made.append(("VIEW", name))
        return name
    obj.create_view(name, replace=True)
    made.append(("VIEW", name))
    return name


def _bound(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A date means its UTC midnight (``end``: the next midnight, so the day is included); naive is UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return day + timedelta(days=1) if end else day


def warehouse_features(
    ws: Workspace,
    *,
    event_types: Sequence[str],
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    out: Path,
    progress: BuildProgress | None = None,
) -> FeatureBuildSummary:
    """Features of the ``event_types`` events in ``[start, end]`` from the whole warehouse history.

    A date ``end`` includes that day; a datetime ``end`` is exclusive. Writes ``out`` (Parquet).
    """
    from finrisk.store.warehouse import Warehouse

    began = time.perf_counter()
    fs = ws.features
    if not fs.features:
        raise WorkspaceError(f"{ws.root}: no features are declared (see [features] files in finrisk.toml)")
    registry = ws.event_types
    for t in event_types:
        if t not in registry:
            raise WorkspaceError(f"--events: unknown event type {t!r}; declared: {', '.join(registry.names)}")
    if not event_types:
        raise WorkspaceError("--events: name at least one event type, e.g. loan_application")
    lo, hi = _bound(start, end=False), _bound(end, end=True)
    history = sorted({t for f in fs.window_features for t in f.events} | set(event_types))
    with Warehouse.open(ws) as wh:
        con = wh.connect()
        try:
            union = " UNION ALL BY NAME ".join(f"SELECT * FROM {quote(t)}" for t in history)
            _run(con, f"CREATE TEMP VIEW _fr_history AS {union}")  # a view: each step reads only its columns
            where = [f"event_type IN ({', '.join(_lit(t) for t in event_types)})"]
            params: list[Any] = []
            if lo is not None:
                where.append("event_time >= ?")
                params.append(lo)
            if hi is not None:
                where.append("event_time < ?")
                params.append(hi)
            _run(con, f"CREATE TEMP TABLE _fr_chosen AS SELECT event_id FROM _fr_history WHERE {' AND '.join(where)}",
                 params)
            n_hist = _scalar(con, "SELECT count(*) FROM _fr_history")
            table = build_features(fs, "_fr_history", targets="_fr_chosen", con=con, progress=progress)
        except duckdb.Error as exc:
            raise QueryError(f"feature build failed: {str(exc).strip()}") from None
        finally:
            con.close()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, compression="zstd")
    return FeatureBuildSummary(out=out, events=table.num_rows, features=len(fs), groups=len(fs.groups()),
                               history_events=n_hist, seconds=time.perf_counter() - began)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = _run(con, sql)
    return int(rows[0][0]) if rows else 0


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Execute and drain (DuckDB refuses new work while a result is unfetched)."""
    return con.execute(sql, list(params)).fetchall()


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
