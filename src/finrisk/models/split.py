"""Time-ordered splits with a label-delay gap, as in the handbook (Le Borgne et al., chapter 5).

One fold: ``train_days`` of training events, then ``delay_days`` whose events are not used (their
labels are not known yet when the model is trained), then ``test_days`` of test events. The model
is trained at the start of the test period, so training rows carry the labels known *then*
(``labels_at(test_start)``); rows whose label is still unknown are dropped. Entities (cards)
known to be compromised are removed from the test: they are already blocked in practice. As in
the handbook's ``get_train_test_set``, this is decided per test day: a card leaves the test from
the first test day at whose start one of its frauds is known (with a 7-day delay, a fraud on the
``d``-th delay day removes the card from test day ``d + 1`` on), and only frauds from the training
start on count (``known_from="train_start"``; ``"history"`` counts every earlier fraud too).
Rolling folds move the whole window forward ``step_days`` at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import pandas as pd

from finrisk.errors import ModelError
from finrisk.models.training_set import TrainingSet

__all__ = ["Fold", "FoldData", "KnownFrom", "fold_data", "rolling_folds"]

#: Which frauds make a card "known compromised" for the test: the handbook counts those from the
#: training start on; ``history`` counts every fraud in the training set before the test day.
KnownFrom = Literal["train_start", "history"]


@dataclass(frozen=True)
class Fold:
    """The three periods of one fold (half-open ``[start, end)`` intervals, UTC)."""

    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime

    @property
    def delay(self) -> timedelta:
        return self.test_start - self.train_end

    def describe(self) -> str:
        day = "%Y-%m-%d"
        return (f"train {self.train_start:{day}}..{self.train_end - timedelta(seconds=1):{day}}, "
                f"delay {self.delay.days}d, test {self.test_start:{day}}..{self.test_end - timedelta(seconds=1):{day}}")


@dataclass
class FoldData:
    """Train rows with their labels known at the test start; test rows with their eventual labels."""

    fold: Fold
    train: pd.DataFrame
    y_train: pd.Series
    test: pd.DataFrame
    y_test: pd.Series
    removed_known_entities: int


def rolling_folds(start: date | datetime, *, train_days: int = 7, delay_days: int = 7, test_days: int = 7,
                  folds: int = 4, step_days: int = 7) -> list[Fold]:
    """``folds`` folds, the first training period starting at ``start``."""
    for name, value, least in (("train_days", train_days, 1), ("delay_days", delay_days, 0),
                               ("test_days", test_days, 1), ("folds", folds, 1), ("step_days", step_days, 1)):
        if value < least:
            raise ModelError(f"{name}: expected an integer >= {least}, got {value}")
    base = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day, tzinfo=UTC)
    base = base if base.tzinfo else base.replace(tzinfo=UTC)
    out = []
    for i in range(folds):
        t0 = base + timedelta(days=i * step_days)
        t1 = t0 + timedelta(days=train_days)
        t2 = t1 + timedelta(days=delay_days)
        out.append(Fold(t0, t1, t2, t2 + timedelta(days=test_days)))
    return out


def fold_data(ts: TrainingSet, fold: Fold, *, known_from: KnownFrom = "train_start") -> FoldData:
    """Cut ``ts`` into the fold's train and test rows, with labels as known at each moment."""
    if known_from not in ("train_start", "history"):
        raise ModelError(f"known_from: expected 'train_start' or 'history', got {known_from!r}")
    f = ts.frame
    t = f["event_time"]
    train = f[(t >= fold.train_start) & (t < fold.train_end)]
    y_known = ts.labels_at(fold.test_start, train)
    train, y_train = train[y_known.notna()], y_known[y_known.notna()].astype(int)
    frauds = f[f["fraud_known_at"].notna() & (t < fold.test_end)]
    if known_from == "train_start":
        frauds = frauds[frauds["event_time"] >= fold.train_start]
    test = f[(t >= fold.test_start) & (t < fold.test_end)]
    keep = pd.Series(True, index=test.index)
    removed: set[object] = set()
    day = fold.test_start
    while day < fold.test_end:  # the known set grows day by day, as the handbook's does
        nxt = min(day + timedelta(days=1), fold.test_end)
        known = frauds[(frauds["event_time"] < day) & (frauds["fraud_known_at"] <= day)]
        compromised = set(known["entity"].dropna())
        that_day = (test["event_time"] >= day) & (test["event_time"] < nxt)
        keep &= ~(that_day & test["entity"].isin(compromised))
        removed |= compromised
        day = nxt
    test = test[keep]
    return FoldData(fold, train, y_train, test, ts.labels_at(None, test).astype(int),
                    removed_known_entities=len(removed))
