"""Our own implementation of the card-transaction simulator published with the open handbook
"Reproducible Machine Learning for Credit Card Fraud Detection" (Le Borgne et al., chapter 3).

Written from the handbook's description (not its code) so the loader, features and protocol can
be tested here on data with the same layout and the same generative rules:

- customers at uniform (x, y) in a 100 x 100 square, mean amount U(5, 100) (std = mean / 2),
  U(0, 4) transactions a day (Poisson); terminals at uniform (x, y); a customer uses the
  terminals within ``radius`` of home, uniformly;
- a transaction's second of the day is N(43200, 20000) (dropped outside the day); its amount is
  N(mean, std), redrawn U(0, 2 mean) when negative, rounded to cents;
- fraud scenario 1: every amount above 220; scenario 2: each day two terminals are compromised for
  28 days (all their transactions are fraud); scenario 3: each day three customers are compromised
  for 14 days, a third of their transactions then have the amount multiplied by 5 and are fraud.

The published data set is ``HandbookConfig()`` (5,000 customers, 10,000 terminals, 183 days from
2018-04-01: about 1.75 M transactions). Our random streams differ from the original's (we draw
vectorised with one numpy Generator), so figures match the published ones in distribution, not
row by row. :func:`write_handbook` writes the handbook's layout: one pickle per day
(``YYYY-MM-DD.pkl``) or CSV, columns :data:`HANDBOOK_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from finrisk.errors import SimulationConfigError

__all__ = ["HANDBOOK_COLUMNS", "HandbookConfig", "generate_handbook", "write_handbook"]

#: Columns of the handbook's transaction files, in their order.
HANDBOOK_COLUMNS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_TIME_SECONDS",
                    "TX_TIME_DAYS", "TX_FRAUD", "TX_FRAUD_SCENARIO")
_DAY_S = 86_400


@dataclass(frozen=True)
class HandbookConfig:
    """The simulator's parameters; the defaults are the published data set's."""

    customers: int = 5000
    terminals: int = 10000
    days: int = 183
    start: date = date(2018, 4, 1)
    radius: float = 5.0
    seed: int = 0
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14

    def __post_init__(self) -> None:
        for name in ("customers", "terminals", "days"):
            if getattr(self, name) < 1:
                raise SimulationConfigError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
        if self.radius <= 0:
            raise SimulationConfigError(f"radius: expected a number > 0, got {self.radius}")


def generate_handbook(config: HandbookConfig = HandbookConfig()) -> pd.DataFrame:  # noqa: B008 (frozen)
    """Every transaction of the simulated period, fraud labelled, in the handbook's columns."""
    rng = np.random.default_rng(config.seed)
    c, t = config.customers, config.terminals
    home = rng.uniform(0, 100, (c, 2))
    mean_amount = rng.uniform(5, 100, c)
    per_day = rng.uniform(0, 4, c)
    sites = rng.uniform(0, 100, (t, 2))
    near = cKDTree(sites).query_ball_point(home, r=config.radius)
    n_near = np.array([len(n) for n in near], dtype=np.int64)
    offsets = np.r_[0, np.cumsum(n_near)]
    flat = np.fromiter((i for n in near for i in sorted(n)), dtype=np.int64, count=int(offsets[-1]))

    counts = rng.poisson(np.repeat(per_day, config.days).reshape(c, config.days))
    cust = np.repeat(np.repeat(np.arange(c), config.days), counts.ravel())
    day = np.repeat(np.tile(np.arange(config.days), c), counts.ravel())
    second = rng.normal(_DAY_S / 2, 20_000, len(cust)).astype(np.int64)
    amount = rng.normal(mean_amount[cust], mean_amount[cust] / 2)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean_amount[cust[negative]])
    pick = rng.random(len(cust))
    keep = (second > 0) & (second < _DAY_S) & (n_near[cust] > 0)
    cust, day, second, amount, pick = cust[keep], day[keep], second[keep], amount[keep], pick[keep]
    terminal = flat[offsets[cust] + (pick * n_near[cust]).astype(np.int64)]
    seconds = second + day * _DAY_S
    order = np.lexsort((cust, seconds))
    frame = pd.DataFrame({
        "TRANSACTION_ID": np.arange(len(order), dtype=np.int64),
        "TX_DATETIME": pd.Timestamp(config.start) + pd.to_timedelta(seconds[order], unit="s"),
        "CUSTOMER_ID": cust[order], "TERMINAL_ID": terminal[order],
        "TX_AMOUNT": np.round(amount[order], 2), "TX_TIME_SECONDS": seconds[order], "TX_TIME_DAYS": day[order],
    })
    _add_frauds(frame, config, rng)
    return frame


