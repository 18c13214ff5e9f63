"""The run-time helpers both back ends call: null-propagating, type-checked, and never raising.

Every helper returns ``None`` (unknown) when an argument is null or of the wrong type, so a
condition cannot raise on any event. Arithmetic accepts only numbers (``+`` also joins two
strings); booleans are not numbers here, so ``true + 1`` is null rather than 2. Integer results
beyond 2**63 turn into floats (null past the float range): values cannot grow without bound.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from finrisk.errors import FinriskError
from finrisk.events.validate import parse_timestamp

__all__ = ["EMPTY", "FUNCTIONS", "Function", "ListLookup"]

EMPTY: Mapping[str, Any] = MappingProxyType({})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INT_LIMIT = 2**63


class ListLookup(Protocol):
    """List membership as the rules see it; the list store implements it (``finrisk.rules.lists``)."""

    def contains(self, list_name: str, value: object, at_us: int) -> bool: ...


def is_number(x: object) -> bool:
    """int or float (or another real number type such as numpy's), but not bool."""
    c = x.__class__
    if c is float or c is int:
        return True
    return c is not bool and isinstance(x, numbers.Real)


def _fit(r: Any) -> Any:
    """Keep results bounded: an int past 2**63 becomes a float, a float past the range becomes null."""
    if r.__class__ is int and not -_INT_LIMIT <= r <= _INT_LIMIT:
        try:
            return float(r)
        except OverflowError:
            return None
    return r


def add(a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        try:
            return _fit(a + b)
        except Exception:
            return None
    if a.__class__ is str and b.__class__ is str:
        return a + b
    return None


def sub(a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        try:
            return _fit(a - b)
        except Exception:
            return None
    return None


def mul(a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b):
        try:
            return _fit(a * b)
        except Exception:
            return None
    return None


def div(a: Any, b: Any) -> Any:
    """True division; dividing by zero is null (unknown), like a ratio feature with a zero denominator."""
    if is_number(a) and is_number(b) and b != 0:
        try:
            return _fit(a / b)
        except Exception:
            return None
    return None


def mod(a: Any, b: Any) -> Any:
    if is_number(a) and is_number(b) and b != 0:
        try:
            return _fit(a % b)
        except Exception:
            return None
    return None


def neg(a: Any) -> Any:
    if is_number(a):
        try:
            return _fit(-a)
        except Exception:
            return None
    return None


ARITH: dict[str, Callable[[Any, Any], Any]] = {"+": add, "-": sub, "*": mul, "/": div, "%": mod}


def truth(v: Any) -> bool | None:
    """A value used as a condition: true or false as itself, anything else unknown."""
    return v if v is True or v is False else None


def compare(op: str, a: Any, b: Any) -> bool | None:
    """``a op b`` with null in, null out; a comparison Python refuses ('a' < 3) is null too."""
    if a is None or b is None:
        return None
    try:
        return bool(_COMPARE[op](a, b))
    except Exception:
        return None


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def member(v: Any, values: frozenset[Any], negate: bool) -> bool | None:
    if v is None:
        return None
    try:
        found = v in values
    except Exception:  # an unhashable value (a list) cannot equal a literal
        return None
    return found != negate


def and3(*items: bool | None) -> bool | None:
    unknown = False
    for v in items:
        if v is False:
            return False
        if v is None:
            unknown = True
    return None if unknown else True


def or3(*items: bool | None) -> bool | None:
    unknown = False
    for v in items:
        if v is True:
            return True
        if v is None:
            unknown = True
    return None if unknown else False


def not3(v: bool | None) -> bool | None:
    return None if v is None else not v


def list_contains(lists: ListLookup | None, list_name: str, value: Any, at_us: int) -> bool | None:
    """Membership, or null when there is no value or no list store; store failures (FinriskError) propagate."""
    if value is None or lists is None:
        return None
    try:
        return bool(lists.contains(list_name, value, at_us))
    except FinriskError:
        raise
    except Exception:
        return None


def default_at_us(event: Mapping[str, Any]) -> int:
    """The time a list lookup asks about when the caller gives none: the event's own time, else now."""
    try:
        dt = parse_timestamp(event.get("event_time"))
    except Exception:
        dt = datetime.now(UTC)
    return (dt - _EPOCH) // _MICROSECOND


# --- helper functions callable from conditions ---------------------------------------------------------


def _time(v: Any) -> datetime | None:
    if v.__class__ is not str and not isinstance(v, datetime):
        return None
    try:
        return parse_timestamp(v)
    except Exception:
        return None


def f_is_null(x: Any) -> bool:
    return x is None


def f_coalesce(*xs: Any) -> Any:
    for x in xs:
        if x is not None:
            return x
    return None


def f_lower(s: Any) -> Any:
    return s.lower() if isinstance(s, str) else None


def f_upper(s: Any) -> Any:
    return s.upper() if isinstance(s, str) else None


def f_len(s: Any) -> Any:
    return len(s) if isinstance(s, (str, list, tuple)) else None


def f_startswith(s: Any, prefix: Any) -> Any:
    return s.startswith(prefix) if isinstance(s, str) and isinstance(prefix, str) else None


def f_endswith(s: Any, suffix: Any) -> Any:
    return s.endswith(suffix) if isinstance(s, str) and isinstance(suffix, str) else None


def f_contains(s: Any, part: Any) -> Any:
    return part in s if isinstance(s, str) and isinstance(part, str) else None


def f_abs(x: Any) -> Any:
    if is_number(x):
        try:
            return _fit(abs(x))
        except Exception:
            return None
    return None


def f_min(*xs: Any) -> Any:
    if all(is_number(x) for x in xs):
        try:
            return min(xs)
        except Exception:
            return None
    return None


def f_max(*xs: Any) -> Any:
    if all(is_number(x) for x in xs):
        try:
            return max(xs)
        except Exception:
            return None
    return None


def f_round(x: Any, digits: Any = 0) -> Any:
    if is_number(x) and digits.__class__ is int:
        try:
            return round(x, digits)
        except Exception:
            return None
    return None


def f_hour(ts: Any) -> Any:
    dt = _time(ts)
    return None if dt is None else dt.hour


def f_weekday(ts: Any) -> Any:
    dt = _time(ts)
    return None if dt is None else dt.isoweekday()


def f_seconds_between(a: Any, b: Any) -> Any:
    da, db = _time(a), _time(b)
    if da is None or db is None:
        return None
    return (db - da).total_seconds()


@dataclass(frozen=True)
class Function:
    """A helper callable from conditions: its implementation, arity and what it returns."""

    impl: Callable[..., Any]
    min_args: int
    max_args: int
    returns: str  # a Kind value
    args: str  # what every argument must be: "string", "number", "time" or "any"
    doc: str


FUNCTIONS: dict[str, Function] = {
    "is_null": Function(f_is_null, 1, 1, "boolean", "any", "true when x is null (never unknown)"),
    "coalesce": Function(f_coalesce, 2, 16, "any", "any", "the first argument that is not null"),
    "lower": Function(f_lower, 1, 1, "string", "string", "the string in lower case"),
    "upper": Function(f_upper, 1, 1, "string", "string", "the string in upper case"),
    "len": Function(f_len, 1, 1, "number", "string", "length of a string (or of a list field)"),
    "startswith": Function(f_startswith, 2, 2, "boolean", "string", "s starts with prefix"),
    "endswith": Function(f_endswith, 2, 2, "boolean", "string", "s ends with suffix"),
    "contains": Function(f_contains, 2, 2, "boolean", "string", "s contains part (substring)"),
    "abs": Function(f_abs, 1, 1, "number", "number", "absolute value"),
    "min": Function(f_min, 2, 16, "number", "number", "smallest of the numbers"),
    "max": Function(f_max, 2, 16, "number", "number", "largest of the numbers"),
    "round": Function(f_round, 1, 2, "number", "number", "round(x) or round(x, digits); digits an integer literal"),
    "hour": Function(f_hour, 1, 1, "number", "time", "hour of a timestamp, 0-23 (UTC)"),
    "weekday": Function(f_weekday, 1, 1, "number", "time", "day of the week, 1 = Monday .. 7 = Sunday (UTC)"),
    "seconds_between": Function(f_seconds_between, 2, 2, "number", "time", "seconds from timestamp a to timestamp b"),
}


def chain(ops: tuple[str, ...], *values: Any) -> bool | None:
    """``a < b < c``: the pairwise comparisons joined by a three-valued and (each operand read once)."""
    return and3(*(compare(o, a, b) for o, a, b in zip(ops, values, values[1:], strict=False)))
