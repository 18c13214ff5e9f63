"""SQL generation for the offline compiler (see ``offline.py`` for the strategy and the public API).

A plan is a list of named steps (each a SELECT over the steps before it) and a final SELECT, so the
same text runs step by step (with progress) or as one ``WITH`` query (:func:`offline.compile_sql`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from finrisk.features.spec import Aggregation, DerivedFeature, DerivedKind, FeatureSet, WindowFeature

__all__ = ["TIE_BITS", "Plan", "Step", "contrib_sql", "derived_sql", "fast_query", "join_query", "plan_sql", "quote",
           "unordered"]

#: The fast path orders rows by ``(event_time_us - t0) / unit * 2**tie_bits + tie`` (one integer, so RANGE
#: frames can use it); ``tie`` ranks the events of one timestamp by event_id and must stay below half the
#: multiplier. ``unit`` divides every timestamp offset, window and lag (1 us unless the data is coarser).
TIE_BITS = 12
_EARTH_KM = 6371.0088


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Step:
    name: str
    sql: str
    label: str
    groups: int = 0


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    final: str = ""

    def as_query(self) -> str:
        ctes = ",\n".join(f"{s.name} AS (\n{s.sql}\n)" for s in self.steps)
        return f"WITH {ctes}\n{self.final}"


def _needed_fields(fs: FeatureSet) -> dict[str, str]:
    """Field name -> SQL type for the null stand-in when the events lack that column."""
    names = set(fs.names)
    out: dict[str, str] = {}
    for f in fs.window_features:
        for k in f.key:
            out[k] = "VARCHAR"
        if f.field is not None:
            out.setdefault(f.field, "DOUBLE" if f.agg.numeric_field else "VARCHAR")
        if f.time_field != "event_time":
            out[f.time_field] = "TIMESTAMPTZ"
        for name in sorted(f.filter.fields if f.filter else ()):
            out.setdefault(name, "VARCHAR")
    for d in fs.derived_features:
        for i in d.inputs:
            if i not in names:
                out.setdefault(i, "BOOLEAN" if d.kind in (DerivedKind.EQUAL, DerivedKind.NOT_EQUAL)
                               else "TIMESTAMPTZ" if d.kind.reads_time else "DOUBLE")
    out.pop("event_time", None)
    out.pop("event_type", None)
    out.pop("event_id", None)
    return out


def _contrib(f: WindowFeature) -> str:
    """True when an event may contribute to ``f`` (its type and filter; keys are checked apart)."""
    types = ", ".join(_lit(t) for t in f.events)
    cond = f"event_type IN ({types})"
    if f.filter is not None:
        cond += f" AND ({f.filter.sql})"
    return f"(({cond}) IS TRUE)"


def _keys_present(key: Sequence[str], alias: str = "") -> str:
    return " AND ".join(f"{alias}{quote(k)} IS NOT NULL" for k in key)


def _cast_out(f: WindowFeature, expr: str) -> str:
    if f.agg in (Aggregation.COUNT, Aggregation.COUNT_DISTINCT):
        return f"CAST({expr} AS BIGINT)"
    if f.agg is Aggregation.LAST:
        return expr
    return f"CAST({expr} AS DOUBLE)"


def _fast_query(key: tuple[str, ...], features: list[WindowFeature], fields: list[str], tie_bits: int,
                unit: int) -> str:
    """All window features of one key in one pass: one sort, constant RANGE frames on an integer order."""
    flags: dict[str, str] = {}
    for f in features:
        flags.setdefault(_contrib(f), f"_c{len(flags)}")
    keys = ", ".join(quote(k) for k in key)
    any_flag = " OR ".join(flags.values())
    cols = ", ".join(quote(c) for c in fields if c not in key)
    inner = (
        f"SELECT _ts, _ord, _target, {keys}{', ' + cols if cols else ''}, "
        + ", ".join(f"{cond} AS {alias}" for cond, alias in flags.items())
        + f" FROM _fr_base WHERE {_keys_present(key)}"
    )
    ordered = f"SELECT * FROM ({inner}) WHERE _target OR {any_flag}"
    k, half = 1 << tie_bits, 1 << (tie_bits - 1)
    out = []
    for f in features:
        flag = flags[_contrib(f)]
        hi = "CURRENT ROW" if f.include_current else (
            "1 PRECEDING" if f.lag_us == 0 else f"{f.lag_us // unit * k - half} PRECEDING")
        reach = None if f.window_us is None else (f.lag_us + f.window_us) // unit
        lo = "UNBOUNDED PRECEDING" if reach is None else f"{reach * k - half} PRECEDING"
        over = f"OVER (PARTITION BY {keys} ORDER BY _ord RANGE BETWEEN {lo} AND {hi})"
        x = f"CASE WHEN {flag} THEN {quote(f.field)} END" if f.field else ""
        agg = f.agg
        if agg is Aggregation.COUNT:
            expr = f"count(CASE WHEN {flag} THEN 1 END) {over}"
        elif agg is Aggregation.SUM:
            expr = f"coalesce(sum(CAST({x} AS DOUBLE)) {over}, 0)"
        elif agg is Aggregation.MEAN:
            expr = f"avg(CAST({x} AS DOUBLE)) {over}"
        elif agg is Aggregation.MIN:
            expr = f"min({x}) {over}"
        elif agg is Aggregation.MAX:
            expr = f"max({x}) {over}"
        elif agg is Aggregation.STD:
            expr = f"stddev_samp(CAST({x} AS DOUBLE)) {over}"
        elif agg is Aggregation.COUNT_DISTINCT:
            expr = f"count(DISTINCT {x}) {over}"
        elif agg is Aggregation.LAST:
            expr = f"last_value({x} IGNORE NULLS) {over}"
        elif agg is Aggregation.TIME_SINCE_LAST:
            expr = f"(_ts - max(CASE WHEN {flag} THEN _ts END) {over}) / 1e6"
        else:  # first_seen
            expr = f"(_ts - min(CASE WHEN {flag} THEN _ts END) {over}) / 1e6"
        out.append(f"{_cast_out(f, expr)} AS {quote(f.name)}")
    return f"SELECT _ord, _target, {', '.join(out)} FROM ({ordered})"


def _join_query(features: list[WindowFeature], *, arrival: bool) -> str:
    """One group by a range join: exact for any placement (labels known late) and for arrival order."""
    f0 = features[0]
    key = f0.key
    fields = sorted({f.field for f in features if f.field})
    place = "_ts" if f0.time_field == "event_time" else f"epoch_us({quote(f0.time_field)})"
    src_cols = ", ".join([*(quote(k) for k in key), *(quote(c) for c in fields)])
    src = (
        f"SELECT _ord, _ts, {place} AS _p{', _arr' if arrival else ''}, {src_cols} FROM _fr_base "
        f"WHERE {_contrib(f0)} AND {_keys_present(key)}"
    )
    tgt = f"SELECT _ord, _ts{', _arr' if arrival else ''}, {', '.join(quote(k) for k in key)} FROM _fr_base" \
          f" WHERE _target AND {_keys_present(key)}"
    on = [f"c.{quote(k)} = t.{quote(k)}" for k in key]
    if f0.window_us is None:  # first_seen: no window bound at all
        on.append("c._p IS NOT NULL")
    else:
        on.append(f"c._p <= t._ts - {f0.lag_us}")
        on.append(f"c._p > t._ts - {f0.lag_us + f0.window_us}")
    before = "c._ord < t._ord"
    if arrival:
        before += " AND c._arr < t._arr"
    on.append(f"(({before}) OR c._ord = t._ord)" if f0.include_current else f"({before})")
    out = []
    for f in features:
        x = f"c.{quote(f.field)}" if f.field else ""
        agg = f.agg
        if agg is Aggregation.COUNT:
            expr = "count(c._ord)"
        elif agg is Aggregation.SUM:
            expr = f"coalesce(sum(CAST({x} AS DOUBLE)), 0)"
        elif agg is Aggregation.MEAN:
            expr = f"avg(CAST({x} AS DOUBLE))"
        elif agg is Aggregation.MIN:
            expr = f"min({x})"
        elif agg is Aggregation.MAX:
            expr = f"max({x})"
        elif agg is Aggregation.STD:
            expr = f"stddev_samp(CAST({x} AS DOUBLE))"
        elif agg is Aggregation.COUNT_DISTINCT:
            expr = f"count(DISTINCT {x})"
        elif agg is Aggregation.LAST:
            expr = f"arg_max({x}, (c._p, c._ord)) FILTER (WHERE {x} IS NOT NULL)"
        elif agg is Aggregation.TIME_SINCE_LAST:
            expr = "(t._ts - max(c._p)) / 1e6"
        else:  # first_seen
            expr = "(t._ts - min(c._p)) / 1e6"
        out.append(f"{_cast_out(f, expr)} AS {quote(f.name)}")
    return (
        f"SELECT t._ord, TRUE AS _target, {', '.join(out)} FROM ({tgt}) t LEFT JOIN ({src}) c "
        f"ON {' AND '.join(on)} GROUP BY t._ord, t._ts"
    )


def _derived_sql(d: DerivedFeature, ref: dict[str, str]) -> str:
    a = [ref[i] for i in d.inputs]
    kind = d.kind
    if kind is DerivedKind.RATIO:
        return f"CASE WHEN {a[1]} = 0 THEN NULL ELSE CAST({a[0]} AS DOUBLE) / {a[1]} END"
    if kind is DerivedKind.DIFFERENCE:
        return f"CAST({a[0]} AS DOUBLE) - {a[1]}"
    if kind is DerivedKind.ZSCORE:
        return f"CASE WHEN {a[2]} = 0 THEN NULL ELSE (CAST({a[0]} AS DOUBLE) - {a[1]}) / {a[2]} END"
    if kind is DerivedKind.DISTANCE_KM:
        la1, lo1, la2, lo2 = (f"CAST({v} AS DOUBLE)" for v in a)
        dp, dl = f"(radians({la2}) - radians({la1}))", f"radians({lo2} - {lo1})"
        h = f"pow(sin({dp} / 2), 2) + cos(radians({la1})) * cos(radians({la2})) * pow(sin({dl} / 2), 2)"
        root = f"sqrt({h})"  # least() would skip a null, so clamp with CASE
        return f"2 * {_EARTH_KM} * asin(CASE WHEN {root} > 1.0 THEN 1.0 ELSE {root} END)"
    if kind is DerivedKind.SPEED_KMH:
        return f"CASE WHEN {a[1]} = 0 THEN NULL ELSE CAST({a[0]} AS DOUBLE) / ({a[1]} / 3600.0) END"
    if kind is DerivedKind.EQUAL:
        return f"({a[0]} = {a[1]})"
    if kind.reads_time:
        utc = f"timezone('UTC', CAST({a[0]} AS TIMESTAMPTZ))"
        if kind is DerivedKind.HOUR_OF_DAY:
            return f"CAST(extract(hour FROM {utc}) AS DOUBLE)"
        if kind is DerivedKind.IS_WEEKEND:
            return f"(isodow({utc}) >= 6)"
        return f"(extract(hour FROM {utc}) <= 6)"
    return f"({a[0]} <> {a[1]})"


def plan_sql(
    fs: FeatureSet,
    *,
    events: str,
    columns: Collection[str] | None,
    targets: str | None,
    arrival_column: str | None,
    tie_bits: int = TIE_BITS,
    unit_us: int = 1,
    frames: bool = True,
) -> Plan:
    """The steps that compute ``fs`` over the relation ``events`` (see ``offline.py``)."""
    needed = _needed_fields(fs)
    have = set(needed) if columns is None else set(columns)
    sel = [
        quote(n) if n in have else f"CAST(NULL AS {t}) AS {quote(n)}" for n, t in sorted(needed.items())
    ]
    target = "TRUE" if targets is None else f"event_id IN (SELECT event_id FROM {targets})"
    extra = [f"{quote(arrival_column)} AS _arr"] if arrival_column is not None else []
    k, half = 1 << tie_bits, 1 << (tie_bits - 1)
    head = (f"SELECT event_id, event_type, event_time, epoch_us(event_time) AS _ts, "
            f"{target} AS _target{''.join(', ' + c for c in [*sel, *extra])}")
    if frames:
        # Ties (events at one timestamp) are rare: rank just those by event_id, in a small side table.
        ties = (
            f"SELECT event_id AS _tid, row_number() OVER (PARTITION BY event_time ORDER BY event_id) - 1 AS _tie "
            f"FROM {events} WHERE event_time IN "
            f"(SELECT event_time FROM {events} GROUP BY event_time HAVING count(*) > 1)"
        )
        base = (
            f"{head}, (epoch_us(event_time) - (SELECT min(epoch_us(event_time)) FROM {events})) // {unit_us} * {k} "
            f"+ CASE WHEN coalesce(_tie, 0) < {half} THEN coalesce(_tie, 0) ELSE "
            f"error('more than {half} events at one timestamp') END AS _ord FROM {events} "
            "LEFT JOIN _fr_ties ON event_id = _tid"
        )
    else:  # joins only: the order is a plain rank
        ties = "SELECT CAST(NULL AS VARCHAR) AS _tid, CAST(NULL AS BIGINT) AS _tie WHERE FALSE"
        base = f"{head}, row_number() OVER (ORDER BY event_time, event_id) AS _ord FROM {events}"
    plan = Plan(steps=[Step("_fr_ties", ties, "ties"), Step("_fr_base", base, "events")])
    fast: dict[tuple[str, ...], list[WindowFeature]] = {}
    group_count: dict[tuple[str, ...], int] = {}
    parts: list[tuple[str, list[WindowFeature]]] = []
    for group in fs.groups().values():
        f0 = group[0]
        if frames and arrival_column is None and f0.time_field == "event_time":
            if f0.key not in fast:
                fast[f0.key] = []
                parts.append(("fast", fast[f0.key]))
            fast[f0.key].extend(group)
            group_count[f0.key] = group_count.get(f0.key, 0) + 1
        else:
            parts.append(("join", group))
    for i, (kind, feats) in enumerate(parts):
        key = feats[0].key
        if kind == "fast":
            fields = sorted({f.field for f in feats if f.field} - set(key))
            sql, n = _fast_query(key, feats, fields, tie_bits, unit_us), group_count[key]
        else:
            sql, n = _join_query(feats, arrival=arrival_column is not None), 1
        label = f"{'+'.join(key)}: {', '.join(f.name for f in feats[:3])}{' ...' if len(feats) > 3 else ''}"
        plan.steps.append(Step(f"_fr_q{i}", sql, label, n))
    plan.final = _final_sql(fs, plan)
    return plan


def _final_sql(fs: FeatureSet, plan: Plan) -> str:
    names = set(fs.names)
    ref: dict[str, str] = {}
    joins = []
    cols = ["b._ord", "b.event_id", "b.event_type", "b.event_time"]
    inputs = sorted({i for d in fs.derived_features for i in d.inputs} - names)
    cols += [f"b.{quote(n)} AS {quote('_in_' + n)}" for n in inputs]
    for step in plan.steps[2:]:
        alias = step.name
        joins.append(f"LEFT JOIN (SELECT * EXCLUDE (_target) FROM {step.name} WHERE _target) {alias} "
                     f"USING (_ord)")
    window_names = [f.name for f in fs.window_features]
    cols += [quote(n) for n in window_names]
    query = f"SELECT {', '.join(cols)} FROM _fr_base b {' '.join(joins)} WHERE b._target"
    for n in inputs:
        ref[n] = quote("_in_" + n)
    for n in window_names:
        ref[n] = quote(n)
    for d in fs.derived_features:
        layer = f"_d_{d.name}"
        query = f"SELECT *, {_derived_sql(d, ref)} AS {quote(d.name)} FROM ({query}) {layer}"
        ref[d.name] = quote(d.name)
    out = ", ".join(["event_id", "event_type", "event_time", *(quote(n) for n in fs.names)])
    return f"SELECT {out} FROM ({query}) ORDER BY _ord"


def unordered(final: str) -> str:
    """The final SELECT with ``_ord`` first and no ORDER BY (sorting wide rows is cheaper in Arrow)."""
    body, _, _ = final.rpartition(" ORDER BY _ord")
    return "SELECT _ord, " + body.removeprefix("SELECT ")


def contrib_sql(f: WindowFeature) -> str:
    """The SQL condition under which an event may contribute to ``f`` (type and filter)."""
    return _contrib(f)


def fast_query(key: tuple[str, ...], features: list[WindowFeature], tie_bits: int, unit: int) -> str:
    """Window-frame SQL over ``_fr_base`` for features of one key (the numpy path's fallback)."""
    fields = sorted({f.field for f in features if f.field} - set(key))
    return _fast_query(key, features, fields, tie_bits, unit)


def join_query(features: list[WindowFeature]) -> str:
    """Range-join SQL over ``_fr_base`` for one group (``time_field`` placement)."""
    return _join_query(features, arrival=False)


def derived_sql(fs: FeatureSet, source: str) -> str:
    """Every feature over ``source``, a relation with the window features by name, the derived features'
    event-field inputs as ``_in_<name>``, ``event_id``, ``event_type``, ``event_time`` and ``_row``."""
    names = set(fs.names)
    ref: dict[str, str] = {}
    for n in sorted({i for d in fs.derived_features for i in d.inputs} - names):
        ref[n] = quote("_in_" + n)
    for f in fs.window_features:
        ref[f.name] = quote(f.name)
    query = f"SELECT * FROM {source}"
    for d in fs.derived_features:
        query = f"SELECT *, {_derived_sql(d, ref)} AS {quote(d.name)} FROM ({query}) {quote('_d_' + d.name)}"
        ref[d.name] = quote(d.name)
    out = ", ".join(["_row", "event_id", "event_type", "event_time", *(quote(n) for n in fs.names)])
    return f"SELECT {out} FROM ({query})"
