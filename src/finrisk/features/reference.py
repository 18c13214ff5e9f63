"""A brute-force reading of the feature semantics, for tests: slow on purpose, literal on purpose.

For every event ``e`` and every window feature, :func:`reference_values` scans *all* the other
events and keeps those the module docstring of :mod:`finrisk.features.spec` says contribute; it
shares no state, no index and no arithmetic shortcut with the online engine or the offline
compiler, so agreement between the three is evidence that the semantics, not one
implementation's accident, is what they compute. O(n^2) per feature; meant for a few thousand
events.

Events are plain dicts: ``event_id`` (str), ``event_type`` (str), ``event_time`` (an aware
:class:`datetime.datetime`), and the fields of the type; absent fields count as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from finrisk.features.spec import Aggregation, DerivedFeature, DerivedKind, FeatureSet, WindowFeature

__all__ = ["EARTH_RADIUS_KM", "reference_values"]

#: Mean Earth radius used by ``distance_km`` (IUGG), as documented in :class:`DerivedKind`.
EARTH_RADIUS_KM = 6371.0088

Event = Mapping[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _us(t: datetime) -> int:
    """Microseconds since the epoch, exact (integer arithmetic, no float rounding)."""
    return (t - _EPOCH) // _MICRO


def _order(e: Event) -> tuple[int, bytes]:
    """The total order of the semantics: event time, then event_id in byte order."""
    return _us(e["event_time"]), str(e["event_id"]).encode("utf-8")


def _placement_us(c: Event, feature: WindowFeature) -> int | None:
    placed = c.get(feature.time_field)
    return None if placed is None else _us(placed)


def _same_key(c: Event, e: Event, key: Sequence[str]) -> bool:
    return all(c.get(k) is not None and c.get(k) == e.get(k) for k in key)


def _qualifies(c: Event, feature: WindowFeature) -> bool:
    """Own type and filter (three-valued: unknown is no)."""
    if c.get("event_type") not in feature.events:
        return False
    return feature.filter is None or feature.filter.matches(c)


def _in_window(p: int | None, t: int, feature: WindowFeature) -> bool:
    if p is None:
        return False
    if feature.window_us is None:  # first_seen: no window bound at all
        return True
    end = t - feature.lag_us
    return end - feature.window_us < p <= end


def _before(c: Event, e: Event, feature: WindowFeature, position: Mapping[str, int] | None) -> bool:
    """Strictly before ``e`` in the total order (by the contributing event's own event_time);
    in arrival mode it must also have arrived before ``e``."""
    if position is not None and position[str(c["event_id"])] >= position[str(e["event_id"])]:
        return False
    return _order(c) < _order(e)


def _contributing(e: Event, events: Sequence[Event], feature: WindowFeature,
                  position: Mapping[str, int] | None) -> list[Event]:
    t = _us(e["event_time"])
    out = []
    for c in events:
        if c is e:
            continue
        if not (_qualifies(c, feature) and _same_key(c, e, feature.key)):
            continue
        if not _in_window(_placement_us(c, feature), t, feature):
            continue
        if _before(c, e, feature, position):
            out.append(c)
    if feature.include_current and _qualifies(e, feature) and _in_window(_placement_us(e, feature), t, feature):
        out.append(e)
    return out


def _aggregate(e: Event, members: list[Event], feature: WindowFeature) -> Any:
    agg = feature.agg
    if agg is Aggregation.COUNT:
        return len(members)
    if agg in (Aggregation.TIME_SINCE_LAST, Aggregation.FIRST_SEEN):
        placed = [_placement_us(c, feature) for c in members]
        times = [p for p in placed if p is not None]
        if not times:
            return None
        anchor = max(times) if agg is Aggregation.TIME_SINCE_LAST else min(times)
        return (_us(e["event_time"]) - anchor) / 1_000_000
    assert feature.field is not None
    field = feature.field
    present = [c for c in members if c.get(field) is not None]
    values = [c[field] for c in present]
    if agg is Aggregation.COUNT_DISTINCT:
        return len(set(values))
    if agg is Aggregation.LAST:
        if not present:
            return None
        latest = max(present, key=lambda c: (_placement_us(c, feature), *_order(c)))
        return latest[field]
    if agg is Aggregation.SUM:
        return math.fsum(values) if any(isinstance(v, float) for v in values) else sum(values)
    if not values:
        return None
    if agg is Aggregation.MIN:
        return min(values)
    if agg is Aggregation.MAX:
        return max(values)
    mean = math.fsum(values) / len(values)
    if agg is Aggregation.MEAN:
        return mean
    if len(values) < 2:  # std: sample standard deviation
        return None
    # Exact rational arithmetic, then one rounding: equal values give exactly 0 (as DuckDB does).
    exact = [Fraction(v) for v in values]
    exact_mean = sum(exact, Fraction(0)) / len(exact)
    return math.sqrt(sum(((v - exact_mean) ** 2 for v in exact), Fraction(0)) / (len(exact) - 1))


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _derive(kind: DerivedKind, args: list[Any]) -> Any:
    if any(a is None for a in args):
        return None
    if kind is DerivedKind.RATIO:
        return None if args[1] == 0 else args[0] / args[1]
    if kind is DerivedKind.DIFFERENCE:
        return args[0] - args[1]
    if kind is DerivedKind.ZSCORE:
        return None if args[2] == 0 else (args[0] - args[1]) / args[2]
    if kind is DerivedKind.DISTANCE_KM:
        return _haversine_km(*(float(a) for a in args))
    if kind is DerivedKind.SPEED_KMH:
        return None if args[1] == 0 else args[0] / (args[1] / 3600)
    if kind is DerivedKind.NOT_EQUAL:
        return bool(args[0] != args[1])
    if kind.reads_time:  # the same UTC calendar rules, written out once more
        t = args[0].astimezone(UTC)
        return float(t.hour) if kind is DerivedKind.HOUR_OF_DAY else (
            t.isoweekday() >= 6 if kind is DerivedKind.IS_WEEKEND else t.hour < 7)
    return bool(args[0] == args[1])


def _window_value(e: Event, events: Sequence[Event], feature: WindowFeature,
                  position: Mapping[str, int] | None) -> Any:
    if not all(e.get(k) is not None for k in feature.key):
        return None
    return _aggregate(e, _contributing(e, events, feature, position), feature)


def reference_values(feature_set: FeatureSet, events: list[dict[str, Any]], *,
                     arrival_order: bool = False) -> list[dict[str, Any]]:
    """The value of every feature for every event, one dict per event in the input order.

    Parameters
    ----------
    feature_set : FeatureSet
        The declarations.
    events : list of dict
        Normalised events (aware ``event_time``). Their order does not matter unless
        ``arrival_order`` is set.
    arrival_order : bool
        When true the list order is the arrival order, and an event ``c`` counts for ``e`` only
        if it also arrived before ``e`` (what an online engine serves when events come late).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from finrisk._yamlfile import parse_yaml
    >>> from finrisk.events import EventTypeRegistry
    >>> from finrisk.features.spec import parse_features
    >>> fs = parse_features(parse_yaml("features:\\n  n: {key: customer_id, events: login, agg: count, window: 1h}",
    ...                                "f.yaml"), EventTypeRegistry.builtin())
    >>> ev = [{"event_id": f"e{i}", "event_type": "login", "customer_id": "c", "success": True,
    ...        "event_time": datetime(2026, 1, 1, 0, i, tzinfo=UTC)} for i in range(3)]
    >>> [r["n"] for r in reference_values(fs, ev)]
    [0, 1, 2]
    """
    position = {str(e["event_id"]): i for i, e in enumerate(events)} if arrival_order else None
    out: list[dict[str, Any]] = []
    for e in events:
        row: dict[str, Any] = {}
        for feature in feature_set:
            if isinstance(feature, WindowFeature):
                row[feature.name] = _window_value(e, events, feature, position)
            else:
                row[feature.name] = _derived_value(e, row, feature)
        out.append(row)
    return out


def _derived_value(e: Event, row: Mapping[str, Any], feature: DerivedFeature) -> Any:
    """Inputs name a feature computed above, else a field of the current event."""
    args = [row[i] if i in row else e.get(i) for i in feature.inputs]
    return _derive(feature.kind, args)
