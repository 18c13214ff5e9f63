"""The standing population of the world: customers, devices, cards, IPs, merchants, circles, companies.

Everything is drawn once from the population seed stream as column arrays; string identifiers are
built once as Arrow arrays so the daily generators can ``take`` from them without Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from finrisk.simulate import catalog as cat
from finrisk.simulate.geo import CITY_LAT, CITY_LON, CITY_NAMES, CITY_WEIGHT
from finrisk.simulate.ids import id_numbers, ips, phones, prefixed

__all__ = ["Population", "build_population"]

IntArr = npt.NDArray[np.int64]
FloatArr = npt.NDArray[np.float64]

#: Six-digit administrative region code prefix per city (for ID numbers).
_REGION = np.array([310101, 110101, 440301, 440101, 510104, 500101, 330102, 420102, 610102, 120101,
                    320102, 320502, 410102, 430102, 210102, 370202, 441900, 530102, 210202, 350203,
                    340102, 350102, 230102, 370102, 450102, 650102, 620102, 520102, 140105, 460105])


@dataclass
class Population:
    """Column arrays describing every standing entity; index i is customer i."""

    n: int
    customer_id: pa.Array
    account_id: pa.Array
    name: pa.Array
    age: IntArr
    city: IntArr
    occupation: IntArr
    income_band: IntArr
    monthly_income: FloatArr
    phone: pa.Array
    phone_tenure_months: IntArr
    phone_home_city: IntArr
    id_number: pa.Array
    address: pa.Array
    home_lat: FloatArr
    home_lon: FloatArr
    join_day: IntArr
    login_rate: FloatArr
    pay_rate: FloatArr
    spend_level: FloatArr
    gamer: FloatArr
    local_spend: FloatArr
    game_spend: FloatArr
    media_days: IntArr
    past_overdue: IntArr
    company: IntArr
    device_start: IntArr
    n_devices: IntArr
    device_id: pa.Array
    card_start: IntArr
    n_cards: IntArr
    card_id: pa.Array
    ip_start: IntArr
    n_ips: IntArr
    ip: pa.Array
    circle_members: IntArr
    circle_pos: IntArr
    circle_start: IntArr
    circle_size: IntArr
    merchant_id: pa.Array
    merchant_category: IntArr
    merchant_city: IntArr
    merchant_group_start: IntArr
    merchant_group_size: IntArr
    company_id: pa.Array
    company_account: pa.Array
    company_payday: IntArr

    def customer_rows(self) -> pa.Table:
        """The reference table of customers (``reference/customers.parquet``)."""
        cities = pa.array(CITY_NAMES)
        first_card = np.asarray(self.card_start)
        first_device = np.asarray(self.device_start)
        return pa.table({
            "customer_id": self.customer_id,
            "account_id": self.account_id,
            "name": self.name,
            "age": self.age,
            "city": cities.take(pa.array(self.city)),
            "occupation": pa.array(cat.OCCUPATIONS).take(pa.array(self.occupation)),
            "income_band": pa.array(cat.INCOME_BANDS).take(pa.array(self.income_band)),
            "monthly_income": self.monthly_income,
            "phone": self.phone,
            "phone_tenure_months": self.phone_tenure_months,
            "phone_home_city": cities.take(pa.array(self.phone_home_city)),
            "id_number": self.id_number,
            "address": self.address,
            "home_lat": self.home_lat,
            "home_lon": self.home_lon,
            "join_day": self.join_day,
            "employer_id": _employer(self),
            "primary_device_id": self.device_id.take(pa.array(first_device)),
            "n_devices": self.n_devices,
            "primary_card_id": self.card_id.take(pa.array(first_card)),
            "n_cards": self.n_cards,
            "circle_id": pa.array(self.circle_of_customer()),
        })

    def circle_of_customer(self) -> IntArr:
        """Circle index per customer."""
        owner = np.repeat(np.arange(len(self.circle_start)), self.circle_size)
        out = np.empty(self.n, dtype=np.int64)
        out[self.circle_members] = owner
        return out

    def merchant_rows(self) -> pa.Table:
        return pa.table({
            "merchant_id": self.merchant_id,
            "category": pa.array(cat.CATEGORIES).take(pa.array(self.merchant_category)),
            "city": pa.array(CITY_NAMES).take(pa.array(self.merchant_city)),
            "lat": CITY_LAT[self.merchant_city],
            "lon": CITY_LON[self.merchant_city],
        })


def _employer(pop: Population) -> pa.Array:
    """Employer id per customer, null for the unemployed."""
    idx = pa.array(pop.company, mask=pop.company < 0)
    return pop.company_id.take(idx)


def _counts(rng: np.random.Generator, n: int, choices: IntArr, p: list[float]) -> tuple[IntArr, IntArr]:
    k = rng.choice(choices, size=n, p=p).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    return start, k


def build_population(
    rng: np.random.Generator, *, customers: int, days: int, new_customer_share: float, activity: float
) -> Population:
    """Draw the standing population (deterministic for a given generator state)."""
    n = customers
    ncity = len(CITY_NAMES)
    city = rng.choice(ncity, size=n, p=CITY_WEIGHT).astype(np.int64)
    age = np.clip(rng.normal(38, 12, n).round(), 18, 80).astype(np.int64)
    occupation = rng.integers(0, len(cat.OCCUPATIONS), n)
    occupation[age >= 62] = cat.OCCUPATIONS.index("retired")
    occupation[age <= 22] = np.where(rng.random((age <= 22).sum()) < 0.7, cat.OCCUPATIONS.index("student"),
                                     occupation[age <= 22])
    income_band = rng.choice(5, size=n, p=[0.22, 0.28, 0.27, 0.15, 0.08]).astype(np.int64)
    monthly_income = np.round(cat.INCOME_MONTHLY[income_band] * rng.lognormal(0, 0.25, n), 2)
    # Phone numbers: most were issued in the home city; tenure is long-tailed (months).
    phone_home_city = np.where(rng.random(n) < 0.9, city, rng.choice(ncity, size=n, p=CITY_WEIGHT))
    tenure = np.minimum(rng.gamma(1.6, 30.0, n).astype(np.int64), (age - 14) * 12)
    region = _REGION[city] + 0
    birth_year = 2026 - age
    id_number = id_numbers(rng, region.astype(np.int64), birth_year.astype(np.int64))
    sur = rng.integers(0, len(cat.SURNAMES), n)
    given = rng.integers(0, len(cat.GIVEN_NAMES), n)
    given2 = rng.integers(-8, len(cat.GIVEN_NAMES), n)
    names = [
        f"{cat.SURNAMES[s]} {cat.GIVEN_NAMES[g]}{cat.GIVEN_NAMES[h].lower() if h >= 0 else ''}"
        for s, g, h in zip(sur.tolist(), given.tolist(), given2.tolist(), strict=True)
    ]
    street = rng.integers(0, len(cat.STREETS), n)
    house = rng.integers(1, 999, n)
    flat = rng.integers(101, 2800, n)
    address = [
        f"Room {f}, No. {h} {cat.STREETS[s]} Road, {CITY_NAMES[c]}"
        for f, h, s, c in zip(flat.tolist(), house.tolist(), street.tolist(), city.tolist(), strict=True)
    ]
    home_lat = CITY_LAT[city] + rng.normal(0, 0.05, n)
    home_lon = CITY_LON[city] + rng.normal(0, 0.05, n)
    join_day = np.where(rng.random(n) < new_customer_share, rng.integers(0, max(days, 1), n), -1)
    # Behavioural traits: these drive both the daily events and the loan signals.
    spend_level = rng.lognormal(0, 0.35, n) * (0.6 + 0.15 * income_band)
    gamer = np.where(rng.random(n) < np.clip(0.35 - 0.004 * (age - 18), 0.03, 0.4), rng.uniform(0.1, 0.6, n), 0.0)
    local_spend = np.round(1400 * spend_level * rng.lognormal(0, 0.2, n), 2)
    game_raw = np.where(gamer > 0, rng.lognormal(5.0, 1.0, n) * gamer * 3, 0.0)
    game_spend = np.asarray(np.round(game_raw, 2), dtype=np.float64)
    media_days = np.clip(rng.poisson(np.where(rng.random(n) < 0.3, 12, 2)), 0, 30).astype(np.int64)
    past_overdue = rng.poisson(0.3, n).astype(np.int64)
    login_rate = rng.gamma(2.0, 0.75, n) * activity
    pay_rate = rng.gamma(2.0, 0.7, n) * spend_level * activity
    # Devices, cards, usual IPs.
    device_start, n_devices = _counts(rng, n, np.array([1, 2, 3]), [0.6, 0.3, 0.1])
    card_start, n_cards = _counts(rng, n, np.array([1, 2]), [0.7, 0.3])
    ip_start, n_ips = _counts(rng, n, np.array([1, 2, 3]), [0.4, 0.4, 0.2])
    # Social circles: a permutation cut into groups of 3..8.
    perm = rng.permutation(n).astype(np.int64)
    sizes = rng.integers(3, 9, n // 3 + 2)
    ends = np.cumsum(sizes)
    k = int(np.searchsorted(ends, n)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(ends[k - 1] - n)
    sizes = sizes[sizes > 0]
    circle_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    circle_pos = np.empty(n, dtype=np.int64)
    circle_pos[perm] = np.arange(n)
    # Companies pay salaries to employed customers.
    ncomp = max(5, n // 150)
    company_payday = rng.choice(np.array([1, 5, 10, 15, 20, 25]), ncomp).astype(np.int64)
    employed = ~np.isin(occupation, [cat.OCCUPATIONS.index("student"), cat.OCCUPATIONS.index("retired")])
    company = np.where(employed & (rng.random(n) < 0.85), rng.integers(0, ncomp, n), -1).astype(np.int64)
    # Merchants: every (category, city) group holds at least one.
    ncat = len(cat.CATEGORIES)
    ngroups = ncat * ncity
    per_group = 1 + rng.poisson(max(n / 40 / ngroups, 0.2), ngroups)
    m_group = np.repeat(np.arange(ngroups), per_group)
    group_start = np.concatenate([[0], np.cumsum(per_group)[:-1]]).astype(np.int64)
    nm = int(per_group.sum())
    return Population(
        n=n,
        customer_id=prefixed("C", np.arange(n), 8),
        account_id=prefixed("A", np.arange(n), 9),
        name=pa.array(names),
        age=age,
        city=city,
        occupation=occupation.astype(np.int64),
        income_band=income_band,
        monthly_income=monthly_income,
        phone=pa.array(phones(rng, n)),
        phone_tenure_months=np.maximum(tenure, 0),
        phone_home_city=phone_home_city.astype(np.int64),
        id_number=pa.array(id_number),
        address=pa.array(address),
        home_lat=home_lat,
        home_lon=home_lon,
        join_day=join_day.astype(np.int64),
        login_rate=login_rate,
        pay_rate=pay_rate,
        spend_level=spend_level,
        gamer=gamer,
        local_spend=local_spend,
        game_spend=game_spend,
        media_days=media_days,
        past_overdue=past_overdue,
        company=company,
        device_start=device_start,
        n_devices=n_devices,
        device_id=prefixed("D", np.arange(int(n_devices.sum())), 9),
        card_start=card_start,
        n_cards=n_cards,
        card_id=prefixed("K", np.arange(int(n_cards.sum())), 9),
        ip_start=ip_start,
        n_ips=n_ips,
        ip=pa.array(ips(rng, int(n_ips.sum()))),
        circle_members=perm,
        circle_pos=circle_pos,
        circle_start=circle_start,
        circle_size=sizes.astype(np.int64),
        merchant_id=prefixed("M", np.arange(nm), 7),
        merchant_category=(m_group // ncity).astype(np.int64),
        merchant_city=(m_group % ncity).astype(np.int64),
        merchant_group_start=group_start,
        merchant_group_size=per_group.astype(np.int64),
        company_id=prefixed("CO", np.arange(ncomp), 6),
        company_account=prefixed("AC", np.arange(ncomp), 8),
        company_payday=company_payday,
    )
