"""Event types, validation and normalisation."""

from __future__ import annotations

from finrisk.events.registry import EventTypeRegistry, builtin_event_types_text
from finrisk.events.schema import COMMON_FIELDS, LABEL_PREFIX, EntityKind, EventType, FieldSpec, FieldType
from finrisk.events.validate import (
    EventValidator,
    body_hash,
    canonical_json,
    format_timestamp,
    format_us,
    parse_timestamp,
)

__all__ = [
    "COMMON_FIELDS",
    "EntityKind",
    "EventType",
    "EventTypeRegistry",
    "EventValidator",
    "FieldSpec",
    "FieldType",
    "LABEL_PREFIX",
    "body_hash",
    "builtin_event_types_text",
    "canonical_json",
    "format_timestamp",
    "format_us",
    "parse_timestamp",
]
