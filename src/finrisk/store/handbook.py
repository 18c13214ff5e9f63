"""The fraud-detection handbook's card data as finrisk events (Le Borgne et al., simulated-data-raw).

The handbook ships one DataFrame pickle per day (``2018-04-01.pkl`` ...) or CSV, columns
``TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_SECONDS, TX_TIME_DAYS,
TX_FRAUD, TX_FRAUD_SCENARIO``. Each row becomes a ``transaction`` event (``txn_type: payment``,
``channel: pos``): the customer is also the card and the account (the handbook has one card per
customer), the terminal is the merchant. ``TX_FRAUD`` becomes the ground-truth label
``label_is_fraud`` (and ``TX_FRAUD_SCENARIO`` ``label_fraud_scenario``). With ``known_after``, each
fraud also yields a ``chargeback`` event (reason ``fraud``) that many days later, which is how the
fraud becomes known to features and to ``--labels feedback`` training.

Columns are converted and checked a whole file at a time (pandas/numpy): a row whose values all pass
the workspace's field rules (:class:`PrevalidatedShape`, read from its event types) is handed to the
log already in the validator's normal form, so the per-row validator runs only for rows with a
problem (which it then names) and the log append is what remains per row. Measured in
docs/models.md ("Loading speed"); the output equals the validator's for every row (tested).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.csv as pacsv

from finrisk.errors import InputFileError
from finrisk.events.registry import EventTypeRegistry
from finrisk.events.schema import FieldType
from finrisk.store._safe_pickle import read_dataframe_pickle

__all__ = ["HANDBOOK_REQUIRED", "PrevalidatedShape", "Ready", "handbook_batches", "handbook_files", "is_handbook"]

#: Columns a handbook file must have (TX_TIME_SECONDS / TX_TIME_DAYS are derivable and ignored).
HANDBOOK_REQUIRED = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")
_OPTIONAL = ("TX_FRAUD_SCENARIO", "TX_TIME_SECONDS", "TX_TIME_DAYS")
_SUFFIXES = (".pkl", ".pickle", ".csv")


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        return [c.strip().strip('"') for c in fh.readline().rstrip("\r\n").split(",")]


def is_handbook(path: Path) -> bool:
    """A pickle, a CSV whose header has the handbook's columns, or a folder of such files."""
    if path.is_dir():
        return any(is_handbook(f) for f in _candidates(path))
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        return True
    return suffix == ".csv" and {"TX_DATETIME", "TX_FRAUD"} <= set(_csv_header(path))


def _candidates(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES)


def handbook_files(path: Path) -> list[Path]:
    """The files to load, in name (= date) order."""
    files = [path] if path.is_file() else _candidates(path)
    if not files:
        raise InputFileError(f"{path}: no .pkl or .csv files of the handbook layout in this folder")
    return files


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".csv":
        try:
            frame: pd.DataFrame = pacsv.read_csv(path).to_pandas()
        except Exception as exc:  # noqa: BLE001 (pyarrow raises several types for a bad file)
            raise InputFileError(f"{path}: cannot read as csv ({str(exc).strip()})") from None
    else:
        frame = read_dataframe_pickle(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in HANDBOOK_REQUIRED if c not in frame.columns]
    if missing:
        present = ", ".join(frame.columns[:12]) or "(none)"
        raise InputFileError(f"{path}: not the handbook's layout: missing column(s) {', '.join(missing)}; "
                             f"expected {', '.join(HANDBOOK_REQUIRED)} (found {present})")
    return frame


def _ids(prefix: str, column: pd.Series) -> list[str | None]:
    """``prefix`` + the id as text (integer ids without '.0'); None where missing."""
    values = column.tolist()
    if pd.api.types.is_float_dtype(column):  # a CSV id column with a gap reads as float: 12.0 -> "12"
        values = [int(v) if v == v and float(v).is_integer() else v for v in values]
    return [None if v is None or v != v else f"{prefix}{v}" for v in values]


