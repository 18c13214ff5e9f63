"""The fraud-detection handbook's card data as finrisk events (Le Borgne et al., simulated-data-raw).

The handbook ships one DataFrame pickle per day (``2018-04-01.pkl`` ...) or CSV, columns
``TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_SECONDS, TX_TIME_DAYS,
TX_FRAUD, TX_FRAUD_SCENARIO``. Each row becomes a ``transaction`` event (``txn_type: payment``,
``channel: pos``): the customer is also the card and the account (the handbook has one card per
customer), the terminal is the merchant. ``TX_FRAUD`` becomes the ground-truth label
``label_is_fraud`` (and ``TX_FRAUD_SCENARIO`` ``label_fraud_scenario``). With ``known_after``, each
fraud also yields a ``chargeback`` event (reason ``fraud``) that many days later, which is how the
fraud becomes known to features and to ``--labels feedback`` training.

Columns are converted a whole file at a time (pandas), so per row only the shared validator and
the log append remain.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv

from finrisk.errors import InputFileError
from finrisk.store._safe_pickle import read_dataframe_pickle

__all__ = ["HANDBOOK_REQUIRED", "handbook_batches", "handbook_files", "is_handbook"]

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


def _events(frame: pd.DataFrame, known_after: timedelta | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Transaction rows (with ``label_*`` keys) and, when ``known_after`` is set, chargeback rows."""
    times = pd.to_datetime(frame["TX_DATETIME"], errors="coerce", utc=True)
    amount = pd.to_numeric(frame["TX_AMOUNT"], errors="coerce")
    fraud = pd.to_numeric(frame["TX_FRAUD"], errors="coerce")
    tx = _ids("hb-", frame["TRANSACTION_ID"])
    card = _ids("C", frame["CUSTOMER_ID"])
    term = _ids("T", frame["TERMINAL_ID"])
    when = [None if t is pd.NaT else t for t in times.dt.to_pydatetime()]
    amounts = [None if a != a else a for a in amount.tolist()]
    frauds = [None if f != f else bool(f) for f in fraud.tolist()]
    scenario = (pd.to_numeric(frame["TX_FRAUD_SCENARIO"], errors="coerce").tolist()
                if "TX_FRAUD_SCENARIO" in frame.columns else [None] * len(frame))
    events = []
    for i in range(len(frame)):
        row: dict[str, Any] = {"event_id": tx[i], "event_type": "transaction", "event_time": when[i],
                               "txn_type": "payment", "channel": "pos", "customer_id": card[i],
                               "account_id": card[i], "card_id": card[i], "merchant_id": term[i],
                               "amount": amounts[i], "label_is_fraud": frauds[i]}
        s = scenario[i]
        if s == s and s is not None:
            row["label_fraud_scenario"] = int(s)
        events.append(row)
    chargebacks = []
    if known_after is not None:
        for i in np.flatnonzero(fraud.fillna(0).to_numpy() > 0).tolist():
            at = when[i]
            if at is None or tx[i] is None:
                continue
            chargebacks.append({"event_id": f"{tx[i]}-cb", "event_type": "chargeback",
                                "event_time": at + known_after, "ref_event_id": tx[i], "ref_time": at,
                                "customer_id": card[i], "account_id": card[i], "card_id": card[i],
                                "merchant_id": term[i], "amount": amounts[i], "reason": "fraud"})
    return events, chargebacks


def handbook_batches(path: Path, *, known_after: timedelta | None,
                     batch_size: int) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """(file, rows) batches in about time order: a chargeback is emitted before the first file that
    starts after it, so the log receives events roughly as a bank would."""
    pending: list[dict[str, Any]] = []
    for f in handbook_files(path):
        events, chargebacks = _events(_read(f), known_after)
        starts = [e["event_time"] for e in events if e["event_time"] is not None]
        if starts and pending:
            first = min(starts)
            due = [c for c in pending if c["event_time"] < first]
            pending = [c for c in pending if c["event_time"] >= first]
            yield from _chunks(f, due, batch_size)
        yield from _chunks(f, events, batch_size)
        pending = sorted(pending + chargebacks, key=lambda c: c["event_time"])
    yield from _chunks(f if pending else path, pending, batch_size)


def _chunks(f: Path, rows: list[dict[str, Any]], size: int) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    for start in range(0, len(rows), size):
        yield f, rows[start:start + size]
