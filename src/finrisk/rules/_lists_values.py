"""Checking and shaping list names, values, actors and expiry, with error texts that never echo a value."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from finrisk.errors import ListError
from finrisk.events.validate import describe_value
from finrisk.rules._lists_csv import normalise_value
from finrisk.store.relational import ACTOR_LENGTH, datetime_to_us, us_to_datetime

__all__ = [
    "check_actor",
    "check_name",
    "check_reason",
    "check_value",
    "entry_state",
    "expiry_us",
    "list_key",
    "mask_value",
    "shown",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NAME_RULE = "a lower-case identifier (a-z, 0-9, _; starting with a letter; at most 64 characters)"
REASON_LENGTH = 1000


def shown(value: object) -> str:
    """A name as it goes into an error text: quoted when it is a short string, described otherwise."""
    return repr(value) if isinstance(value, str) and len(value) <= 64 else describe_value(value)


def list_key(value: object) -> str:
    """The text an event value is compared as: ``123`` and ``123.0`` -> ``"123"``; null and booleans -> ``""``.

    ``""`` is never stored, so null and booleans never match.

    >>> list_key(123), list_key(123.0), list_key(1.5), list_key(None), list_key(" a ")
    ('123', '123', '1.5', '', ' a ')
    """
    if value.__class__ is str:
        return value
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mask_value(value: str) -> str:
    """A list value as shown to people who may not see personal data: ends kept, middle starred.

    >>> mask_value("13800138000"), mask_value("D-1")
    ('13*******00', '***')
    """
    if len(value) <= 4:
        return "*" * len(value)
    keep = 2 if len(value) < 12 else 3
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def check_name(field: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ListError(f"{field}: expected {_NAME_RULE}, got {describe_value(value)}")
    return value


def check_actor(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > ACTOR_LENGTH:
        raise ListError(f"{field}: expected a non-empty name of at most {ACTOR_LENGTH} characters, got "
                        f"{describe_value(value)}")
    return value.strip()


def check_value(value: object) -> str:
    text = list_key(value)
    stored, problem = normalise_value(text)
    if stored is None:
        raise ListError(f"value: {problem}, got {describe_value(value, pii=True)}")
    return stored


def expiry_us(expires_at: datetime | timedelta | float | None, now: int) -> int | None:
    """None, an absolute time, or a TTL (timedelta or seconds > 0) -> expiry in microseconds."""
    if expires_at is None:
        return None
    if isinstance(expires_at, datetime):
        return datetime_to_us(expires_at)
    if isinstance(expires_at, timedelta) and expires_at > timedelta(0):
        return now + expires_at // timedelta(microseconds=1)
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool) and expires_at > 0:
        return now + int(expires_at * 1_000_000)
    raise ListError(
        f"expires_at: expected a datetime, a TTL in seconds > 0 or None, got {describe_value(expires_at)}"
    )


def check_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ListError(f"reason: expected a non-empty text saying why, got {describe_value(reason)}")
    if len(reason) > REASON_LENGTH:
        raise ListError(f"reason: expected at most {REASON_LENGTH} characters, got {len(reason)}")
    return reason.strip()


def entry_state(reason: str, expires_us: int | None) -> dict[str, Any]:
    expires = None if expires_us is None else us_to_datetime(expires_us).isoformat().replace("+00:00", "Z")
    return {"reason": reason, "expires_at": expires}
