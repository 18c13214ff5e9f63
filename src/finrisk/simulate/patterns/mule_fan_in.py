"""Mule fan-in: many senders pay one account within hours, then the money leaves fast (cash-out)."""

from __future__ import annotations

from finrisk.simulate.patterns.base import PatternContext

NAME = "mule_fan_in"
SIZE = 14
MIN_SENDERS = 8


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    t = ctx.start_time(1)
    mule = ctx.new_account("mule", at=ctx.before(t))
    collector = ctx.new_account("cash_out_account", at=ctx.before(t))
    total = 0.0
    for _ in range(int(rng.integers(MIN_SENDERS, 21))):
        s = ctx.cust(ctx.pick_customer())
        ctx.label("customer", s["customer_id"], "sender")
        t += ctx.minutes(1, 25)
        amount = float(rng.uniform(500, 5000))
        total += amount
        ctx.transfer(t, s, mule, amount)
    t += ctx.minutes(5, 60)
    cash = round(total * float(rng.uniform(0.4, 0.7)), -2)
    ctx.withdraw(t, mule, cash)
    ctx.transfer(t + ctx.minutes(1, 20), mule, collector, (total - cash) * 0.99)
