"""Credit decisions from a score: approve / refer / decline, a credit limit and a price band, with reasons.

A :class:`LimitPolicy` is a list of score bands (highest first). The record's band gives the decision,
the price band (and its annual rate) and a limit multiple; the limit is ``multiple x monthly income``
(capacity to pay), capped at ``max_limit`` and rounded down to ``limit_step``. Refer instead of approve
when the income is unknown; decline an approval whose limit falls below ``min_limit``. Every decision
carries reasons: the policy's own codes (``SCORE_BAND_<name>``, ``INCOME_UNKNOWN``, ``LIMIT_TOO_LOW``)
followed by the score's reason codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["INCOME_BAND_MONTHLY", "CreditDecision", "LimitPolicy", "ScoreBand"]

#: Monthly income proxy (CNY) of the simulator's ``income_band`` values, the band's middle.
INCOME_BAND_MONTHLY: dict[str, float] = {
    "low": 3000.0, "lower_middle": 6000.0, "middle": 10000.0, "upper_middle": 18000.0, "high": 35000.0,
}


class ScoreBand(BaseModel):
    """Scores at or above ``min_score`` (and below the next band up) get this treatment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    min_score: int
    decision: Literal["approve", "refer", "decline"]
    limit_multiple: Annotated[float, Field(ge=0)] = 0.0
    annual_rate: Annotated[float, Field(ge=0, le=1)] | None = None


class LimitPolicy(BaseModel):
    """Score bands plus limit rules; the default is a plain consumer-loan policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bands: list[ScoreBand] = Field(default_factory=lambda: [
        ScoreBand(name="A", min_score=700, decision="approve", limit_multiple=6.0, annual_rate=0.08),
        ScoreBand(name="B", min_score=620, decision="approve", limit_multiple=3.0, annual_rate=0.14),
        ScoreBand(name="C", min_score=560, decision="refer", limit_multiple=1.5, annual_rate=0.20),
        ScoreBand(name="D", min_score=0, decision="decline"),
    ])
    max_limit: Annotated[float, Field(gt=0)] = 200_000.0
    min_limit: Annotated[float, Field(ge=0)] = 1_000.0
    limit_step: Annotated[float, Field(gt=0)] = 100.0

    @model_validator(mode="after")
    def _bands_cover_every_score(self) -> LimitPolicy:
        if not self.bands:
            raise ValueError("bands must list at least one score band")
        mins = [b.min_score for b in self.bands]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError(f"bands must be listed from the highest min_score down, without repeats; got {mins}")
        if mins[-1] > 0:
            raise ValueError(f"the last band must start at min_score 0 so every score has a band; got {mins[-1]}")
        return self

    def decide(self, score: int, *, monthly_income: float | None, reasons: Sequence[str] = ()) -> CreditDecision:
        """The decision, limit and price for one applicant's score and monthly income (None if unknown)."""
        band = next(b for b in self.bands if score >= b.min_score)
        why = [f"SCORE_BAND_{band.name}"]
        decision = band.decision
        limit = 0.0
        if decision != "decline":
            if monthly_income is None or not math.isfinite(monthly_income) or monthly_income < 0:
                decision = "refer"
                why.append("INCOME_UNKNOWN")
            else:
                raw = min(band.limit_multiple * monthly_income, self.max_limit)
                limit = math.floor(raw / self.limit_step) * self.limit_step
                if limit < self.min_limit:
                    decision, limit = "decline", 0.0
                    why.append("LIMIT_TOO_LOW")
        return CreditDecision(decision=decision, limit=limit, price_band=band.name,
                              annual_rate=band.annual_rate if decision != "decline" else None,
                              reasons=[*why, *reasons])


@dataclass(frozen=True)
class CreditDecision:
    """What a :class:`LimitPolicy` decided for one applicant."""

    decision: str
    limit: float
    price_band: str
    annual_rate: float | None
    reasons: list[str]
