"""Insurance policies bought by the population and the (legitimate) claims against them.

Claim fraud lives in ``patterns/claim_fraud.py``; here claims follow the product's yearly claim
rate, arrive days (freight) or any time in the policy year (the others) after the start and ask
for a moderate share of the sum insured. Policies bought in the year before the window (the back
book, ``reference/back_book_policies.parquet``) can claim inside it too.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from finrisk.simulate.behaviour import DAY_US, event_times, pick
from finrisk.simulate.frames import from_columns
from finrisk.simulate.geo import CITY_NAMES
from finrisk.simulate.ids import prefixed
from finrisk.simulate.population import Population

__all__ = ["CLAIM_TYPES", "PRODUCTS", "policies_and_claims"]

IntArr = npt.NDArray[np.int64]
PRODUCTS = ("freight", "motor", "health", "accident")
CLAIM_TYPES = ("lost_parcel", "collision", "hospitalisation", "injury")
_SHARE = np.array([0.5, 0.15, 0.2, 0.15])
_SUM_INSURED_MU = np.array([3.0, 11.5, 11.0, 11.8])  # log CNY
_RATE = np.array([0.012, 0.03, 0.02, 0.008])  # premium / sum insured
_CLAIM_P = np.array([0.06, 0.20, 0.15, 0.05])  # claims per policy year


def policies_and_claims(pop: Population, rng: np.random.Generator, buyers: IntArr, *, day_start: int,
                        first_policy: int, first_claim: int, window_start: int, window_end: int,
                        spread_days: int = 1) -> tuple[pa.Table, pa.Table | None]:
    """Policies bought by ``buyers`` (over ``spread_days`` from ``day_start``) and their claims in the window."""
    c = buyers
    n = len(c)
    product = rng.choice(len(PRODUCTS), n, p=_SHARE)
    raw = np.exp(_SUM_INSURED_MU[product] + rng.normal(0, 0.3, n))
    sum_insured = np.where(product > 0, np.round(raw, -2), np.round(raw)) + 10.0
    premium = np.round(np.maximum(sum_insured * _RATE[product] * rng.lognormal(0, 0.15, n), 0.5), 2)
    times = event_times(rng, n, day_start) + rng.integers(0, spread_days, n) * DAY_US
    policy_id = prefixed("P", np.arange(first_policy, first_policy + n), 8)
    motor = product == 1
    cities = pa.array(CITY_NAMES)
    policies = from_columns("insurance_policy", n, {
        "event_time": times, "policy_id": policy_id, "customer_id": pop.customer_id.take(pa.array(c)),
        "product": pa.array(list(PRODUCTS)).take(pa.array(product)), "premium": premium,
        "sum_insured": sum_insured, "insured_age": pop.age[c],
        "vehicle_age": pa.array(rng.integers(0, 15, n), mask=~motor),
        "device_id": pop.device_id.take(pa.array(pick(rng, pop.device_start[c], pop.n_devices[c]))),
        "ip": pop.ip.take(pa.array(pick(rng, pop.ip_start[c], pop.n_ips[c]))),
        "city": cities.take(pa.array(pop.city[c])),
    })
    delay_days = np.where(product == 0, rng.exponential(4.0, n), rng.uniform(0.0, 365.0, n))
    claims_at = times + (delay_days * DAY_US).astype(np.int64) + DAY_US // 2
    claimed = (rng.random(n) < _CLAIM_P[product]) & (claims_at < window_end) & (claims_at >= window_start)
    k = np.flatnonzero(claimed)
    if len(k) == 0:
        return policies, None
    ck = c[k]
    claims = from_columns("claim", len(k), {
        "event_time": claims_at[k], "claim_id": prefixed("CL", np.arange(first_claim, first_claim + len(k)), 8),
        "policy_id": policy_id.take(pa.array(k)), "customer_id": pop.customer_id.take(pa.array(ck)),
        "claim_type": pa.array(list(CLAIM_TYPES)).take(pa.array(product[k])),
        "amount": np.round(sum_insured[k] * rng.beta(1.5, 6.0, len(k)), 2),
        "days_since_policy_start": (claims_at[k] - times[k]) // DAY_US,
        "card_id": pop.card_id.take(pa.array(pop.card_start[ck])),
        "device_id": pop.device_id.take(pa.array(pop.device_start[ck])), "phone": pop.phone.take(pa.array(ck)),
        "city": cities.take(pa.array(pop.city[ck])),
    })
    return policies, claims
