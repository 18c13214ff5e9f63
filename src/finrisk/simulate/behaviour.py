"""Everyday behaviour of the standing population, one day at a time, fully vectorised.

Per day: registrations of customers joining that day, logins from usual devices and IPs,
payments by merchant category (log-normal amounts, hour-of-day and weekday seasonality),
transfers inside social circles, cash withdrawals, salaries on the employer's payday and a few
profile updates. Every customer's count of each event is Poisson with a per-customer rate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from finrisk.simulate import catalog as cat
from finrisk.simulate.frames import from_columns
from finrisk.simulate.geo import CITY_LAT, CITY_LON, CITY_NAMES, CITY_WEIGHT
from finrisk.simulate.population import Population

__all__ = ["DAY_US", "HOUR_US", "daily_events", "event_times", "pick"]

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
_CITY = pa.array(CITY_NAMES)
_CATS = pa.array(cat.CATEGORIES)
_TRANSFER_RATE = 0.08
_WITHDRAW_RATE = 0.03
_UPDATE_RATE = 0.004
_CHANGED = ("phone", "address", "device", "email", "password", "bank_card")

IntArr = npt.NDArray[np.int64]


def event_times(
    rng: np.random.Generator, n: int, day_start: int, *, hours: npt.NDArray[np.float64] | None = None
) -> IntArr:
    """Microsecond times within a UTC day; local hour (UTC+8) follows the hour-of-day profile."""
    local_hour = rng.choice(24, size=n, p=cat.HOUR_WEIGHT if hours is None else hours)
    utc_hour = (local_hour - 8) % 24
    return day_start + utc_hour * HOUR_US + rng.integers(0, HOUR_US, n)


def pick(rng: np.random.Generator, start: IntArr, count: IntArr) -> IntArr:
    """One random index per row from the range [start, start + count)."""
    return start + (rng.random(len(start)) * count).astype(np.int64)


def _take(arr: pa.Array, idx: IntArr, mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    return arr.take(pa.array(idx, mask=mask))


def _rows(rng: np.random.Generator, rate: npt.NDArray[np.float64]) -> IntArr:
    return np.repeat(np.arange(len(rate), dtype=np.int64), rng.poisson(rate))


def daily_events(pop: Population, rng: np.random.Generator, *, day: int, day_start: int, weekday: int,
                 day_of_month: int) -> dict[str, list[pa.Table]]:
    """All everyday events of one day, as full-schema tables per event type (unsorted, unnumbered)."""
    active = (pop.join_day < day).astype(np.float64)
    out: dict[str, list[pa.Table]] = {}
    joiners = np.flatnonzero(pop.join_day == day)
    if len(joiners):
        out["registration"] = [_registrations(pop, rng, joiners, day_start)]
    out["login"] = [_logins(pop, rng, _rows(rng, pop.login_rate * active), day_start)]
    tx = [_payments(pop, rng, _rows(rng, pop.pay_rate * active * cat.WEEKDAY_PAYMENT[weekday]), day_start),
          _transfers(pop, rng, _rows(rng, np.full(pop.n, _TRANSFER_RATE) * active), day_start),
          _withdrawals(pop, rng, _rows(rng, np.full(pop.n, _WITHDRAW_RATE) * active), day_start)]
    payday = pop.company >= 0
    payday[payday] = pop.company_payday[pop.company[payday]] == day_of_month
    earners = np.flatnonzero(payday & (active > 0))
    if len(earners):
        tx.append(_salaries(pop, rng, earners, day_start))
    out["transaction"] = tx
    updaters = _rows(rng, np.full(pop.n, _UPDATE_RATE) * active)
    if len(updaters):
        out["profile_update"] = [_updates(pop, rng, updaters, day_start)]
    return out


def _near(rng: np.random.Generator, city: IntArr, sd: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    n = len(city)
    return (np.round(CITY_LAT[city] + rng.normal(0, sd, n), 5), np.round(CITY_LON[city] + rng.normal(0, sd, n), 5))


def _registrations(pop: Population, rng: np.random.Generator, c: IntArr, day_start: int) -> pa.Table:
    n = len(c)
    promo = rng.random(n) < 0.2
    return from_columns("registration", n, {
        "event_time": event_times(rng, n, day_start),
        "customer_id": _take(pop.customer_id, c), "account_id": _take(pop.account_id, c),
        "device_id": _take(pop.device_id, pop.device_start[c]), "phone": _take(pop.phone, c),
        "ip": _take(pop.ip, pop.ip_start[c]), "ip_city": _take(_CITY, pop.city[c]),
        "id_number": _take(pop.id_number, c), "name": _take(pop.name, c), "address": _take(pop.address, c),
        "city": _take(_CITY, pop.city[c]), "age": pop.age[c],
        "occupation": _take(pa.array(cat.OCCUPATIONS), pop.occupation[c]),
        "income_band": _take(pa.array(cat.INCOME_BANDS), pop.income_band[c]),
        "phone_home_city": _take(_CITY, pop.phone_home_city[c]),
        "phone_tenure_months": pop.phone_tenure_months[c],
        "channel": _take(pa.array(["app", "web", "branch"]), rng.choice(3, n, p=[0.8, 0.15, 0.05])),
        "promo_code": pa.array(np.full(n, "WELCOME2026", dtype=object), mask=~promo, type=pa.string()),
    })


def _logins(pop: Population, rng: np.random.Generator, c: IntArr, day_start: int) -> pa.Table:
    n = len(c)
    lat, lon = _near(rng, pop.city[c])
    return from_columns("login", n, {
        "event_time": event_times(rng, n, day_start),
        "customer_id": _take(pop.customer_id, c), "account_id": _take(pop.account_id, c),
        "device_id": _take(pop.device_id, pick(rng, pop.device_start[c], pop.n_devices[c])),
        "ip": _take(pop.ip, pick(rng, pop.ip_start[c], pop.n_ips[c])),
        "ip_city": _take(_CITY, pop.city[c]), "lat": lat, "lon": lon,
        "success": rng.random(n) < 0.96,
        "method": _take(pa.array(["password", "sms_otp", "biometric", "qr"]),
                        rng.choice(4, n, p=[0.35, 0.25, 0.35, 0.05])),
    })


def _payments(pop: Population, rng: np.random.Generator, c: IntArr, day_start: int) -> pa.Table:
    n = len(c)
    ncity = len(CITY_NAMES)
    category = rng.choice(len(cat.CATEGORIES), n, p=cat.CAT_WEIGHT)
    category = np.where(rng.random(n) < pop.gamer[c] * 0.3, cat.category_index("online_game"), category)
    online = cat.CAT_ONLINE[category]
    travelling = rng.random(n) < 0.03
    where = np.where(travelling, rng.choice(ncity, n, p=CITY_WEIGHT), pop.city[c])
    m_city = np.where(online, rng.choice(ncity, n, p=CITY_WEIGHT), where)
    g = category * ncity + m_city
    merchant = pick(rng, pop.merchant_group_start[g], pop.merchant_group_size[g])
    amount = np.maximum(np.round(rng.lognormal(cat.CAT_MU[category], cat.CAT_SIGMA[category])
                                 * np.sqrt(pop.spend_level[c]), 2), 0.01)
    lat, lon = _near(rng, where)
    device = pick(rng, pop.device_start[c], pop.n_devices[c])
    ip = pick(rng, pop.ip_start[c], pop.n_ips[c])
    offline = ~online
    return from_columns("transaction", n, {
        "event_time": event_times(rng, n, day_start),
        "txn_type": "payment", "customer_id": _take(pop.customer_id, c), "account_id": _take(pop.account_id, c),
        "merchant_id": _take(pop.merchant_id, merchant), "merchant_category": _take(_CATS, category),
        "card_id": _take(pop.card_id, pick(rng, pop.card_start[c], pop.n_cards[c])),
        "amount": amount, "currency": "CNY",
        "channel": _take(pa.array(["pos", "app", "web"]), np.where(online, 1 + (rng.random(n) < 0.3), 0)),
        "device_id": _take(pop.device_id, device, offline), "ip": _take(pop.ip, ip, offline),
        "city": _take(_CITY, where), "lat": lat, "lon": lon,
        "status": _take(pa.array(["success", "failed"]), (rng.random(n) < 0.015).astype(np.int64)),
    })


def _transfers(pop: Population, rng: np.random.Generator, c: IntArr, day_start: int) -> pa.Table:
    n = len(c)
    pos = pop.circle_pos[c]
    circle = np.searchsorted(pop.circle_start, pos, side="right") - 1
    start, size = pop.circle_start[circle], pop.circle_size[circle]
    offset = 1 + (rng.random(n) * np.maximum(size - 1, 1)).astype(np.int64)
    other = pop.circle_members[start + (pos - start + offset) % np.maximum(size, 1)]
    lat, lon = _near(rng, pop.city[c])
    return from_columns("transaction", n, {
        "event_time": event_times(rng, n, day_start),
        "txn_type": "transfer", "customer_id": _take(pop.customer_id, c), "account_id": _take(pop.account_id, c),
        "counterparty_account": _take(pop.account_id, other),
        "counterparty_customer_id": _take(pop.customer_id, other),
        "amount": np.round(rng.lognormal(5.8, 1.0, n), 2), "currency": "CNY", "channel": "app",
        "device_id": _take(pop.device_id, pick(rng, pop.device_start[c], pop.n_devices[c])),
        "ip": _take(pop.ip, pick(rng, pop.ip_start[c], pop.n_ips[c])),
        "city": _take(_CITY, pop.city[c]), "lat": lat, "lon": lon, "status": "success",
    })


def _withdrawals(pop: Population, rng: np.random.Generator, c: IntArr, day_start: int) -> pa.Table:
    n = len(c)
    lat, lon = _near(rng, pop.city[c])
    return from_columns("transaction", n, {
        "event_time": event_times(rng, n, day_start),
        "txn_type": "withdrawal", "customer_id": _take(pop.customer_id, c), "account_id": _take(pop.account_id, c),
        "card_id": _take(pop.card_id, pick(rng, pop.card_start[c], pop.n_cards[c])),
        "amount": rng.integers(1, 30, n).astype(np.float64) * 100.0, "currency": "CNY", "channel": "atm",
        "city": _take(_CITY, pop.city[c]), "lat": lat, "lon": lon, "status": "success",
    })


def _salaries(pop: Population, rng: np.random.Generator, c: IntArr, day_start: int) -> pa.Table:
    n = len(c)
    hours = np.zeros(24)
    hours[[9, 10, 11]] = [0.5, 0.3, 0.2]
    comp = pop.company[c]
    return from_columns("transaction", n, {
        "event_time": event_times(rng, n, day_start, hours=hours),
        "txn_type": "salary", "account_id": _take(pop.company_account, comp),
        "counterparty_account": _take(pop.account_id, c), "counterparty_customer_id": _take(pop.customer_id, c),
        "company_id": _take(pop.company_id, comp), "amount": pop.monthly_income[c], "currency": "CNY",
        "channel": "bank", "status": "success",
    })


def _updates(pop: Population, rng: np.random.Generator, c: IntArr, day_start: int) -> pa.Table:
    n = len(c)
    field = rng.choice(len(_CHANGED), n, p=[0.15, 0.2, 0.15, 0.15, 0.3, 0.05])
    serial = rng.integers(0, 10**8, n)
    new_value = [
        {"phone": f"1{37 + s % 50}{s:08d}"[:11], "address": f"No. {s % 900 + 1} {cat.STREETS[s % 15]} Road",
         "email": f"user{s}@mail.example", "password": None,
         "device": f"D{s % 10**9:09d}", "bank_card": f"K{s % 10**9:09d}"}[_CHANGED[f]]
        for f, s in zip(field.tolist(), serial.tolist(), strict=True)
    ]
    return from_columns("profile_update", n, {
        "event_time": event_times(rng, n, day_start),
        "customer_id": _take(pop.customer_id, c), "account_id": _take(pop.account_id, c),
        "changed_field": _take(pa.array(list(_CHANGED)), field), "new_value": pa.array(new_value, type=pa.string()),
        "device_id": _take(pop.device_id, pick(rng, pop.device_start[c], pop.n_devices[c])),
        "ip": _take(pop.ip, pick(rng, pop.ip_start[c], pop.n_ips[c])), "ip_city": _take(_CITY, pop.city[c]),
        "channel": _take(pa.array(["app", "web", "branch"]), rng.choice(3, n, p=[0.8, 0.15, 0.05])),
    })
