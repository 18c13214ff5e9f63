"""Phishing victim: a login from a new IP, then the victim pays a large sum to a new payee account."""

from __future__ import annotations

from finrisk.simulate.patterns.base import PatternContext

NAME = "phishing"
SIZE = 2


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    v = ctx.cust(ctx.pick_customer())
    ctx.label("customer", v["customer_id"], "victim")
    t = ctx.start_time(0.2)
    payee = ctx.new_account("fraudster_account", at=ctx.before(t))
    ip = ctx.new_ip()
    ctx.label("ip", ip, "phishing_ip")
    lat, lon = ctx.point(v["city_idx"])
    ctx.emit("login", t, customer_id=v["customer_id"], account_id=v["account_id"], device_id=v["device_id"],
             ip=ip, ip_city=v["city"], lat=lat, lon=lon, success=True, method="password")
    t += ctx.minutes(2, 60)
    ctx.transfer(t, dict(v, ip=ip), payee, float(rng.uniform(3_000, 80_000)))
