"""Card testing: a burst of tiny online payments on one card within minutes, several failing, then a big one."""

from __future__ import annotations

from finrisk.simulate.geo import CITY_NAMES
from finrisk.simulate.patterns.base import PatternContext

NAME = "card_testing"
SIZE = 1


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    v = ctx.cust(ctx.pick_customer())
    device, ip = ctx.new_device(), ctx.new_ip()
    ctx.label("card", v["card_id"], "compromised_card")
    ctx.label("customer", v["customer_id"], "victim")
    ctx.label("device", device, "fraudster_device")
    t = ctx.start_time(0.1)
    city = ctx.other_city(v["city_idx"])
    base = dict(customer_id=v["customer_id"], account_id=v["account_id"], card_id=v["card_id"], currency="CNY",
                channel="web", device_id=device, ip=ip, city=CITY_NAMES[city])
    for _ in range(int(rng.integers(8, 21))):
        t += ctx.minutes(0.1, 1.5)
        lat, lon = ctx.point(city)
        ctx.emit("transaction", t, txn_type="payment", merchant_id=ctx.merchant("online_shopping", city),
                 merchant_category="online_shopping", amount=round(float(rng.uniform(0.5, 5.0)), 2), lat=lat,
                 lon=lon, status="failed" if rng.random() < 0.4 else "success", **base)
    t += ctx.minutes(1, 10)
    lat, lon = ctx.point(city)
    ctx.emit("transaction", t, txn_type="payment", merchant_id=ctx.merchant("electronics", city),
             merchant_category="electronics", amount=round(float(rng.uniform(800, 5000)), 2), lat=lat, lon=lon,
             status="success", **base)