_S, _T, _F = FieldType.STRING, FieldType.TIMESTAMP, FieldType.FLOAT
_ENTITIES = {"customer_id": _S, "account_id": _S, "card_id": _S, "merchant_id": _S, "amount": _F}
#: The fields this module fills per event type, with the type each must have, and the constants among them.
_FILLED = {
    "transaction": ({"event_id": _S, "event_type": _S, "event_time": _T, "txn_type": _S, "channel": _S,
                     **_ENTITIES}, {"event_type": "transaction", "txn_type": "payment", "channel": "pos"}),
    "chargeback": ({"event_id": _S, "event_type": _S, "event_time": _T, "ref_event_id": _S, "ref_time": _T,
                    "reason": _S, **_ENTITIES}, {"event_type": "chargeback", "reason": "fraud"}),
}

#: (normal-form event, labels or None) for a row that needs no per-row validation; None: validate it.
Ready = tuple[dict[str, Any], dict[str, Any] | None] | None
#: A row as a file holds it (what a reject shows) and its ready form.
Pair = tuple[dict[str, Any], Ready]


@dataclass(frozen=True)
class PrevalidatedShape:
    """What the shared validator does to a handbook row, read once from the workspace's event types.

    The validator returns every declared field in declaration order (None where absent), strings
    unchanged, floats as float, times as aware UTC datetimes. When the workspace's ``transaction``
    and ``chargeback`` types declare the fields this module fills with those types, no other
    required field, and enums that accept its constants, a row with an id, a time and an amount in
    the declared range has exactly that normal form, built here without the per-row checks.
    Anything else (another schema, a bad value) goes through the validator, which names the problem.
    """

    fields: dict[str, tuple[str, ...]]
    amount_range: dict[str, tuple[float, float]]

    @classmethod
    def from_registry(cls, registry: EventTypeRegistry) -> PrevalidatedShape | None:
        fields: dict[str, tuple[str, ...]] = {}
        ranges: dict[str, tuple[float, float]] = {}
        for name, (filled, constants) in _FILLED.items():
            if name not in registry.names:
                return None
            specs = {f.name: f for f in registry.get(name).fields}
            for field, kind in filled.items():
                spec = specs.get(field)
                if spec is None or spec.type is not kind:
                    return None
                if spec.enum is not None and (field not in constants or constants[field] not in spec.enum):
                    return None
            if any(f.required and f.name not in filled for f in specs.values()):
                return None
            amount = specs["amount"]
            ranges[name] = (-math.inf if amount.min is None else float(amount.min),
                            math.inf if amount.max is None else float(amount.max))
            fields[name] = tuple(specs)
        return cls(fields, ranges)

    def clean(self, event_type: str, amount: npt.NDArray[np.float64], *required: npt.NDArray[np.bool_]
              ) -> npt.NDArray[np.bool_]:
        """Rows whose amount is a finite number in the declared range and whose ``required`` are set."""
        low, high = self.amount_range[event_type]
        ok = np.isfinite(amount) & (amount >= low) & (amount <= high)
        for present in required:
            ok &= present
        return ok

    def rows(self, event_type: str, columns: dict[str, Any], n: int) -> Iterator[dict[str, Any]]:
        """The normal form of ``n`` rows from ``columns`` (a list per field, or one value for all)."""
        values = [columns[name] if isinstance(columns.get(name), list) else repeat(columns.get(name), n)
                  for name in self.fields[event_type]]
        names = self.fields[event_type]
        return (dict(zip(names, row, strict=True)) for row in zip(*values, strict=True))


