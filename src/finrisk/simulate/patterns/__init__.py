"""Injected fraud and laundering patterns, one module each; :data:`PATTERNS` maps name -> module."""

from __future__ import annotations

from types import ModuleType

from finrisk.simulate.patterns import (
    account_takeover,
    card_testing,
    claim_fraud,
    fraud_ring,
    fund_loop,
    impossible_travel,
    loan_fraud,
    marketing_abuse,
    mule_fan_in,
    phishing,
)
from finrisk.simulate.patterns.base import Counters, PatternContext

__all__ = ["PATTERNS", "Counters", "PatternContext"]

#: name -> module with ``NAME``, ``SIZE`` (customers touched per instance) and ``inject(ctx)``.
PATTERNS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (account_takeover, card_testing, impossible_travel, mule_fan_in, fund_loop, fraud_ring,
              marketing_abuse, loan_fraud, phishing, claim_fraud)
}
