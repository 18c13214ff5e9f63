"""Event-type declarations: what an event of a type may carry and which fields are entity keys.

A declaration is data (a YAML mapping in the workspace); this module turns it into frozen objects
that the validator, the log, the warehouse and (later) the feature engine all read. Every event
has three common fields, ``event_id`` (the idempotency key), ``event_type`` and ``event_time``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finrisk._yamlfile import LocatedDocument

__all__ = [
    "COMMON_FIELDS",
    "EntityKind",
    "EventType",
    "FieldSpec",
    "FieldType",
    "LABEL_PREFIX",
    "parse_event_types",
]

#: Columns starting with this prefix carry ground truth in files; they are never part of an event body.
LABEL_PREFIX = "label_"


class FieldType(StrEnum):
    """The value types a field may declare."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"

    @property
    def arrow(self) -> pa.DataType:
        return _ARROW_TYPES[self]


_ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.STRING: pa.string(),
    FieldType.INTEGER: pa.int64(),
    FieldType.FLOAT: pa.float64(),
    FieldType.BOOLEAN: pa.bool_(),
    FieldType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


class EntityKind(StrEnum):
    """What real-world thing an entity-key field identifies (features and the graph key on these)."""

    CUSTOMER = "customer"
    ACCOUNT = "account"
    COUNTERPARTY_ACCOUNT = "counterparty_account"
    DEVICE = "device"
    PHONE = "phone"
    IP = "ip"
    CARD = "card"
    MERCHANT = "merchant"
    COMPANY = "company"
    ID_NUMBER = "id_number"
    ADDRESS = "address"
    EMAIL = "email"
    LOAN = "loan"
    POLICY = "policy"
    CLAIM = "claim"


class _FieldDecl(BaseModel):
    """The YAML shape of one field; pydantic generates the error texts from these constraints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: FieldType
    required: bool = False
    entity: EntityKind | None = None
    pii: bool = Field(default=False, description="personal data: masked in logs and error texts")
    enum: list[str] | None = Field(default=None, min_length=1)
    min: float | None = None
    max: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check_consistent(self) -> _FieldDecl:
        if self.entity is not None and self.type is not FieldType.STRING:
            raise ValueError("an entity key must have type 'string'")
        if self.enum is not None and self.type is not FieldType.STRING:
            raise ValueError("'enum' is only allowed on string fields")
        if (self.min is not None or self.max is not None) and self.type not in (
            FieldType.INTEGER,
            FieldType.FLOAT,
        ):
            raise ValueError("'min'/'max' are only allowed on integer and float fields")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


class _EventTypeDecl(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    fields: dict[str, _FieldDecl] = Field(min_length=1)


@dataclass(frozen=True)
class FieldSpec:
    """One declared field of an event type."""

    name: str
    type: FieldType
    required: bool = False
    entity: EntityKind | None = None
    pii: bool = False
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""


COMMON_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("event_id", FieldType.STRING, required=True, description="idempotency key"),
    FieldSpec("event_type", FieldType.STRING, required=True, description="the declared type name"),
    FieldSpec("event_time", FieldType.TIMESTAMP, required=True, description="when it happened (UTC)"),
)
_COMMON_NAMES = frozenset(f.name for f in COMMON_FIELDS)


@dataclass(frozen=True)
class EventType:
    """A declared event type: its name and fields (the common three first)."""

    name: str
    fields: tuple[FieldSpec, ...]
    description: str = ""
    _by_name: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def field(self, name: str) -> FieldSpec | None:
        return self._by_name.get(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def entity_keys(self) -> dict[str, EntityKind]:
        """Field name -> entity kind, for every entity-key field."""
        return {f.name: f.entity for f in self.fields if f.entity is not None}

    @cached_property
    def pii_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.pii)

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        """The Parquet/Arrow schema of this type's warehouse table."""
        return pa.schema(
            [pa.field(f.name, f.type.arrow, nullable=not f.required) for f in self.fields]
        )


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _check_name(doc: LocatedDocument, path: tuple[str | int, ...], name: str, what: str) -> None:
    if not name or not set(name) <= _NAME_CHARS or name[0].isdigit():
        raise doc.error(
            path,
            f"{what} name {name!r} must be lower-case letters, digits and '_' and not start with a digit",
        )


def parse_event_types(doc: LocatedDocument) -> list[EventType]:
    """Turn a parsed ``event_types`` document into :class:`EventType` objects.

    Every error names the file and the line of the offending declaration.
    """
    data = doc.data
    if not isinstance(data, dict) or "event_types" not in data:
        raise doc.error((), "expected a top-level 'event_types:' mapping")
    extra = sorted(set(data) - {"event_types"})
    if extra:
        raise doc.error((extra[0],), f"unknown top-level key {extra[0]!r}; expected only 'event_types'")
    raw = data["event_types"]
    if not isinstance(raw, dict) or not raw:
        raise doc.error(("event_types",), "'event_types' must be a non-empty mapping of type name -> declaration")
    out: list[EventType] = []
    for type_name, body in raw.items():
        base = ("event_types", type_name)
        _check_name(doc, base, type_name, "event type")
        try:
            decl = _EventTypeDecl.model_validate(body)
        except ValidationError as exc:
            raise _first_error(doc, base, type_name, exc) from None
        fields = list(COMMON_FIELDS)
        for field_name, f in decl.fields.items():
            fpath = (*base, "fields", field_name)
            _check_name(doc, fpath, field_name, "field")
            if field_name in _COMMON_NAMES:
                raise doc.error(fpath, f"field {field_name!r} is common to every event and must not be declared")
            if field_name.startswith(LABEL_PREFIX):
                raise doc.error(
                    fpath, f"field names starting with {LABEL_PREFIX!r} are reserved for ground-truth labels"
                )
            fields.append(
                FieldSpec(
                    name=field_name,
                    type=f.type,
                    required=f.required,
                    entity=f.entity,
                    pii=f.pii,
                    enum=tuple(f.enum) if f.enum else None,
                    min=f.min,
                    max=f.max,
                    description=f.description,
                )
            )
        out.append(EventType(name=type_name, fields=tuple(fields), description=decl.description))
    return out


def _first_error(
    doc: LocatedDocument, base: tuple[str | int, ...], type_name: str, exc: ValidationError
) -> Exception:
    """Report the first pydantic error at its YAML line, in the words of the declaration."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    path = (*base, *loc)
    where = ".".join(loc) if loc else "(declaration)"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    elif err["type"] == "enum":
        got: Any = err.get("input")
        expected = err.get("ctx", {}).get("expected", "")
        message = f"expected one of {expected}, got {got!r}"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return doc.error(path, f"event type {type_name!r}, {where}: {message}")
