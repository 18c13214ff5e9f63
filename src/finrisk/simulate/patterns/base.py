"""What a pattern injector gets to work with: the population, a private generator and emitters.

A pattern instance draws everything from its own generator (spawned from the world seed by
pattern and instance number), so the injected events do not depend on how days are chunked.
Injected rows carry ``label_is_fraud``/``label_pattern``/``label_group`` and every entity the
instance involves is recorded with its role in ``entity_labels``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finrisk.simulate import catalog as cat
from finrisk.simulate.behaviour import DAY_US, HOUR_US
from finrisk.simulate.geo import CITY_LAT, CITY_LON, CITY_NAMES, CITY_WEIGHT, haversine_km
from finrisk.simulate.ids import id_numbers, ips, phones
from finrisk.simulate.population import Population

__all__ = ["Counters", "PatternContext"]

Row = dict[str, Any]


@dataclass
class Counters:
    """Next free number per identifier family (patterns allocate first, bulk generation continues)."""

    customer: int
    device: int
    card: int
    loan: int = 0
    policy: int = 0
    claim: int = 0

    def take(self, family: str) -> int:
        value: int = getattr(self, family)
        setattr(self, family, value + 1)
        return value


@dataclass
class PatternContext:
    """Shared state for injecting one world's patterns; ``begin`` switches to a new instance."""

    pop: Population
    window_start: int
    days: int
    counters: Counters
    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    entities: list[Row] = field(default_factory=list)
    customers: list[Row] = field(default_factory=list)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    pattern: str = ""
    group: str = ""
    _used: set[int] = field(default_factory=set)

    def begin(self, pattern: str, group: str, rng: np.random.Generator) -> None:
        self.pattern, self.group, self.rng = pattern, group, rng

    # -- time and place -------------------------------------------------------------------------
    @property
    def window_end(self) -> int:
        return self.window_start + self.days * DAY_US

    def start_time(self, span_days: float) -> int:
        """A random instant such that ``span_days`` more still fit inside the window."""
        room = max(self.days * DAY_US - int(span_days * DAY_US) - HOUR_US, 2)
        lead = min(DAY_US, room // 2)
        return self.window_start + lead + int(self.rng.integers(0, room - lead))

    def before(self, t: int) -> int:
        """A random instant between the window start and ``t`` (for accounts opened ahead of use)."""
        return t - int(self.rng.uniform(0.05, 0.95) * (t - self.window_start))

    def point(self, city: int, sd: float = 0.03) -> tuple[float, float]:
        return (round(float(CITY_LAT[city] + self.rng.normal(0, sd)), 5),
                round(float(CITY_LON[city] + self.rng.normal(0, sd)), 5))

    def other_city(self, city: int, *, min_km: float = 0.0) -> int:
        far = np.flatnonzero(haversine_km(CITY_LAT[city], CITY_LON[city], CITY_LAT, CITY_LON) > max(min_km, 1.0))
        p = CITY_WEIGHT[far] / CITY_WEIGHT[far].sum()
        return int(self.rng.choice(far, p=p))

    # -- entities -------------------------------------------------------------------------------
    def pick_customer(self) -> int:
        """A pre-existing customer not yet used by any pattern instance."""
        pop = self.pop
        for _ in range(1000):
            c = int(self.rng.integers(0, pop.n))
            if pop.join_day[c] < 0 and c not in self._used:
                self._used.add(c)
                return c
        return int(self.rng.integers(0, pop.n))

    def cust(self, c: int) -> Row:
        """Plain-Python view of standing customer ``c``."""
        p = self.pop
        return {
            "customer_id": p.customer_id[c].as_py(), "account_id": p.account_id[c].as_py(),
            "phone": p.phone[c].as_py(), "city_idx": int(p.city[c]), "city": CITY_NAMES[int(p.city[c])],
            "device_id": p.device_id[int(p.device_start[c])].as_py(),
            "card_id": p.card_id[int(p.card_start[c])].as_py(), "ip": p.ip[int(p.ip_start[c])].as_py(),
            "id_number": p.id_number[c].as_py(), "address": p.address[c].as_py(), "age": int(p.age[c]),
            "income_band": cat.INCOME_BANDS[int(p.income_band[c])],
            "phone_home_city": CITY_NAMES[int(p.phone_home_city[c])],
            "phone_tenure_months": int(p.phone_tenure_months[c]),
        }

    def new_device(self) -> str:
        return f"D{self.counters.take('device'):09d}"

    def new_card(self) -> str:
        return f"K{self.counters.take('card'):09d}"

    def new_ip(self) -> str:
        return ips(self.rng, 1)[0]

    def new_phone(self) -> str:
        return phones(self.rng, 1)[0]

    def new_account(self, role: str, *, at: int, city: int | None = None, device_id: str | None = None,
                    ip: str | None = None, phone: str | None = None, address: str | None = None,
                    promo_code: str | None = None, phone_home_city: int | None = None,
                    tenure: int | None = None, register: bool = True) -> Row:
        """A customer + account created by the pattern (registered at ``at`` unless told otherwise)."""
        rng = self.rng
        n = self.counters.take("customer")
        city = int(rng.choice(len(CITY_NAMES), p=CITY_WEIGHT)) if city is None else city
        age = int(rng.integers(19, 45))
        region = np.array([110101 + 1000 * city], dtype=np.int64)
        row: Row = {
            "customer_id": f"C{n:08d}", "account_id": f"A{n:09d}", "city_idx": city, "city": CITY_NAMES[city],
            "phone": phone or self.new_phone(), "device_id": device_id or self.new_device(),
            "card_id": self.new_card(), "ip": ip or self.new_ip(),
            "id_number": id_numbers(rng, region, np.array([2026 - age], dtype=np.int64))[0],
            "address": address or f"Room {rng.integers(101, 2800)}, No. {rng.integers(1, 999)} "
                                  f"{cat.STREETS[int(rng.integers(0, len(cat.STREETS)))]} Road, {CITY_NAMES[city]}",
            "age": age, "income_band": str(rng.choice(["low", "lower_middle"])),
            "phone_home_city": CITY_NAMES[city if phone_home_city is None else phone_home_city],
            "phone_tenure_months": int(rng.integers(0, 4)) if tenure is None else tenure,
            "name": f"{cat.SURNAMES[int(rng.integers(0, len(cat.SURNAMES)))]} "
                    f"{cat.GIVEN_NAMES[int(rng.integers(0, len(cat.GIVEN_NAMES)))]}",
            "occupation": str(rng.choice(["self_employed", "delivery_rider", "student", "factory_worker"])),
        }
        lat, lon = self.point(city, 0.05)
        self.customers.append({
            "customer_id": row["customer_id"], "account_id": row["account_id"], "name": row["name"], "age": age,
            "city": row["city"], "occupation": row["occupation"], "income_band": row["income_band"],
            "phone": row["phone"], "phone_tenure_months": row["phone_tenure_months"],
            "phone_home_city": row["phone_home_city"], "id_number": row["id_number"], "address": row["address"],
            "home_lat": lat, "home_lon": lon, "join_day": int((at - self.window_start) // DAY_US),
            "primary_device_id": row["device_id"], "n_devices": 1, "primary_card_id": row["card_id"], "n_cards": 1,
        })
        self.label("customer", row["customer_id"], role)
        self.label("account", row["account_id"], role)
        if register:
            self.emit("registration", at, customer_id=row["customer_id"], account_id=row["account_id"],
                      device_id=row["device_id"], phone=row["phone"], ip=row["ip"], ip_city=row["city"],
                      id_number=row["id_number"], name=row["name"], address=row["address"], city=row["city"],
                      age=age, occupation=row["occupation"], income_band=row["income_band"],
                      phone_home_city=row["phone_home_city"], phone_tenure_months=row["phone_tenure_months"],
                      channel="app", promo_code=promo_code)
        return row

    # -- output ---------------------------------------------------------------------------------
    def emit(self, event_type: str, at: int, *, fraud: bool = True, **fields: Any) -> None:
        """Record one labelled event at ``at`` (µs since the epoch); ``None`` fields stay null."""
        row = {k: v for k, v in fields.items() if v is not None}
        row.update(event_time=int(at), label_is_fraud=fraud, label_pattern=self.pattern, label_group=self.group)
        self.rows[event_type].append(row)

    def label(self, entity_type: str, entity_id: str, role: str) -> None:
        self.entities.append({"entity_type": entity_type, "entity_id": entity_id, "pattern": self.pattern,
                              "group_id": self.group, "role": role})

    # -- shortcuts used by several patterns ----------------------------------------------------
    def merchant(self, category: str, city: int) -> str:
        """A merchant id of ``category`` in ``city``."""
        pop = self.pop
        g = cat.category_index(category) * len(CITY_NAMES) + city
        k = int(pop.merchant_group_start[g] + self.rng.integers(0, pop.merchant_group_size[g]))
        return str(pop.merchant_id[k].as_py())

    def transfer(self, at: int, src: Row, dst: Row, amount: float, **extra: Any) -> None:
        """A labelled account-to-account transfer from ``src`` to ``dst``."""
        city = extra.pop("city_idx", src["city_idx"])
        lat, lon = self.point(city)
        fields: dict[str, Any] = {"device_id": src.get("device_id"), "ip": src.get("ip")}
        fields.update(extra)
        self.emit("transaction", at, txn_type="transfer", customer_id=src["customer_id"],
                  account_id=src["account_id"], counterparty_account=dst["account_id"],
                  counterparty_customer_id=dst["customer_id"], amount=round(float(amount), 2), currency="CNY",
                  channel="app", city=CITY_NAMES[city], lat=lat, lon=lon, status="success", **fields)

    def withdraw(self, at: int, who: Row, amount: float) -> None:
        """A labelled ATM cash-out by ``who``."""
        lat, lon = self.point(who["city_idx"])
        self.emit("transaction", at, txn_type="withdrawal", customer_id=who["customer_id"],
                  account_id=who["account_id"], card_id=who["card_id"], amount=round(float(amount), 2),
                  currency="CNY", channel="atm", city=who["city"], lat=lat, lon=lon, status="success")

    def minutes(self, lo: float, hi: float) -> int:
        """A random gap in µs between ``lo`` and ``hi`` minutes."""
        return int(self.rng.uniform(lo, hi) * 60_000_000)