def _events(frame: pd.DataFrame, known_after: timedelta | None,
            shape: PrevalidatedShape | None = None) -> tuple[list[Pair], list[Pair]]:
    """Transaction rows (with ``label_*`` keys) and, when ``known_after`` is set, chargeback rows,
    each with its normal form when ``shape`` says the validator has nothing to check."""
    times = pd.to_datetime(frame["TX_DATETIME"], errors="coerce", utc=True)
    amount = pd.to_numeric(frame["TX_AMOUNT"], errors="coerce")
    fraud = pd.to_numeric(frame["TX_FRAUD"], errors="coerce")
    tx = _ids("hb-", frame["TRANSACTION_ID"])
    card = _ids("C", frame["CUSTOMER_ID"])
    term = _ids("T", frame["TERMINAL_ID"])
    when = [None if t is pd.NaT else t for t in times.dt.to_pydatetime()]
    raw_amounts = [None if a != a else a for a in amount.tolist()]
    as_float = np.asarray(amount, dtype=np.float64)
    amounts = [None if a != a else a for a in as_float.tolist()]  # what the validator's float() gives
    frauds = [None if f != f else bool(f) for f in fraud.tolist()]
    scenario = (pd.to_numeric(frame["TX_FRAUD_SCENARIO"], errors="coerce").tolist()
                if "TX_FRAUD_SCENARIO" in frame.columns else [None] * len(frame))
    labels: list[dict[str, Any] | None] = []
    for f, s in zip(frauds, scenario, strict=True):
        found: dict[str, Any] = {} if f is None else {"label_is_fraud": f}
        if s is not None and s == s:
            found["label_fraud_scenario"] = int(s)
        labels.append(found or None)
    n = len(frame)
    has_id = np.array([v is not None for v in tx], dtype=bool)
    has_card = np.array([v is not None for v in card], dtype=bool)
    has_time = times.notna().to_numpy()
    ok = (shape.clean("transaction", as_float, has_id, has_card, has_time) if shape is not None
          else np.zeros(n, dtype=bool))
    empty: dict[str, Any] = {}
    columns = {"event_id": tx, "event_type": "transaction", "event_time": when, "txn_type": "payment",
               "channel": "pos", "customer_id": card, "account_id": card, "card_id": card, "merchant_id": term,
               "amount": amounts}
    normal: Iterator[dict[str, Any]] = (shape.rows("transaction", columns, n) if shape is not None
                                        else repeat(empty, n))
    events: list[Pair] = []
    for i, event in enumerate(normal):
        if ok[i]:
            events.append((event, (event, labels[i])))
            continue
        row: dict[str, Any] = {"event_id": tx[i], "event_type": "transaction", "event_time": when[i],
                               "txn_type": "payment", "channel": "pos", "customer_id": card[i],
                               "account_id": card[i], "card_id": card[i], "merchant_id": term[i],
                               "amount": raw_amounts[i], **(labels[i] or {})}
        events.append((row, None))
    chargebacks: list[Pair] = []
    if known_after is not None:
        for i in np.flatnonzero(fraud.fillna(0).to_numpy() > 0).tolist():
            at = when[i]
            if at is None or tx[i] is None:
                continue
            row = {"event_id": f"{tx[i]}-cb", "event_type": "chargeback", "event_time": at + known_after,
                   "ref_event_id": tx[i], "ref_time": at, "customer_id": card[i], "account_id": card[i],
                   "card_id": card[i], "merchant_id": term[i], "amount": raw_amounts[i], "reason": "fraud"}
            ready: Ready = None
            if shape is not None and card[i] is not None and (amounts[i] is None or bool(
                    shape.clean("chargeback", as_float[i:i + 1], np.ones(1, dtype=bool))[0])):
                event = next(shape.rows("chargeback", {**row, "amount": amounts[i]}, 1))
                ready = (event, None)
            chargebacks.append((row, ready))
    return events, chargebacks


def handbook_batches(path: Path, *, known_after: timedelta | None, batch_size: int,
                     shape: PrevalidatedShape | None = None) -> Iterator[tuple[Path, list[Pair]]]:
    """(file, rows) batches in about time order: a chargeback is emitted before the first file that
    starts after it, so the log receives events roughly as a bank would. Each row comes with its
    normal form when ``shape`` allows (see :class:`PrevalidatedShape`), else None."""
    pending: list[Pair] = []
    for f in handbook_files(path):
        events, chargebacks = _events(_read(f), known_after, shape)
        starts = [e["event_time"] for e, _ in events if e["event_time"] is not None]
        if starts and pending:
            first = min(starts)
            due = [c for c in pending if c[0]["event_time"] < first]
            pending = [c for c in pending if c[0]["event_time"] >= first]
            yield from _chunks(f, due, batch_size)
        yield from _chunks(f, events, batch_size)
        pending = sorted(pending + chargebacks, key=lambda c: c[0]["event_time"])
    yield from _chunks(f if pending else path, pending, batch_size)


def _chunks(f: Path, rows: list[Pair], size: int) -> Iterator[tuple[Path, list[Pair]]]:
    for start in range(0, len(rows), size):
        yield f, rows[start:start + size]
