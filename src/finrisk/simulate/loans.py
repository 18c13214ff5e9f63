"""Loan applications with credit signals, a documented default model, and repayments.

Default model (the documented truth the tests check)
----------------------------------------------------
Each loan defaults with probability ``sigmoid(z)`` where::

    z = -2.35
        - 0.25 * (phone_tenure_months / 12)              # longer phone tenure   -> lower default
        - 0.60 * log(1 + monthly_local_spend / 1000)      # more local-life spend -> lower
        + 0.45 * log(1 + monthly_game_spend / 100)        # more online-game spend -> higher
        - 0.05 * finance_media_days_30d                   # reads financial media -> lower
        + 0.30 * log(1 + home_distance_km)                # far from home          -> higher
        + 0.55 * past_overdue_count                       # past overdue           -> higher

The signs follow PRODUCT.md section C; the intercept gives a base default rate of about 7%.
Loans injected by the ``fraud_ring`` and ``loan_fraud`` patterns default with probability 0.85.

Repayments: loans from the year before the window (the back book, in
``reference/back_book_loans.parquet``) and from inside it repay monthly; instalment k of a
loan falls due ``30 * k`` days after the application, and instalments due inside the window
produce a ``repayment`` event. Good borrowers mostly pay in full before the due time (a few
pay 1-5 days late); defaulters pay nothing or part, 1-30 days overdue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from finrisk.simulate.behaviour import DAY_US, HOUR_US, event_times, pick
from finrisk.simulate.frames import from_columns
from finrisk.simulate.geo import CITY_LAT, CITY_LON, CITY_NAMES, CITY_WEIGHT, haversine_km
from finrisk.simulate.ids import prefixed
from finrisk.simulate.population import Population

__all__ = ["COEFFICIENTS", "INTERCEPT", "LoanBatch", "default_probability", "loan_features", "loan_applications",
           "repayments"]

IntArr = npt.NDArray[np.int64]
FloatArr = npt.NDArray[np.float64]

INTERCEPT = -2.35
#: Coefficient per transformed signal (see the module docstring).
COEFFICIENTS: dict[str, float] = {
    "phone_tenure_years": -0.25,
    "log_local_spend": -0.60,
    "log_game_spend": 0.45,
    "finance_media_days_30d": -0.05,
    "log_home_distance": 0.30,
    "past_overdue_count": 0.55,
}
_PRODUCTS = ("consumer", "cash", "rental_deposit_waiver", "car")
_PRODUCT_MU = np.array([8.5, 9.0, 8.3, 11.3])
_TERMS = np.array([3, 6, 12, 24, 36])


def loan_features(
    *, phone_tenure_months: npt.ArrayLike, monthly_local_spend: npt.ArrayLike, monthly_game_spend: npt.ArrayLike,
    finance_media_days_30d: npt.ArrayLike, home_distance_km: npt.ArrayLike, past_overdue_count: npt.ArrayLike,
) -> dict[str, FloatArr]:
    """The transformed signals the default model is linear in."""
    return {
        "phone_tenure_years": np.asarray(phone_tenure_months, dtype=np.float64) / 12.0,
        "log_local_spend": np.log1p(np.asarray(monthly_local_spend, dtype=np.float64) / 1000.0),
        "log_game_spend": np.log1p(np.asarray(monthly_game_spend, dtype=np.float64) / 100.0),
        "finance_media_days_30d": np.asarray(finance_media_days_30d, dtype=np.float64),
        "log_home_distance": np.log1p(np.asarray(home_distance_km, dtype=np.float64)),
        "past_overdue_count": np.asarray(past_overdue_count, dtype=np.float64),
    }


def default_probability(features: dict[str, FloatArr]) -> FloatArr:
    """``sigmoid(INTERCEPT + sum(COEFFICIENTS[k] * features[k]))``.

    Examples
    --------
    >>> f = loan_features(phone_tenure_months=[120], monthly_local_spend=[3000], monthly_game_spend=[0],
    ...                   finance_media_days_30d=[20], home_distance_km=[1], past_overdue_count=[0])
    >>> bool(default_probability(f)[0] < 0.02)
    True
    """
    z = np.full(len(next(iter(features.values()))), INTERCEPT)
    for name, coef in COEFFICIENTS.items():
        z = z + coef * features[name]
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


@dataclass
class LoanBatch:
    """One day's applications plus what repayments need to know about them."""

    table: pa.Table
    times: IntArr
    amount: FloatArr
    term: IntArr
    default: npt.NDArray[np.bool_]
    customer: IntArr
    loan_id: pa.Array


