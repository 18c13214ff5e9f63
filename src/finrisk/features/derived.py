"""Derived features: pure-Python formulas, exactly as :class:`~finrisk.features.spec.DerivedKind` documents them.

The offline compiler writes the SQL twin of each formula; both must give the same value (the
parity tests compare them at 1e-9 relative). Every formula returns null when an input is null.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from finrisk.features.spec import DerivedKind

__all__ = ["EARTH_RADIUS_KM", "compute_derived", "formula", "haversine_km"]

#: Mean Earth radius (IUGG) used by ``distance_km``.
EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km: ``2 R asin(sqrt(sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)))``."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _ratio(a: Any, b: Any) -> Any:
    return None if b == 0 else a / b


def _difference(a: Any, b: Any) -> Any:
    return a - b


def _zscore(x: Any, mean: Any, std: Any) -> Any:
    return None if std == 0 else (x - mean) / std


def _distance(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> float:
    return haversine_km(float(lat1), float(lon1), float(lat2), float(lon2))


def _speed(km: Any, seconds: Any) -> Any:
    return None if seconds == 0 else km / (seconds / 3600)


def _utc(t: Any) -> datetime:
    return t.astimezone(UTC) if t.tzinfo is not None else t  # type: ignore[no-any-return]


def _hour(t: Any) -> float:
    return float(_utc(t).hour)


def _weekend(t: Any) -> bool:
    return _utc(t).weekday() >= 5


def _night(t: Any) -> bool:
    return _utc(t).hour <= 6


def _not_equal(a: Any, b: Any) -> bool:
    return bool(a != b)


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


_FORMULAS: dict[DerivedKind, Callable[..., Any]] = {
    DerivedKind.RATIO: _ratio,
    DerivedKind.DIFFERENCE: _difference,
    DerivedKind.ZSCORE: _zscore,
    DerivedKind.DISTANCE_KM: _distance,
    DerivedKind.SPEED_KMH: _speed,
    DerivedKind.NOT_EQUAL: _not_equal,
    DerivedKind.EQUAL: _equal,
    DerivedKind.HOUR_OF_DAY: _hour,
    DerivedKind.IS_WEEKEND: _weekend,
    DerivedKind.IS_NIGHT: _night,
}


def formula(kind: DerivedKind) -> Callable[..., Any]:
    """The function behind ``kind`` (positional inputs, no null handling): for precompiled hot loops."""
    return _FORMULAS[kind]


def compute_derived(kind: DerivedKind | str, inputs: Sequence[Any]) -> Any:
    """The value of a derived feature of ``kind`` from its ``inputs`` (null when any input is null).

    >>> compute_derived("ratio", [3, 4])
    0.75
    >>> compute_derived("zscore", [12.0, 10.0, 0.0]) is None
    True
    >>> round(compute_derived("distance_km", [0.0, 0.0, 0.0, 1.0]), 3)
    111.195
    """
    try:
        kind = DerivedKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in DerivedKind)
        raise ValueError(f"The 'kind' parameter of compute_derived must be one of {allowed}. Got {kind!r} instead.") \
            from None
    if len(inputs) != kind.arity:
        raise ValueError(f"The 'inputs' parameter of compute_derived must hold {kind.arity} values for "
                         f"{kind.value}. Got {len(inputs)} instead.")
    if any(v is None for v in inputs):
        return None
    return _FORMULAS[kind](*inputs)
