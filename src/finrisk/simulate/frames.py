"""Turn generated columns into Arrow tables with the exact warehouse schema plus label columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from finrisk.events import EventTypeRegistry

__all__ = [
    "EVENT_TYPES",
    "ID_PREFIX",
    "LABEL_FIELDS",
    "event_schema",
    "finalize",
    "from_columns",
    "from_rows",
    "full_schema",
    "label_schema",
]

#: Every event type the simulator writes, in manifest order.
EVENT_TYPES: tuple[str, ...] = (
    "registration", "login", "transaction", "profile_update", "loan_application", "repayment",
    "insurance_policy", "claim", "chargeback", "case_disposition",
)
#: Event-id prefix per type; ids are prefix + zero-padded per-type counter (unique world-wide).
ID_PREFIX: dict[str, str] = {
    "registration": "reg-", "login": "lgn-", "transaction": "tx-", "profile_update": "pu-",
    "loan_application": "la-", "repayment": "rp-", "insurance_policy": "pol-", "claim": "clm-",
    "chargeback": "cb-", "case_disposition": "cd-",
}
LABEL_FIELDS: tuple[pa.Field, ...] = (
    pa.field("label_is_fraud", pa.bool_(), nullable=False),
    pa.field("label_pattern", pa.string()),
    pa.field("label_group", pa.string()),
)
_DEFAULT_FIELD = pa.field("label_default", pa.bool_())
_TIME = pa.timestamp("us", tz="UTC")


@lru_cache(maxsize=1)
def _registry() -> EventTypeRegistry:
    return EventTypeRegistry.builtin()


def event_schema(event_type: str) -> pa.Schema:
    """The registry's Arrow schema of ``event_type`` (the event body columns)."""
    schema: pa.Schema = _registry().get(event_type).arrow_schema
    return schema


@cache
def label_schema(event_type: str) -> pa.Schema:
    """Label columns of ``event_type`` (``label_default`` only for loan applications)."""
    fields = list(LABEL_FIELDS)
    if event_type == "loan_application":
        fields.append(_DEFAULT_FIELD)
    return pa.schema(fields)


@cache
def full_schema(event_type: str) -> pa.Schema:
    """Event columns followed by the label columns: the parquet schema of the type."""
    return pa.schema(list(event_schema(event_type)) + list(label_schema(event_type)))


def _column(value: Any, field: pa.Field, n: int) -> pa.Array:
    if value is None:
        if field.name == "label_is_fraud":
            return pa.array(np.zeros(n, dtype=bool))
        return pa.nulls(n, type=field.type)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value if value.type == field.type else value.cast(field.type)
    if isinstance(value, str):
        return pa.repeat(pa.scalar(value, type=field.type), n)
    arr = np.asarray(value)
    if field.type == _TIME:
        return pa.array(arr.astype(np.int64), type=_TIME)
    return pa.array(arr, type=field.type)


def from_columns(event_type: str, n: int, columns: Mapping[str, Any]) -> pa.Table:
    """A full-schema table from column values (numpy, Arrow, a scalar string, or None = null).

    ``event_time`` is int64 microseconds since the epoch; ``event_id``/``event_type`` are set by
    :func:`finalize`.
    """
    schema = full_schema(event_type)
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise KeyError(f"{event_type}: unknown columns {sorted(unknown)}")
    arrays = [_column(columns.get(f.name), f, n) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def from_rows(event_type: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """A full-schema table from row dicts (pattern injections; small)."""
    schema = full_schema(event_type)
    cols: dict[str, Any] = {}
    for f in schema:
        values = [r.get(f.name) for r in rows]
        if f.name == "label_is_fraud":
            values = [bool(v) for v in values]
        cols[f.name] = pa.array(values, type=pa.int64() if f.type == _TIME else f.type)
    arrays = [cols[f.name].cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def finalize(event_type: str, tables: Sequence[pa.Table], first_id: int) -> pa.Table:
    """Concatenate one day's tables of a type, sort by time, and number the events from ``first_id``."""
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    n = table.num_rows
    times = table.column("event_time").cast(pa.int64()).to_numpy()
    order = np.argsort(times, kind="stable")
    table = table.take(pa.array(order))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(first_id, first_id + n)), pa.string()), width=9, padding="0")
    ids = pc.binary_join_element_wise(ID_PREFIX[event_type], digits, "")
    table = table.set_column(0, full_schema(event_type).field(0), ids)
    return table.set_column(1, full_schema(event_type).field(1), pa.repeat(event_type, n).cast(pa.string()))
