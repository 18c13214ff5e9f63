"""Response shape of ``POST /v1/credit/applications``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from finrisk.api.schemas.decisions import DecisionOut

__all__ = ["CreditApplicationOut", "CreditOut"]


class CreditOut(BaseModel):
    scorecard: str
    scorecard_version: str
    score: int = Field(description="350-950, higher = lower risk")
    probability_bad: float
    subscores: dict[str, int] = Field(description="0-100 per dimension (identity, credit history, ...)")
    reason_codes: list[str] = Field(description="why the score is not higher, most points lost first")
    decision: str = Field(description="approve, refer or decline (fraud rules may overrule the score)")
    limit: float
    price_band: str
    annual_rate: float | None
    reasons: list[str] = Field(description="score band, policy and fraud-rule reasons, then the reason codes")
    credit_latency_ms: float


class CreditApplicationOut(BaseModel):
    decision: DecisionOut = Field(description="the fraud decision, as POST /v1/decisions returns it")
    credit: CreditOut
