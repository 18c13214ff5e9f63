"""Feature declarations: one definition that the online engine and the offline compiler both run.

Semantics (the contract both executors implement, and the parity tests check)
------------------------------------------------------------------------------
Events are totally ordered by ``(event_time, event_id)``: ties at the same microsecond are
broken by ``event_id`` in byte order. For an event ``e`` at time ``t`` and a windowed feature with
``window = w`` and ``lag = g`` (default 0), the **contributing events** are the events ``c``

- whose type is in ``events`` and that pass ``filter`` (SQL three-valued logic: unknown = no),
- whose key fields are all non-null and equal to ``e``'s key fields,
- whose *placement time* ``p`` (``event_time``, or the declared ``time_field``) lies in the
  half-open window ``t - g - w < p <= t - g``,
- that come strictly before ``e`` in the order above; for a ``time_field`` feature (labels known
  later, e.g. a chargeback placed at its transaction's time) "before" compares the contributing
  event's own ``event_time``, so a label counts only from when it is known;
- plus ``e`` itself when ``include_current: true`` and ``e`` qualifies (own type, filter, window).

The feature's value for ``e`` is the aggregation over those events. ``e`` gets a value only if it
has every key field non-null; otherwise the value is null. Empty sets give ``0`` for ``count``,
``sum`` and ``count_distinct`` and null for everything else. ``std`` is the sample standard
deviation (``n - 1``; null below two values). ``last`` is the value of the latest contributing
event whose field is not null ("latest" orders by placement time, then ``event_time``, then
``event_id``; without a ``time_field`` that is simply the event order). ``time_since_last`` is
``t`` minus the latest contributing event's placement time, in seconds. ``first_seen`` has no
window: seconds since the first contributing event ever (null if none).

Events arriving out of order (``event_time`` earlier than the newest seen) get the value these
rules define, computed from the state, as long as they are no later than ``allowed_lateness``;
events already evaluated are not revised (what was served stays served). Later events are
reported, never silently dropped. The offline compiler reproduces served values exactly when it
is given the arrival order (see ``offline.py``); without it, it computes the rules above.

Derived features combine other features and fields of ``e`` (see :class:`DerivedKind`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from finrisk._yamlfile import LocatedDocument
from finrisk.errors import WorkspaceError
from finrisk.events.registry import EventTypeRegistry
from finrisk.events.schema import FieldType
from finrisk.features.expr import Filter, FilterSyntaxError, parse_filter

__all__ = [
    "Aggregation",
    "DerivedFeature",
    "DerivedKind",
    "FeatureSet",
    "GroupKey",
    "WindowFeature",
    "format_duration",
    "parse_duration",
    "parse_features",
]

_UNITS_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_NUMERIC = (FieldType.INTEGER, FieldType.FLOAT)


def parse_duration(text: Any) -> int:
    """``'10m'``, ``'1h'``, ``'7d'``, ``'2w'`` (also ``'90s'``) -> microseconds.

    >>> parse_duration("1h")
    3600000000
    """
    if isinstance(text, str):
        m = _DURATION.match(text)
        if m:
            return int(m.group(1)) * _UNITS_US[m.group(2)]
    raise ValueError(f"expected a duration such as 10m, 1h, 24h, 7d (units s, m, h, d, w), got {text!r}")


def format_duration(us: int) -> str:
    for unit in ("w", "d", "h", "m", "s"):
        if us % _UNITS_US[unit] == 0:
            return f"{us // _UNITS_US[unit]}{unit}"
    return f"{us}us"


class Aggregation(StrEnum):
    """How the contributing events are summarised."""

    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    STD = "std"
    COUNT_DISTINCT = "count_distinct"
    LAST = "last"
    TIME_SINCE_LAST = "time_since_last"
    FIRST_SEEN = "first_seen"

    @property
    def needs_field(self) -> bool:
        return self in _NEEDS_FIELD

    @property
    def numeric_field(self) -> bool:
        return self in _NUMERIC_AGGS


_NEEDS_FIELD = {Aggregation.SUM, Aggregation.MEAN, Aggregation.MIN, Aggregation.MAX, Aggregation.STD,
                Aggregation.COUNT_DISTINCT, Aggregation.LAST}
_NUMERIC_AGGS = {Aggregation.SUM, Aggregation.MEAN, Aggregation.MIN, Aggregation.MAX, Aggregation.STD}


class DerivedKind(StrEnum):
    """Derived features and their inputs (names of features or of fields of the current event).

    - ``ratio [a, b]``: a / b; null when either is null or b is 0.
    - ``difference [a, b]``: a - b; null when either is null.
    - ``zscore [x, mean, std]``: (x - mean) / std; null when any is null or std is 0.
    - ``distance_km [lat, lon, lat2, lon2]``: great-circle distance (haversine, R = 6371.0088 km).
    - ``speed_kmh [km, seconds]``: km / (seconds / 3600); null when seconds is null or 0.
    - ``not_equal [a, b]`` / ``equal [a, b]``: boolean; null when either is null.
    - ``hour_of_day [t]``: the UTC hour (0-23) of a timestamp (``event_time`` or a timestamp field).
    - ``is_weekend [t]``: boolean, Saturday or Sunday (UTC).
    - ``is_night [t]``: boolean, 00:00-06:59 UTC (the fraud-detection handbook's night).

    The time kinds read UTC: events are stored in UTC, and a bank with one home time zone shifts
    its night with a ``time_field`` of local time rather than a per-feature zone.
    """

    RATIO = "ratio"
    DIFFERENCE = "difference"
    ZSCORE = "zscore"
    DISTANCE_KM = "distance_km"
    SPEED_KMH = "speed_kmh"
    NOT_EQUAL = "not_equal"
    EQUAL = "equal"
    HOUR_OF_DAY = "hour_of_day"
    IS_WEEKEND = "is_weekend"
    IS_NIGHT = "is_night"

    @property
    def reads_time(self) -> bool:
        """Takes one timestamp (``event_time`` or a timestamp field)."""
        return self in _TIME_KINDS

    @property
    def arity(self) -> int:
        return _ARITY[self]


_ARITY = {DerivedKind.RATIO: 2, DerivedKind.DIFFERENCE: 2, DerivedKind.ZSCORE: 3, DerivedKind.DISTANCE_KM: 4,
          DerivedKind.SPEED_KMH: 2, DerivedKind.NOT_EQUAL: 2, DerivedKind.EQUAL: 2, DerivedKind.HOUR_OF_DAY: 1,
          DerivedKind.IS_WEEKEND: 1, DerivedKind.IS_NIGHT: 1}
_TIME_KINDS = frozenset({DerivedKind.HOUR_OF_DAY, DerivedKind.IS_WEEKEND, DerivedKind.IS_NIGHT})

#: Features with the same group key share one online state (same entity, events, filter, window).
GroupKey = tuple[tuple[str, ...], tuple[str, ...], str, int | None, int, str, bool]


@dataclass(frozen=True)
class WindowFeature:
    """An aggregation over a sliding window of one entity's events (see the module docstring)."""

    name: str
    key: tuple[str, ...]
    events: tuple[str, ...]
    agg: Aggregation
    field: str | None = None
    window_us: int | None = None  # None only for first_seen
    lag_us: int = 0
    time_field: str = "event_time"
    filter: Filter | None = None
    include_current: bool = False
    description: str = ""

    @property
    def group_key(self) -> GroupKey:
        return (self.key, self.events, self.filter.text if self.filter else "", self.window_us, self.lag_us,
                self.time_field, self.include_current)


@dataclass(frozen=True)
class DerivedFeature:
    """A feature computed from other features and fields of the current event."""

    name: str
    kind: DerivedKind
    inputs: tuple[str, ...]
    description: str = ""


Feature = WindowFeature | DerivedFeature


@dataclass(frozen=True)
class FeatureSet:
    """Declared features in dependency order (inputs before the features that use them)."""

    features: tuple[Feature, ...]

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def subset(self, names: Iterable[str]) -> FeatureSet:
        """The features ``names`` and every feature they read, in declaration (dependency) order; names that
        are not features (event fields among a derived feature's inputs, unknown names) are skipped."""
        by_name = {f.name: f for f in self.features}
        needed: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name in needed or name not in by_name:
                continue
            needed.add(name)
            feature = by_name[name]
            if isinstance(feature, DerivedFeature):
                stack.extend(feature.inputs)
        return FeatureSet(tuple(f for f in self.features if f.name in needed))

    @property
    def window_features(self) -> list[WindowFeature]:
        return [f for f in self.features if isinstance(f, WindowFeature)]

    @property
    def derived_features(self) -> list[DerivedFeature]:
        return [f for f in self.features if isinstance(f, DerivedFeature)]

    def groups(self) -> dict[GroupKey, list[WindowFeature]]:
        """Window features that can share one state, by group key."""
        out: dict[GroupKey, list[WindowFeature]] = {}
        for f in self.window_features:
            out.setdefault(f.group_key, []).append(f)
        return out


_WINDOW_KEYS = {"description", "key", "events", "filter", "agg", "field", "window", "lag", "time_field",
                "include_current"}
_DERIVED_KEYS = {"description", "derive", "inputs"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Parser:
    def __init__(self, doc: LocatedDocument, registry: EventTypeRegistry) -> None:
        self.doc = doc
        self.registry = registry

    def err(self, name: str, key: str | None, message: str) -> WorkspaceError:
        path: tuple[str | int, ...] = ("features", name) if key is None else ("features", name, key)
        return self.doc.error(path, f"feature {name!r}: {message}")

    def window(self, name: str, body: dict[str, Any]) -> WindowFeature:
        unknown = sorted(set(body) - _WINDOW_KEYS)
        if unknown:
            raise self.err(name, unknown[0], f"unknown key {unknown[0]!r}; expected {', '.join(sorted(_WINDOW_KEYS))}")
        for required in ("key", "events", "agg"):
            if required not in body:
                raise self.err(name, None, f"missing {required!r}")
        try:
            agg = Aggregation(body["agg"])
        except ValueError:
            allowed = ", ".join(a.value for a in Aggregation)
            raise self.err(name, "agg", f"'agg' must be one of {allowed}, got {body['agg']!r}") from None
        key = self.name_list(name, "key", body["key"])
        events = self.name_list(name, "events", body["events"])
        types = []
        for ev in events:
            if ev not in self.registry:
                raise self.err(name, "events", f"unknown event type {ev!r}; declared: {', '.join(self.registry.names)}")
            types.append(self.registry.get(ev))
        for k in key:
            for t in types:
                spec = t.field(k)
                if spec is None:
                    raise self.err(name, "key", f"key field {k!r} is not a field of {t.name} events")
                if spec.type is not FieldType.STRING:
                    raise self.err(name, "key", f"key field {k!r} of {t.name} must be a string, not {spec.type}")
        field = body.get("field")
        if agg.needs_field and field is None:
            raise self.err(name, None, f"aggregation {agg.value!r} needs a 'field'")
        if not agg.needs_field and field is not None:
            raise self.err(name, "field", f"aggregation {agg.value!r} takes no 'field'")
        if field is not None:
            for t in types:
                spec = t.field(str(field))
                if spec is None:
                    raise self.err(name, "field", f"field {field!r} is not a field of {t.name} events")
                if agg.numeric_field and spec.type not in _NUMERIC:
                    raise self.err(name, "field", f"{agg.value} needs a number field; {t.name}.{field} is {spec.type}")
        time_field = str(body.get("time_field", "event_time"))
        for t in types:
            spec = t.field(time_field)
            if spec is None or spec.type is not FieldType.TIMESTAMP:
                raise self.err(name, "time_field", f"time_field {time_field!r} is not a timestamp field of {t.name}")
        window_us: int | None = None
        if agg is Aggregation.FIRST_SEEN:
            if "window" in body or "lag" in body:
                raise self.err(name, "window", "first_seen has no window or lag (it looks back to the first event)")
        else:
            if "window" not in body:
                raise self.err(name, None, "missing 'window' (e.g. 10m, 1h, 24h, 7d, 30d)")
            window_us = self.duration(name, "window", body["window"])
        lag_us = self.duration(name, "lag", body["lag"], allow_zero=True) if "lag" in body else 0
        flt = None
        if "filter" in body:
            flt = self.filter(name, body["filter"], types)
        include_current = body.get("include_current", False)
        if not isinstance(include_current, bool):
            raise self.err(name, "include_current", f"'include_current' must be true or false, got {include_current!r}")
        if include_current and (lag_us or time_field != "event_time"):
            raise self.err(name, "include_current", "include_current needs lag 0 and time_field event_time")
        return WindowFeature(name=name, key=key, events=events, agg=agg, field=None if field is None else str(field),
                             window_us=window_us, lag_us=lag_us, time_field=time_field, filter=flt,
                             include_current=include_current, description=str(body.get("description", "")))

    def name_list(self, name: str, key: str, value: Any, *, unique: bool = True) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise self.err(name, key, f"'{key}' must be a name or a non-empty list of names, got {value!r}")
        if unique and len(set(items)) != len(items):
            raise self.err(name, key, f"'{key}' lists a name twice")
        return tuple(items)

    def duration(self, name: str, key: str, value: Any, *, allow_zero: bool = False) -> int:
        try:
            us = parse_duration(value)
        except ValueError as exc:
            raise self.err(name, key, f"'{key}': {exc}") from None
        if us == 0 and not allow_zero:
            raise self.err(name, key, f"'{key}' must be a duration > 0, got {value!r}")
        return us

    def filter(self, name: str, text: Any, types: list[Any]) -> Filter:
        try:
            flt = parse_filter(text)
        except FilterSyntaxError as exc:
            raise self.err(name, "filter", f"filter {text!r}: {exc}") from None
        for t in types:
            for fname in sorted(flt.fields):
                if t.field(fname) is None:
                    raise self.err(name, "filter", f"filter uses {fname!r}, which is not a field of {t.name} events")
            for fname, literal in flt.comparisons:
                ftype = t.field(fname).type
                ok = (isinstance(literal, str) and ftype is FieldType.STRING) or (
                    isinstance(literal, bool) and ftype is FieldType.BOOLEAN) or (
                    isinstance(literal, (int, float)) and not isinstance(literal, bool) and ftype in _NUMERIC)
                if not ok:
                    raise self.err(name, "filter", f"filter compares {t.name}.{fname} ({ftype}) with {literal!r}")
        return flt

    def derived(self, name: str, body: dict[str, Any], known: dict[str, Feature]) -> DerivedFeature:
        unknown = sorted(set(body) - _DERIVED_KEYS)
        if unknown:
            raise self.err(name, unknown[0], f"unknown key {unknown[0]!r}; expected {', '.join(sorted(_DERIVED_KEYS))}")
        try:
            kind = DerivedKind(body["derive"])
        except ValueError:
            allowed = ", ".join(k.value for k in DerivedKind)
            raise self.err(name, "derive", f"'derive' must be one of {allowed}, got {body['derive']!r}") from None
        inputs = self.name_list(name, "inputs", body.get("inputs"), unique=False)  # ratio [a, a] is legal
        if len(inputs) != kind.arity:
            raise self.err(name, "inputs", f"{kind.value} takes {kind.arity} inputs, got {len(inputs)}")
        fields = {f.name for t in self.registry for f in t.fields}
        if kind.reads_time:
            stamps = {"event_time"} | {f.name for t in self.registry for f in t.fields if f.type is FieldType.TIMESTAMP}
            if inputs[0] not in stamps:
                raise self.err(name, "inputs", f"{kind.value} reads a timestamp: event_time or a timestamp field, "
                                               f"got {inputs[0]!r}")
            fields.add("event_time")
        for i in inputs:
            if i not in known and i not in fields:
                raise self.err(name, "inputs", f"input {i!r} is neither a feature declared above nor an event field")
        return DerivedFeature(name=name, kind=kind, inputs=inputs, description=str(body.get("description", "")))


def parse_features(doc: LocatedDocument, registry: EventTypeRegistry) -> FeatureSet:
    """Parse a ``features:`` document; errors name the file, line, feature and problem.

    Derived features may use only features declared above them, so the file order is a valid
    evaluation order.
    """
    data = doc.data
    if not isinstance(data, dict) or set(data) != {"features"}:
        raise doc.error((), "expected exactly one top-level key, 'features:'")
    raw = data["features"]
    if not isinstance(raw, dict) or not raw:
        raise doc.error(("features",), "'features' must be a non-empty mapping of feature name -> declaration")
    parser = _Parser(doc, registry)
    known: dict[str, Feature] = {}
    for name, body in raw.items():
        if not _NAME.match(name):
            raise parser.err(name, None, "names are lower-case letters, digits and '_', starting with a letter")
        if not isinstance(body, dict):
            raise parser.err(name, None, "expected a mapping of settings")
        feature: Feature = parser.derived(name, body, known) if "derive" in body else parser.window(name, body)
        known[name] = feature
    return FeatureSet(features=tuple(known.values()))
