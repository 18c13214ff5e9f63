"""Reading list CSV files (``value,reason,expires_at``) all-or-nothing, with every bad row reported."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from finrisk.errors import ImportProblem, InputFileError, ListImportError
from finrisk.events.validate import format_timestamp, parse_timestamp
from finrisk.store.relational import VALUE_LENGTH, datetime_to_us, us_to_datetime

__all__ = ["CSV_COLUMNS", "ImportRow", "normalise_value", "read_list_csv", "write_list_csv"]

#: The columns of a list file; only ``value`` is required.
CSV_COLUMNS = ("value", "reason", "expires_at")


@dataclass(frozen=True)
class ImportRow:
    value: str
    reason: str
    expires_at_us: int | None


def normalise_value(raw: str) -> tuple[str | None, str | None]:
    """(value, problem): a stored value is stripped, non-empty and at most VALUE_LENGTH characters."""
    value = raw.strip()
    if not value:
        return None, "expected a non-empty value"
    if len(value) > VALUE_LENGTH:
        return None, f"expected at most {VALUE_LENGTH} characters, got {len(value)} (value hidden)"
    return value, None


def _parse_expiry(raw: str) -> tuple[int | None, str | None]:
    text = raw.strip()
    if not text:
        return None, None
    try:
        return datetime_to_us(parse_timestamp(text)), None
    except (TypeError, ValueError):
        shown = text if len(text) <= 40 else text[:37] + "..."
        return None, f"expected an ISO 8601 time such as 2026-03-01T00:00:00Z or empty, got {shown!r}"


def read_list_csv(path: Path, *, default_reason: str) -> list[ImportRow]:
    """Every row of a list CSV, or ListImportError naming each bad row (row 1 is the header)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return _read(fh, path.name, default_reason=default_reason)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise InputFileError(f"{path}: not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror})") from None


def _read(fh: TextIO, name: str, *, default_reason: str) -> list[ImportRow]:
    reader = csv.reader(fh)
    header = [h.strip().lower() for h in next(reader, [])]
    problems: list[ImportProblem] = []
    if "value" not in header:
        problems.append(ImportProblem(1, "header", f"expected a 'value' column, got columns {header}"))
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        problems.append(
            ImportProblem(1, "header", f"expected columns among {', '.join(CSV_COLUMNS)}, got unknown {unknown}")
        )
    if problems:
        raise ListImportError(name, problems)
    where = {h: header.index(h) for h in CSV_COLUMNS if h in header}
    rows: list[ImportRow] = []
    first_row: dict[str, int] = {}
    for number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not rows
        if len(record) != len(header):
            problems.append(ImportProblem(number, "row", f"expected {len(header)} cells, got {len(record)}"))
            continue
        value, problem = normalise_value(record[where["value"]])
        if problem is not None:
            problems.append(ImportProblem(number, "value", problem))
        elif value is not None and value in first_row:
            problems.append(ImportProblem(number, "value", f"duplicate of row {first_row[value]} (value hidden)"))
        elif value is not None:
            first_row[value] = number
        reason = record[where["reason"]].strip() if "reason" in where else ""
        expires_us, problem = _parse_expiry(record[where["expires_at"]]) if "expires_at" in where else (None, None)
        if problem is not None:
            problems.append(ImportProblem(number, "expires_at", problem))
        if value is not None and not problems:
            rows.append(ImportRow(value, reason or default_reason, expires_us))
    if problems:
        raise ListImportError(name, problems)
    return rows


def write_list_csv(out: TextIO, rows: list[tuple[str, str, int | None]]) -> None:
    """Write ``(value, reason, expires_at_us)`` rows in the format :func:`read_list_csv` reads back."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for value, reason, expires_us in rows:
        writer.writerow([value, reason, "" if expires_us is None else _format_us(expires_us)])


def _format_us(us: int) -> str:
    dt: datetime = us_to_datetime(us)
    return format_timestamp(dt)