def _add_frauds(frame: pd.DataFrame, config: HandbookConfig, rng: np.random.Generator) -> None:
    """The three scenarios, applied in order (a later one overwrites the scenario of an earlier one)."""
    amount = frame["TX_AMOUNT"].to_numpy().copy()
    day = frame["TX_TIME_DAYS"].to_numpy()
    fraud = np.zeros(len(frame), dtype=np.int64)
    scenario = np.zeros(len(frame), dtype=np.int64)
    big = amount > 220
    fraud[big], scenario[big] = 1, 1
    # scenario 2: terminal x day table of compromise
    compromised = np.zeros((config.terminals, config.days + config.terminal_compromise_days), dtype=bool)
    for d in range(config.days):
        chosen = rng.choice(config.terminals, size=min(config.compromised_terminals_per_day, config.terminals),
                            replace=False)
        compromised[chosen[:, None], d + np.arange(config.terminal_compromise_days)] = True
    hit = compromised[frame["TERMINAL_ID"].to_numpy(), day]
    fraud[hit], scenario[hit] = 1, 2
    # scenario 3: a third of a compromised customer's transactions in the next 14 days, amount x 5
    cust = frame["CUSTOMER_ID"].to_numpy()
    by_customer = np.argsort(cust, kind="stable")
    bounds = np.searchsorted(cust[by_customer], np.arange(config.customers + 1))
    for d in range(config.days):
        chosen = rng.choice(config.customers, size=min(config.compromised_customers_per_day, config.customers),
                            replace=False)
        rows = np.concatenate([by_customer[bounds[k]:bounds[k + 1]] for k in chosen])
        rows = rows[(day[rows] >= d) & (day[rows] < d + config.customer_compromise_days)]
        victims = rng.choice(rows, size=len(rows) // 3, replace=False) if len(rows) else rows
        amount[victims] = amount[victims] * 5
        fraud[victims], scenario[victims] = 1, 3
    frame["TX_AMOUNT"] = np.round(amount, 2)
    frame["TX_FRAUD"] = fraud
    frame["TX_FRAUD_SCENARIO"] = scenario


def write_handbook(frame: pd.DataFrame, out_dir: Path, *, fmt: Literal["pkl", "csv"] = "pkl",
                   start: date | None = None) -> list[Path]:
    """The handbook's layout: ``YYYY-MM-DD.pkl`` per day, or ``YYYY-MM-DD.csv`` per day with ``fmt='csv'``."""
    if fmt not in ("pkl", "csv"):
        raise SimulationConfigError(f"fmt: expected pkl or csv, got {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    first = start or frame["TX_DATETIME"].min().date()
    written = []
    for _, rows in frame.groupby("TX_TIME_DAYS", sort=True):
        path = out_dir / f"{first + timedelta(days=int(rows['TX_TIME_DAYS'].iloc[0]))}.{fmt}"
        part = rows[list(HANDBOOK_COLUMNS)].reset_index(drop=True)
        if fmt == "pkl":
            part.to_pickle(path)
        else:
            part.to_csv(path, index=False)
        written.append(path)
    return written
