"""Fund closed loop: A -> B -> ... -> A through 2-6 intermediaries within days, each hop later and 1-5% smaller."""

from __future__ import annotations

from finrisk.simulate.patterns.base import PatternContext

NAME = "fund_loop"
SIZE = 5


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    max_gap = min(1800.0, ctx.days * 1440 / 8)
    t = ctx.start_time(7 * max_gap / 1440)
    origin = ctx.cust(ctx.pick_customer())
    members = [origin]
    for _ in range(int(rng.integers(2, 7))):
        if rng.random() < 0.5:
            members.append(ctx.cust(ctx.pick_customer()))
        else:
            members.append(ctx.new_account("loop_member", at=ctx.before(t)))
    for m in members:
        ctx.label("customer", m["customer_id"], "loop_member")
        ctx.label("account", m["account_id"], "loop_member")
    amount = float(rng.uniform(20_000, 200_000))
    hops = members + [origin]
    for src, dst in zip(hops[:-1], hops[1:], strict=True):
        t += ctx.minutes(min(60.0, max_gap / 2), max_gap)
        ctx.transfer(t, src, dst, amount)
        amount *= 1.0 - float(rng.uniform(0.01, 0.05))
