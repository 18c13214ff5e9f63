"""Validate one event body against its type and normalise it.

The validator reports every problem at once (field, what was expected, what came), never only
the first. Values of fields marked ``pii`` are never echoed back: the error says what kind of
value came, not the value, so error texts are safe to log.

Normalised events are plain dicts with the declared fields only (absent optional fields are
``None``), ``event_time`` and other timestamps as timezone-aware UTC datetimes, integers as
``int`` and floats as ``float``. :func:`canonical_json` gives the byte form stored in the log and
:func:`body_hash` its digest, so ``5`` and ``5.0`` for a float field are the same event.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from finrisk.errors import EventValidationError, Problem
from finrisk.events.registry import EventTypeRegistry
from finrisk.events.schema import EventType, FieldSpec, FieldType

__all__ = [
    "EventValidator",
    "body_hash",
    "canonical_json",
    "describe_value",
    "format_timestamp",
    "format_us",
    "parse_timestamp",
    "sent_time_text",
]

Event = dict[str, Any]


def describe_value(value: Any, *, pii: bool = False) -> str:
    """A short, log-safe description of a value for error texts."""
    if value is None:
        return "null"
    kind = type(value).__name__
    if pii:
        if isinstance(value, str):
            return f"a {kind} of {len(value)} characters (value hidden: personal data)"
        return f"a {kind} (value hidden: personal data)"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 string or a datetime -> aware UTC datetime; naive times are taken as UTC."""
    if type(value) is str:
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is UTC:  # a "...Z" time: already what astimezone(UTC) returns (itself); ~90 ns less
            return dt
    elif isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value)
    else:
        raise TypeError("not a timestamp")
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_timestamp(dt: datetime) -> str:
    """The canonical text form: ``2026-01-05T09:13:22.123456Z``.

    Aware times take ``isoformat`` (about 10x cheaper than ``strftime``; decisions format two per
    event); naive ones and years before 1000 (which ``strftime`` does not pad) keep the old path,
    so the text, and every body hash made from it, is unchanged.
    """
    offset = dt.utcoffset()
    if offset is None or dt.year < 1000:
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    utc = dt.replace(tzinfo=None) - offset if offset else dt.replace(tzinfo=None)
    if utc.year < 1000:
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.isoformat(timespec="microseconds") + "Z"


_EPOCH_NAIVE = datetime(1970, 1, 1)
_DAYS: dict[int, str] = {}  # day since the epoch -> its date text (a bounded cache)


def format_us(us: int) -> str:
    """:func:`format_timestamp` of the UTC time ``us`` microseconds after the epoch.

    The date text of each day is cached (decisions format their event time and their decision time;
    replay walks history day by day), so the usual call is integer arithmetic and one f-string:
    several times cheaper than formatting a datetime.
    """
    day, rest = divmod(us, 86_400_000_000)
    head = _DAYS.get(day)
    if head is None:
        date = _EPOCH_NAIVE + timedelta(days=day)
        if date.year < 1000:
            return format_timestamp((_EPOCH_NAIVE + timedelta(microseconds=us)).replace(tzinfo=UTC))
        if len(_DAYS) >= 4096:
            _DAYS.clear()
        head = _DAYS[day] = date.date().isoformat()
    sec, frac = divmod(rest, 1_000_000)
    minute, s = divmod(sec, 60)
    h, m = divmod(minute, 60)
    return f"{head}T{h:02d}:{m:02d}:{s:02d}.{frac:06d}Z"


_SENT_UTC = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3}|\.[0-9]{6})?Z",
                       re.ASCII)


def sent_time_text(sent: Any) -> str | None:
    """The :func:`format_timestamp` text of a time a client sent, taken from what it sent, or None.

    Only for the canonical UTC layout (``2026-01-05T09:00:00.123456Z``, or with 3 or no decimals:
    completed with zeros); anything else (offsets, other layouts, years before 1000) gives None and
    the caller formats the parsed time. The validator has parsed the same text, so the result is
    the parsed time's own text: one match (~0.3 µs) instead of formatting it again (``format_us``
    ~1.1 µs; ``docs/api.md``, eighth round).
    """
    if type(sent) is not str or not _SENT_UTC.fullmatch(sent):
        return None
    size = len(sent)
    return sent if size == 27 else (sent[:-1] + "000Z" if size == 24 else sent[:-1] + ".000000Z")


Checker = Callable[[Any], tuple[Any, str | None]]


