"""Account takeover: login from a new device in a new city, often a phone change, then money out to a mule."""

from __future__ import annotations

from finrisk.simulate.geo import CITY_NAMES
from finrisk.simulate.patterns.base import PatternContext

NAME = "account_takeover"
SIZE = 2


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    v = ctx.cust(ctx.pick_customer())
    ctx.label("customer", v["customer_id"], "victim")
    ctx.label("account", v["account_id"], "victim")
    t = ctx.start_time(1)
    far = ctx.other_city(v["city_idx"], min_km=300)
    device, ip = ctx.new_device(), ctx.new_ip()
    ctx.label("device", device, "attacker_device")
    ctx.label("ip", ip, "attacker_ip")
    mule = ctx.new_account("mule", at=ctx.before(t))
    lat, lon = ctx.point(far)
    for _ in range(int(rng.integers(0, 3))):
        ctx.emit("login", t, customer_id=v["customer_id"], account_id=v["account_id"], device_id=device, ip=ip,
                 ip_city=CITY_NAMES[far], lat=lat, lon=lon, success=False, method="password")
        t += ctx.minutes(0.2, 2)
    ctx.emit("login", t, customer_id=v["customer_id"], account_id=v["account_id"], device_id=device, ip=ip,
             ip_city=CITY_NAMES[far], lat=lat, lon=lon, success=True, method="sms_otp")
    if rng.random() < 0.6:
        t += ctx.minutes(1, 10)
        ctx.emit("profile_update", t, customer_id=v["customer_id"], account_id=v["account_id"],
                 changed_field="phone", new_value=ctx.new_phone(), device_id=device, ip=ip,
                 ip_city=CITY_NAMES[far], channel="app")
    total = 0.0
    attacker = dict(v, device_id=device, ip=ip)
    for _ in range(int(rng.integers(1, 3))):
        t += ctx.minutes(2, 30)
        amount = float(rng.uniform(5_000, 50_000))
        total += amount
        ctx.transfer(t, attacker, mule, amount, city_idx=far)
    ctx.withdraw(t + ctx.minutes(20, 120), mule, round(total * 0.9, -2))
