"""The validated parameters of a synthetic world.

Constraints are declared once in :data:`_CONSTRAINTS` and every error text is generated from the
declaration, so the message and the check cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from finrisk.errors import SimulationConfigError

__all__ = ["PATTERN_NAMES", "SimulationConfigError", "WorldConfig"]

#: Every injectable fraud / laundering pattern, in the order they are planned.
PATTERN_NAMES: tuple[str, ...] = (
    "account_takeover",
    "card_testing",
    "impossible_travel",
    "mule_fan_in",
    "fund_loop",
    "fraud_ring",
    "marketing_abuse",
    "loan_fraud",
    "phishing",
    "claim_fraud",
)


# name -> (kind, low, high, low_closed, high_closed); None = unbounded on that side.
_CONSTRAINTS: dict[str, tuple[type, float | None, float | None, bool, bool]] = {
    "customers": (int, 0, 10_000_000, False, True),
    "days": (int, 0, 3660, False, True),
    "seed": (int, 0, None, True, True),
    "fraud_share": (float, 0.0, 0.5, True, True),
    "new_customer_share": (float, 0.0, 1.0, True, True),
    "loan_rate": (float, 0.0, 1.0, True, True),
    "policy_rate": (float, 0.0, 1.0, True, True),
    "activity": (float, 0.0, 100.0, False, True),
    "rows_per_part": (int, 1000, None, True, True),
}


def _rule(kind: type, lo: float | None, hi: float | None, lo_closed: bool, hi_closed: bool) -> str:
    what = "an integer" if kind is int else "a number"
    parts = []
    if lo is not None:
        parts.append(f"{'>=' if lo_closed else '>'} {lo}")
    if hi is not None:
        parts.append(f"{'<=' if hi_closed else '<'} {hi}")
    return f"{what} {' and '.join(parts)}".strip()


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of a synthetic financial world.

    Parameters
    ----------
    customers : int
        Customers living in the world (> 0); fraud patterns add a few accounts of their own.
    days : int
        Length of the simulated window in days (> 0).
    seed : int
        Root seed; the same seed gives byte-identical event content.
    start : datetime.date
        First day of the window (UTC midnight).
    fraud_share : float
        Share of customers touched by an injected pattern (as victim, mule or member), 0 to 0.5.
    pattern_mix : Mapping[str, float]
        Relative weight per pattern (keys from ``PATTERN_NAMES``); missing patterns weigh 1,
        weight 0 switches a pattern off.
    new_customer_share : float
        Share of customers who register during the window rather than before it.
    loan_rate, policy_rate : float
        Loan applications / insurance policies per customer per day.
    activity : float
        Multiplier on the daily login and payment rates (world density).
    rows_per_part : int
        Rows per output part file before a new one is started.

    Examples
    --------
    >>> WorldConfig(customers=100, days=5, seed=1).days
    5
    >>> try:
    ...     WorldConfig(customers=0)
    ... except SimulationConfigError as exc:
    ...     print(exc)
    The 'customers' parameter of WorldConfig must be an integer > 0 and <= 10000000.
    Got 0 instead.
    """

    customers: int = 1000
    days: int = 30
    seed: int = 0
    start: date = date(2026, 1, 1)
    fraud_share: float = 0.02
    pattern_mix: Mapping[str, float] = field(default_factory=dict)
    new_customer_share: float = 0.05
    loan_rate: float = 0.004
    policy_rate: float = 0.006
    activity: float = 1.0
    rows_per_part: int = 1_000_000

    def __post_init__(self) -> None:
        for name, (kind, lo, hi, lo_closed, hi_closed) in _CONSTRAINTS.items():
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and kind is int and not isinstance(value, int):
                ok = False
            if ok:
                if lo is not None and (value < lo if lo_closed else value <= lo):
                    ok = False
                if hi is not None and (value > hi if hi_closed else value >= hi):
                    ok = False
            if not ok:
                raise SimulationConfigError(
                    f"The {name!r} parameter of WorldConfig must be "
                    f"{_rule(kind, lo, hi, lo_closed, hi_closed)}. Got {value!r} instead."
                )
        if not isinstance(self.start, date):
            raise SimulationConfigError(
                f"The 'start' parameter of WorldConfig must be a date. Got {self.start!r} instead."
            )
        for key, weight in self.pattern_mix.items():
            if key not in PATTERN_NAMES:
                raise SimulationConfigError(
                    f"The 'pattern_mix' parameter of WorldConfig must only name patterns in "
                    f"{', '.join(PATTERN_NAMES)}. Got {key!r} instead."
                )
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise SimulationConfigError(
                    f"The 'pattern_mix' weight of {key!r} in WorldConfig must be a number >= 0. "
                    f"Got {weight!r} instead."
                )

    def weight(self, pattern: str) -> float:
        """The mix weight of ``pattern`` (1 when not given)."""
        return float(self.pattern_mix.get(pattern, 1.0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the manifest)."""
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["pattern_mix"] = {k: self.weight(k) for k in PATTERN_NAMES}
        return out
