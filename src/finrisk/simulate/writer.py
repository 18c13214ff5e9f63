"""Streaming writers: events go to disk in part files as each day is generated.

Parquet: ``events/<type>/part-00000.parquet`` with the event columns plus the ``label_`` columns.
JSONL: ``events/<type>/part-00000.jsonl`` with exactly one valid event body per line (nulls
omitted, UTC ``Z`` timestamps) and the labels beside it in ``labels/<type>/part-00000.parquet``.
Small daily tables are buffered per type and flushed as one row group once large enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finrisk.simulate.frames import event_schema, full_schema, label_schema

__all__ = ["EventWriter", "JsonlEventWriter", "ParquetEventWriter", "open_writer"]

_FLUSH_ROWS = 100_000
_TS = "%Y-%m-%dT%H:%M:%SZ"  # Arrow's %S already carries the microseconds (24.755134)


class EventWriter(Protocol):
    def write(self, event_type: str, table: pa.Table) -> None: ...

    def close(self) -> list[str]: ...


class _Parts:
    """Rolls parquet part files of one schema under ``folder``."""

    def __init__(self, root: Path, folder: str, schema: pa.Schema, rows_per_part: int) -> None:
        self.root, self.folder, self.schema, self.rows_per_part = root, folder, schema, rows_per_part
        self.part, self.rows = 0, 0
        self.files: list[str] = []
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            rel = f"{self.folder}/part-{self.part:05d}.parquet"
            (self.root / self.folder).mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.root / rel, self.schema, compression="snappy")
            self.files.append(rel)
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += table.num_rows
        if self.rows >= self.rows_per_part:
            self.close()
            self.part, self.rows = self.part + 1, 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _Buffered:
    """Collects daily tables of each type and hands them on in large batches."""

    def __init__(self, flush_rows: int) -> None:
        self.flush_rows = flush_rows
        self._buf: dict[str, list[pa.Table]] = {}
        self._rows: dict[str, int] = {}

    def add(self, event_type: str, table: pa.Table) -> pa.Table | None:
        self._buf.setdefault(event_type, []).append(table)
        self._rows[event_type] = self._rows.get(event_type, 0) + table.num_rows
        if self._rows[event_type] >= self.flush_rows:
            return self.pop(event_type)
        return None

    def pop(self, event_type: str) -> pa.Table | None:
        tables = self._buf.pop(event_type, [])
        self._rows[event_type] = 0
        return pa.concat_tables(tables) if tables else None

    def types(self) -> list[str]:
        return list(self._buf)


class ParquetEventWriter:
    """Writes full-schema tables (events + labels) as parquet parts."""

    def __init__(self, root: Path, *, rows_per_part: int) -> None:
        self.root, self.rows_per_part = root, rows_per_part
        self._parts: dict[str, _Parts] = {}
        self._buffer = _Buffered(min(_FLUSH_ROWS, rows_per_part))

    def write(self, event_type: str, table: pa.Table) -> None:
        ready = self._buffer.add(event_type, table)
        if ready is not None:
            self._flush(event_type, ready)

    def _flush(self, event_type: str, table: pa.Table) -> None:
        parts = self._parts.get(event_type)
        if parts is None:
            parts = self._parts[event_type] = _Parts(
                self.root, f"events/{event_type}", full_schema(event_type), self.rows_per_part)
        parts.write(table)

    def close(self) -> list[str]:
        for t in self._buffer.types():
            table = self._buffer.pop(t)
            if table is not None:
                self._flush(t, table)
        files: list[str] = []
        for parts in self._parts.values():
            parts.close()
            files.extend(parts.files)
        return sorted(files)


def _body_lines(event_type: str, table: pa.Table) -> bytes:
    """One JSON object per row, nulls dropped, timestamps as ``...Z`` text."""
    schema = event_schema(event_type)
    cols = []
    for f in schema:
        col = table.column(f.name)
        if pa.types.is_timestamp(f.type):
            col = pc.strftime(col, format=_TS)
        cols.append(col)
    body = pa.Table.from_arrays(cols, names=schema.names)
    dumps = orjson.dumps
    return b"".join(
        dumps({k: v for k, v in row.items() if v is not None}) + b"\n" for row in body.to_pylist()
    )


class JsonlEventWriter:
    """Writes event bodies as JSONL parts and the labels as parquet parts beside them."""

    def __init__(self, root: Path, *, rows_per_part: int) -> None:
        self.root, self.rows_per_part = root, rows_per_part
        self._files: dict[str, tuple[IO[bytes] | None, int, int]] = {}
        self._labels: dict[str, _Parts] = {}
        self._names: list[str] = []

    def write(self, event_type: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        handle, part, rows = self._files.get(event_type, (None, 0, 0))
        if handle is None:
            rel = f"events/{event_type}/part-{part:05d}.jsonl"
            (self.root / "events" / event_type).mkdir(parents=True, exist_ok=True)
            handle = (self.root / rel).open("wb")
            self._names.append(rel)
        handle.write(_body_lines(event_type, table))
        rows += table.num_rows
        labels = self._labels.get(event_type)
        if labels is None:
            schema = pa.schema([full_schema(event_type).field("event_id"), *label_schema(event_type)])
            labels = self._labels[event_type] = _Parts(self.root, f"labels/{event_type}", schema, self.rows_per_part)
        labels.write(table.select(labels.schema.names))
        if rows >= self.rows_per_part:
            handle.close()
            self._files[event_type] = (None, part + 1, 0)
        else:
            self._files[event_type] = (handle, part, rows)

    def close(self) -> list[str]:
        for handle, _, _ in self._files.values():
            if handle is not None:
                handle.close()
        files = list(self._names)
        for parts in self._labels.values():
            parts.close()
            files.extend(parts.files)
        return sorted(files)


def open_writer(fmt: str, root: Path, *, rows_per_part: int) -> EventWriter:
    if fmt == "parquet":
        return ParquetEventWriter(root, rows_per_part=rows_per_part)
    return JsonlEventWriter(root, rows_per_part=rows_per_part)