def loan_applications(pop: Population, rng: np.random.Generator, applicants: IntArr, *, day_start: int,
                      first_loan: int, spread_days: int = 1) -> LoanBatch:
    """Applications of ``applicants`` (customer indices) on one day, with ``label_default`` drawn.

    ``spread_days`` > 1 spreads them over that many days from ``day_start`` (the back book).
    """
    c = applicants
    n = len(c)
    away = rng.random(n) < 0.2
    where = np.where(away, rng.choice(len(CITY_NAMES), n, p=CITY_WEIGHT), pop.city[c])
    lat = np.where(away, CITY_LAT[where] + rng.normal(0, 0.05, n), pop.home_lat[c] + rng.normal(0, 0.02, n))
    lon = np.where(away, CITY_LON[where] + rng.normal(0, 0.05, n), pop.home_lon[c] + rng.normal(0, 0.02, n))
    lat, lon = np.round(lat, 5), np.round(lon, 5)
    distance = np.round(haversine_km(lat, lon, pop.home_lat[c], pop.home_lon[c]), 3)
    local = np.round(pop.local_spend[c] * rng.lognormal(0, 0.1, n), 2)
    game = np.round(pop.game_spend[c], 2)
    media = np.clip(pop.media_days[c] + rng.integers(-1, 2, n), 0, 30)
    tenure = pop.phone_tenure_months[c]
    overdue = pop.past_overdue[c]
    p = default_probability(loan_features(
        phone_tenure_months=tenure, monthly_local_spend=local, monthly_game_spend=game,
        finance_media_days_30d=media, home_distance_km=distance, past_overdue_count=overdue))
    default = rng.random(n) < p
    product = rng.choice(len(_PRODUCTS), n, p=[0.45, 0.35, 0.1, 0.1])
    amount = np.round(rng.lognormal(_PRODUCT_MU[product], 0.6) / 100) * 100 + 100
    term = rng.choice(_TERMS, n, p=[0.15, 0.25, 0.35, 0.15, 0.1])
    times = event_times(rng, n, day_start) + rng.integers(0, spread_days, n) * DAY_US
    loan_id = prefixed("L", np.arange(first_loan, first_loan + n), 8)
    cities = pa.array(CITY_NAMES)
    table = from_columns("loan_application", n, {
        "event_time": times, "loan_id": loan_id,
        "customer_id": pop.customer_id.take(pa.array(c)), "account_id": pop.account_id.take(pa.array(c)),
        "device_id": pop.device_id.take(pa.array(pick(rng, pop.device_start[c], pop.n_devices[c]))),
        "phone": pop.phone.take(pa.array(c)),
        "ip": pop.ip.take(pa.array(pick(rng, pop.ip_start[c], pop.n_ips[c]))),
        "ip_city": cities.take(pa.array(where)), "id_number": pop.id_number.take(pa.array(c)),
        "address": pop.address.take(pa.array(c)),
        "employer_id": pop.company_id.take(pa.array(pop.company[c], mask=pop.company[c] < 0)),
        "city": cities.take(pa.array(pop.city[c])), "lat": lat, "lon": lon,
        "product": pa.array(list(_PRODUCTS)).take(pa.array(product)), "amount": amount, "term_months": term,
        "income_band": pa.array(["low", "lower_middle", "middle", "upper_middle", "high"]).take(
            pa.array(pop.income_band[c])),
        "phone_home_city": cities.take(pa.array(pop.phone_home_city[c])), "phone_tenure_months": tenure,
        "monthly_local_spend": local, "monthly_game_spend": game, "finance_media_days_30d": media,
        "home_distance_km": distance, "past_overdue_count": overdue, "label_default": default,
    })
    return LoanBatch(table, times, amount, term, default, c, loan_id)


def repayments(rng: np.random.Generator, batch: LoanBatch, pop: Population, *, window_start: int,
               window_end: int) -> pa.Table | None:
    """Repayment events of instalments falling due inside the window (any future day)."""
    k_max = np.minimum(batch.term, 12)
    rows = np.repeat(np.arange(len(batch.times)), k_max)
    inst = np.concatenate([np.arange(1, k + 1) for k in k_max]) if len(rows) else np.zeros(0, np.int64)
    due = batch.times[rows] + inst * 30 * DAY_US
    keep = (due < window_end) & (due >= window_start + DAY_US)
    rows, inst, due = rows[keep], inst[keep], due[keep]
    n = len(rows)
    if n == 0:
        return None
    bad = batch.default[rows]
    amount_due = np.round(batch.amount[rows] * (1 + 0.012 * batch.term[rows]) / batch.term[rows], 2)
    late_good = rng.random(n) < 0.05
    overdue = np.where(bad, rng.integers(1, 31, n), np.where(late_good, rng.integers(1, 6, n), 0))
    paid = np.where(bad, np.round(amount_due * np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0.1, 0.6, n)), 2),
                    amount_due)
    when = np.where(overdue > 0, due + overdue * DAY_US + rng.integers(0, 8 * HOUR_US, n),
                    due - rng.integers(1, 24 * HOUR_US, n))
    over_end = when >= window_end
    when = np.where(over_end, window_end - 1, when)
    overdue = np.where(over_end, (when - due) // DAY_US, overdue)
    keep = ((overdue > 0) | ~bad) & (when >= window_start)
    c = batch.customer[rows]
    return from_columns("repayment", n, {
        "event_time": when, "loan_id": batch.loan_id.take(pa.array(rows)),
        "customer_id": pop.customer_id.take(pa.array(c)), "account_id": pop.account_id.take(pa.array(c)),
        "installment": inst, "due_time": due, "amount_due": amount_due, "amount_paid": paid,
        "days_overdue": overdue,
    }).filter(pa.array(keep))
