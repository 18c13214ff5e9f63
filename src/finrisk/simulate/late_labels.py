"""Ground truth that arrives late: chargebacks and confirmed fraud cases about earlier transactions.

A bank learns that a payment was fraud when the card holder disputes it (a ``chargeback``, days
or weeks later) and that a transfer was fraud when an investigator closes the case (a
``case_disposition``). Label features must count such events only from when they are known, so
the simulated world carries them as their own events, each pointing at the transaction it judges
(``ref_event_id``) and placed at that transaction's time (``ref_time``).

What is generated, from one day's finished transaction table (event ids already assigned):

- every successful fraud card payment gets a ``chargeback`` (reason ``fraud``) 2-30 days later;
- a small share of successful legitimate card payments gets one with reason ``not_received``;
- a share of the fraud transfers of account takeover and phishing, and of mule cash-outs, get a
  ``case_disposition`` (``confirmed_fraud``) 3-20 days later.

Labels that would fall after the simulated window are not written. Everything is drawn from the
generator the caller passes (one per day), with numpy masks, so a world stays deterministic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from finrisk.simulate.behaviour import DAY_US
from finrisk.simulate.frames import from_columns

__all__ = [
    "CASE_DELAY_DAYS",
    "CASE_PATTERNS",
    "CASE_SHARE",
    "CHARGEBACK_DELAY_DAYS",
    "LEGIT_CHARGEBACK_SHARE",
    "late_labels",
]

#: Days from a transaction to its chargeback (inclusive bounds).
CHARGEBACK_DELAY_DAYS: tuple[int, int] = (2, 30)
#: Days from a fraud transaction to the investigator's confirmation (inclusive bounds).
CASE_DELAY_DAYS: tuple[int, int] = (3, 20)
#: Share of successful legitimate card payments disputed as "not received".
LEGIT_CHARGEBACK_SHARE = 0.002
#: Share of the eligible fraud transfers / cash-outs whose case is closed as confirmed fraud.
CASE_SHARE = 0.8
#: Pattern -> the transaction type whose fraud an investigator confirms.
CASE_PATTERNS: dict[str, str] = {"account_takeover": "transfer", "phishing": "transfer",
                                 "mule_fan_in": "withdrawal"}

Mask = npt.NDArray[np.bool_]


def _strings(table: pa.Table, name: str) -> npt.NDArray[np.object_]:
    return np.asarray(table.column(name).to_pylist(), dtype=object)


def _delays(rng: np.random.Generator, n: int, days: tuple[int, int]) -> npt.NDArray[np.int64]:
    """Uniform delays in microseconds between ``days[0]`` and ``days[1]`` days."""
    return rng.integers(days[0] * DAY_US, days[1] * DAY_US + 1, size=n, dtype=np.int64)


def _label_table(event_type: str, tx: pa.Table, rows: npt.NDArray[np.int64], delay: npt.NDArray[np.int64],
                 window_end: int, fields: dict[str, object]) -> pa.Table | None:
    times = tx.column("event_time").cast(pa.int64()).to_numpy()[rows]
    at = times + delay
    keep = at < window_end
    if not keep.any():
        return None
    rows, at, times = rows[keep], at[keep], times[keep]
    picked = tx.take(pa.array(rows))
    columns: dict[str, object] = {"event_time": at, "ref_event_id": picked.column("event_id"), "ref_time": times}
    for name, value in fields.items():  # None: copy from the transaction; array: one per row; str: constant
        if value is None:
            value = picked.column(name)
        elif isinstance(value, np.ndarray):
            value = value[keep]
        columns[name] = value
    return from_columns(event_type, len(rows), columns)


def late_labels(tx: pa.Table, rng: np.random.Generator, *, window_end: int) -> dict[str, pa.Table]:
    """Chargebacks and case dispositions about the transactions of ``tx`` (one finished day).

    Parameters
    ----------
    tx : pyarrow.Table
        One day's transactions with their final ``event_id`` and label columns.
    rng : numpy.random.Generator
        The generator of this day's labels.
    window_end : int
        End of the simulated window (µs since the epoch); later labels are dropped.

    Returns
    -------
    dict
        Event type -> full-schema table (only types with rows), to be scheduled into their days.
    """
    out: dict[str, pa.Table] = {}
    if tx.num_rows == 0:
        return out
    fraud = np.asarray(tx.column("label_is_fraud").to_numpy(zero_copy_only=False), dtype=bool)
    txn_type = _strings(tx, "txn_type")
    status = _strings(tx, "status")
    card = np.asarray(pc.is_valid(tx.column("card_id")).to_numpy(zero_copy_only=False), dtype=bool)
    card_payment: Mask = (txn_type == "payment") & card & (status != "failed")
    legit = card_payment & ~fraud & (rng.random(tx.num_rows) < LEGIT_CHARGEBACK_SHARE)
    disputed = np.flatnonzero(card_payment & fraud | legit).astype(np.int64)
    reason = np.where(fraud[disputed], "fraud", "not_received").astype(object)
    table = _label_table(
        "chargeback", tx, disputed, _delays(rng, len(disputed), CHARGEBACK_DELAY_DAYS), window_end,
        {"customer_id": None, "account_id": None, "card_id": None, "merchant_id": None, "amount": None,
         "reason": reason})
    if table is not None:
        out["chargeback"] = table
    pattern = _strings(tx, "label_pattern")
    eligible = np.zeros(tx.num_rows, dtype=bool)
    for name, kind in CASE_PATTERNS.items():
        eligible |= fraud & (pattern == name) & (txn_type == kind)
    cases = np.flatnonzero(eligible & (rng.random(tx.num_rows) < CASE_SHARE)).astype(np.int64)
    table = _label_table(
        "case_disposition", tx, cases, _delays(rng, len(cases), CASE_DELAY_DAYS), window_end,
        {"ref_event_type": "transaction", "disposition": "confirmed_fraud", "customer_id": None, "account_id": None,
         "device_id": None, "card_id": None, "merchant_id": None})
    if table is not None:
        out["case_disposition"] = table
    return out