def _checker(spec: FieldSpec) -> Checker:
    """Build the per-field check once per type; returns (normalised value, expected-if-bad)."""
    t = spec.type

    def in_range(x: float) -> str | None:
        if spec.min is not None and x < spec.min:
            return f"{t.value} >= {_num(spec.min)}"
        if spec.max is not None and x > spec.max:
            return f"{t.value} <= {_num(spec.max)}"
        return None

    if t is FieldType.STRING:
        allowed = frozenset(spec.enum) if spec.enum else None
        expected = f"one of {', '.join(spec.enum)}" if spec.enum else "a string"
        if spec.entity is not None:
            expected = f"a non-empty string ({spec.entity.value} key)"

        # one closure per kind, each with only its own tests (validation runs on every request)
        if allowed is not None and spec.entity is not None:  # both (no built-in field): every test

            def check_enum_key(v: Any) -> tuple[Any, str | None]:
                ok = isinstance(v, str) and v in allowed and bool(v) and not v.isspace()
                return (v, None) if ok else (v, expected)

            return check_enum_key
        if allowed is not None:

            def check_enum(v: Any) -> tuple[Any, str | None]:
                return (v, None) if isinstance(v, str) and v in allowed else (v, expected)

            return check_enum
        if spec.entity is not None:

            def check_key(v: Any) -> tuple[Any, str | None]:
                # ``not v or v.isspace()`` is ``not v.strip()`` (the same whitespace) without a copy
                return (v, expected) if not isinstance(v, str) or not v or v.isspace() else (v, None)

            return check_key

        def check_string(v: Any) -> tuple[Any, str | None]:
            return (v, None) if isinstance(v, str) else (v, expected)

        return check_string
    if t is FieldType.INTEGER:

        def check_int(v: Any) -> tuple[Any, str | None]:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return v, "an integer"
            if isinstance(v, float):
                if not v.is_integer():
                    return v, "an integer"
                v = int(v)
            return v, in_range(v)

        return check_int
    if t is FieldType.FLOAT:

        def check_float(v: Any) -> tuple[Any, str | None]:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return v, "a number"
            v = float(v)
            if not math.isfinite(v):
                return v, "a finite number"
            return v, in_range(v)

        return check_float
    if t is FieldType.BOOLEAN:

        def check_bool(v: Any) -> tuple[Any, str | None]:
            return (v, None) if isinstance(v, bool) else (v, "true or false")

        return check_bool

    def check_time(v: Any) -> tuple[Any, str | None]:
        try:
            return parse_timestamp(v), None
        except (TypeError, ValueError):
            return v, "an ISO 8601 timestamp such as 2026-01-05T09:13:22Z"

    return check_time


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class EventValidator:
    """Validates event bodies for every type of a registry; checks are built once per type.

    Examples
    --------
    >>> v = EventValidator(EventTypeRegistry.builtin())
    >>> e = v.validate({"event_id": "e1", "event_type": "login",
    ...                 "event_time": "2026-01-05T09:00:00Z", "customer_id": "C1", "success": True})
    >>> e["event_time"].isoformat()
    '2026-01-05T09:00:00+00:00'
    """

    def __init__(self, registry: EventTypeRegistry) -> None:
        self.registry = registry
        # per type: (name, required, pii, check) of each field, unpacked in the loop instead of read
        # from the spec as attributes (the validator runs on every request: ``docs/api.md``, eighth round)
        self._checks: dict[str, list[tuple[str, bool, bool, Checker]]] = {
            et.name: [(f.name, f.required, f.pii, _checker(f)) for f in et.fields] for et in registry
        }
        self._names: dict[str, frozenset[str]] = {et.name: frozenset(et.field_names) for et in registry}

    def validate(self, body: Mapping[str, Any]) -> Event:
        """Return the normalised event or raise :class:`EventValidationError` listing every problem."""
        if not isinstance(body, Mapping):
            raise EventValidationError(
                "unknown", [Problem("(body)", "a JSON object", describe_value(body))]
            )
        event_type: EventType = self.registry.get(body.get("event_type"))
        problems: list[Problem] = []
        out: Event = {}
        for name, required, pii, check in self._checks[event_type.name]:
            raw = body.get(name)  # absent and null are the same: no value
            if raw is None:
                if required:
                    problems.append(Problem(name, "a value (required)", "nothing"))
                out[name] = None
                continue
            value, expected = check(raw)
            if expected is not None:
                problems.append(Problem(name, expected, describe_value(raw, pii=pii)))
            out[name] = value
        names = self._names[event_type.name]
        if not body.keys() <= names:  # a subset test makes no set; the extras only when there are some
            for extra in sorted(body.keys() - names):
                problems.append(
                    Problem(extra, f"no such field in {event_type.name} events", describe_value(body[extra]))
                )
        if problems:
            raise EventValidationError(event_type.name, problems)
        return out


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def canonical_json(event: Mapping[str, Any]) -> bytes:
    """Stable bytes for a normalised event: sorted keys, nulls dropped, UTC timestamps."""
    compact = {k: v for k, v in event.items() if v is not None}
    return orjson.dumps(
        compact, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
    )


def body_hash(event: Mapping[str, Any]) -> str:
    """Digest of :func:`canonical_json`; equal for the same event however it was spelled."""
    return hashlib.blake2b(canonical_json(event), digest_size=16).hexdigest()
