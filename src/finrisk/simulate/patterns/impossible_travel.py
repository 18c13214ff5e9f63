"""Impossible travel: the same card pays in two cities more than 800 km apart within an hour.

Both payments carry the pattern label (one of them is a cloned card; the pair is the anomaly).
"""

from __future__ import annotations

from finrisk.simulate.geo import CITY_NAMES
from finrisk.simulate.patterns.base import PatternContext

NAME = "impossible_travel"
SIZE = 1
_CATS = ("restaurant", "grocery", "jewelry", "electronics")


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    v = ctx.cust(ctx.pick_customer())
    ctx.label("card", v["card_id"], "cloned_card")
    ctx.label("customer", v["customer_id"], "victim")
    t = ctx.start_time(0.1)
    far = ctx.other_city(v["city_idx"], min_km=800)
    for i, city in enumerate((v["city_idx"], far)):
        category = _CATS[int(rng.integers(0, 2)) + 2 * i]
        lat, lon = ctx.point(city, 0.02)
        ctx.emit("transaction", t, txn_type="payment", customer_id=v["customer_id"], account_id=v["account_id"],
                 merchant_id=ctx.merchant(category, city), merchant_category=category, card_id=v["card_id"],
                 amount=round(float(rng.lognormal(4.0 + 3.0 * i, 0.5)), 2), currency="CNY", channel="pos",
                 city=CITY_NAMES[city], lat=lat, lon=lon, status="success")
        if i == 0:
            t += ctx.minutes(5, 55)
    if rng.random() < 0.5:
        lat, lon = ctx.point(far)
        ctx.emit("login", t + ctx.minutes(0.5, 3), customer_id=v["customer_id"], account_id=v["account_id"],
                 device_id=ctx.new_device(), ip=ctx.new_ip(), ip_city=CITY_NAMES[far], lat=lat, lon=lon,
                 success=True, method="password")
