"""Batch readers for the file formats ``finrisk load`` accepts: CSV, JSON lines, Parquet.

Each reader yields lists of ``(row number, row dict)`` of at most ``batch_size`` rows, so a big
file never sits in memory. Row numbers are 1-based data rows (for JSON lines, the line number).
A row the reader cannot even split into fields is yielded as ``(row number, _Unreadable)`` so the
loader can reject it and go on; a file that cannot be opened raises InputFileError.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finrisk.errors import InputFileError

__all__ = ["FORMATS", "Row", "Unreadable", "count_rows", "file_format", "read_batches"]

#: File suffix -> format name.
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class Unreadable:
    """A row that could not be parsed at all (bad JSON, wrong number of CSV columns)."""

    expected: str
    got: str


Row = tuple[int, "dict[str, Any] | Unreadable"]


def file_format(path: Path) -> str:
    """The format of ``path`` from its suffix, or InputFileError listing the accepted ones."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            f"{path}: cannot read files with suffix {path.suffix or '(none)'!r}; "
            f"expected one of {', '.join(sorted(FORMATS))}"
        )
    return fmt


def count_rows(path: Path) -> int | None:
    """Rows in the file when cheap to know (Parquet metadata), else None."""
    if file_format(path) == "parquet":
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (OSError, pa.ArrowException):
            return None
    return None


def read_batches(path: Path, *, batch_size: int) -> Iterator[list[Row]]:
    """Yield batches of rows from a CSV, JSON-lines or Parquet file."""
    fmt = file_format(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    reader = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet}[fmt]
    try:
        yield from reader(path, batch_size)
    except (OSError, pa.ArrowException, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot read as {fmt} ({str(exc).strip()})") from None


def _csv(path: Path, batch_size: int) -> Iterator[list[Row]]:
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise InputFileError(f"{path}: cannot read as csv (the file is empty; expected a header row)")
    bad: list[Row] = []

    def on_invalid(row: Any) -> str:
        number = row.number - 1 if row.number is not None else -1  # header is line 1
        bad.append((number, Unreadable(f"{row.expected_columns} columns", f"{row.actual_columns} columns")))
        return "skip"

    stream = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 22, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=False
        ),
    )
    number = 0
    out: list[Row] = []
    for record_batch in stream:
        for row in record_batch.to_pylist():
            number += 1
            while bad and 0 < bad[0][0] <= number:  # keep row numbers honest around skipped rows
                out.append(bad.pop(0))
                number += 1
            out.append((number, row))
            if len(out) >= batch_size:
                yield out
                out = []
    out.extend(bad)
    if out:
        yield out


def _jsonl(path: Path, batch_size: int) -> Iterator[list[Row]]:
    out: list[Row] = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                out.append((number, Unreadable("a JSON object on one line", f"invalid JSON ({exc.msg})")))
                continue
            if isinstance(row, dict):
                out.append((number, row))
            else:
                out.append((number, Unreadable("a JSON object on one line", f"a JSON {type(row).__name__}")))
            if len(out) >= batch_size:
                yield out
                out = []
    if out:
        yield out


def _parquet(path: Path, batch_size: int) -> Iterator[list[Row]]:
    number = 0
    for record_batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        rows = record_batch.to_pylist()
        yield [(number + i + 1, row) for i, row in enumerate(rows)]
        number += len(rows)
