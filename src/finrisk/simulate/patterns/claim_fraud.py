"""Claim fraud: a group buys policies, claims within days for most of the sum insured, repeatedly,
with every payout going to one shared card."""

from __future__ import annotations

from finrisk.simulate.behaviour import DAY_US
from finrisk.simulate.patterns.base import PatternContext

NAME = "claim_fraud"
SIZE = 12
_PRODUCTS = {"health": ("hospitalisation", 60_000.0), "accident": ("injury", 100_000.0)}


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    t = ctx.start_time(7.5)
    card = ctx.new_card()
    ctx.label("card", card, "shared_payout_card")
    for _ in range(int(rng.integers(3, 6))):
        m = ctx.cust(ctx.pick_customer())
        ctx.label("customer", m["customer_id"], "claimant")
        product = "health" if rng.random() < 0.5 else "accident"
        claim_type, sum_insured = _PRODUCTS[product]
        start = t + ctx.minutes(0, 1440)
        policy_id = f"P{ctx.counters.take('policy'):08d}"
        ctx.emit("insurance_policy", start, policy_id=policy_id, customer_id=m["customer_id"], product=product,
                 premium=round(sum_insured * 0.02, 2), sum_insured=sum_insured, insured_age=m["age"],
                 device_id=m["device_id"], ip=m["ip"], city=m["city"])
        at = start
        for _ in range(int(rng.integers(1, 4))):
            at += ctx.minutes(6 * 60, 2 * 1440)
            ctx.emit("claim", at, claim_id=f"CL{ctx.counters.take('claim'):08d}", policy_id=policy_id,
                     customer_id=m["customer_id"], claim_type=claim_type,
                     amount=round(sum_insured * float(rng.uniform(0.6, 1.0)), 2),
                     days_since_policy_start=int((at - start) // DAY_US), card_id=card, device_id=m["device_id"],
                     phone=m["phone"], city=m["city"])
