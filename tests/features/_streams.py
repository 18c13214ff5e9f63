"""Shared by the parity, property and real-data tests: events as dicts and as one wide table, run the
two engines, and compare feature values with a report precise enough to fix from."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finrisk.events import EventTypeRegistry
from finrisk.features.spec import Aggregation, FeatureSet, WindowFeature

REGISTRY = EventTypeRegistry.builtin()
ARRIVAL = "arrival"
_TIME = pa.timestamp("us", tz="UTC")
_EXACT = {Aggregation.COUNT, Aggregation.COUNT_DISTINCT}
REL = ABS = 1e-9


def wide_schema(registry: EventTypeRegistry = REGISTRY) -> pa.Schema:
    """event_id, event_type, event_time, then every field of every type (first declaration's type)."""
    fields: dict[str, pa.Field] = {}
    for t in registry:
        for f in t.arrow_schema:
            fields.setdefault(f.name, f.with_nullable(True))
    return pa.schema(list(fields.values()))


def events_to_table(events: Sequence[Mapping[str, Any]], *, arrival: bool = False) -> pa.Table:
    """The wide table the offline compiler reads; with ``arrival`` the list order as an int64 column."""
    schema = wide_schema()
    columns = {f.name: pa.array([e.get(f.name) for e in events], type=f.type) for f in schema}
    table = pa.table(columns, schema=schema)
    if arrival:
        table = table.append_column(ARRIVAL, pa.array(range(len(events)), type=pa.int64()))
    return table


def load_world(out_dir: Path) -> pa.Table:
    """Every event type of a simulated world (parquet) as one wide table, labels dropped."""
    schema = wide_schema()
    parts = []
    for folder in sorted((out_dir / "events").iterdir()):
        table = pq.read_table(folder)
        table = table.select([n for n in table.column_names if not n.startswith("label_")])
        missing = [f for f in schema if f.name not in table.column_names]
        for f in missing:
            table = table.append_column(f, pa.nulls(table.num_rows, type=f.type))
        parts.append(table.select(schema.names).cast(schema))
    return pa.concat_tables(parts)


def table_to_events(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as normalised event dicts (nulls dropped, aware datetimes), in table order."""
    return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]


def normalise(event: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the event's type present (null when absent): the shape EventValidator returns."""
    fields = [f.name for f in REGISTRY.get(event["event_type"]).fields]
    return {**dict.fromkeys(fields), **event}


def in_order(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The total order of the semantics: event_time, then event_id in byte order."""
    return sorted(events, key=lambda e: (e["event_time"], str(e["event_id"]).encode()))


def run_online(feature_set: FeatureSet, events: Sequence[Mapping[str, Any]], *,
               allowed_lateness_us: int = 0) -> tuple[dict[str, dict[str, Any]], Any]:
    """Feed ``events`` in list order; values by event id, and the engine (for its lateness report)."""
    from finrisk.features.online import OnlineFeatureEngine

    engine = OnlineFeatureEngine(feature_set, allowed_lateness_us=allowed_lateness_us)
    out = {str(e["event_id"]): dict(engine.process(dict(e))) for e in events}
    return out, engine


def run_offline(feature_set: FeatureSet, table: pa.Table, *, arrival: bool = False) -> dict[str, dict[str, Any]]:
    """Values by event id from the offline compiler."""
    from finrisk.features.offline import build_features

    result = build_features(feature_set, table, arrival_column=ARRIVAL if arrival else None)
    rows = result.to_pylist()
    return {str(r["event_id"]): r for r in rows}


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def same(expected: Any, got: Any, *, exact: bool) -> bool:
    """Null only equals null; counts exactly; other numbers within 1e-9 (relative or absolute)."""
    if expected is None or got is None:
        return expected is None and got is None
    if _numeric(expected) and _numeric(got):
        if exact or (isinstance(expected, int) and isinstance(got, int)):
            return bool(expected == got)
        return math.isclose(expected, got, rel_tol=REL, abs_tol=ABS)
    return bool(expected == got)


@dataclass(frozen=True)
class Mismatch:
    feature: str
    event_id: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return f"{self.feature} @ {self.event_id}: expected {self.expected!r}, got {self.got!r}"


def compare(feature_set: FeatureSet, expected: Mapping[str, Mapping[str, Any]],
            got: Mapping[str, Mapping[str, Any]], *, only: Iterable[str] | None = None) -> list[Mismatch]:
    """Every (feature, event) where ``got`` differs from ``expected``; a missing row or column is a mismatch."""
    exact = {f.name for f in feature_set if isinstance(f, WindowFeature) and f.agg in _EXACT}
    out = []
    for eid in (expected if only is None else only):
        want, have = expected[eid], got.get(eid)
        for name in feature_set.names:
            if have is None or name not in have:
                out.append(Mismatch(name, eid, want.get(name), "<missing>"))
            elif not same(want.get(name), have[name], exact=name in exact):
                out.append(Mismatch(name, eid, want.get(name), have[name]))
    return out


def report(title: str, mismatches: Sequence[Mismatch], *, limit: int = 25) -> str:
    """Per-feature counts, then the first mismatches of each feature."""
    by_feature = Counter(m.feature for m in mismatches)
    lines = [f"{title}: {len(mismatches)} mismatching values in {len(by_feature)} features"]
    lines += [f"  {name}: {n}" for name, n in by_feature.most_common()]
    shown: Counter[str] = Counter()
    for m in mismatches:
        if shown[m.feature] < 3 and sum(shown.values()) < limit:
            shown[m.feature] += 1
            lines.append(f"    {m}")
    return "\n".join(lines)
