"""Marketing abuse: one device registers many new accounts with a promo code and spends each bonus."""

from __future__ import annotations

from finrisk.simulate.geo import CITY_NAMES
from finrisk.simulate.patterns.base import PatternContext

NAME = "marketing_abuse"
SIZE = 15
PROMO = "NEWUSER88"


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    t = ctx.start_time(0.3)
    city = int(rng.integers(0, len(CITY_NAMES)))
    device = ctx.new_device()
    ips = [ctx.new_ip() for _ in range(int(rng.integers(1, 4)))]
    ctx.label("device", device, "abuse_device")
    for i in range(int(rng.integers(10, 31))):
        t += ctx.minutes(0.5, 8)
        m = ctx.new_account("abuse_account", at=t, city=city, device_id=device, ip=ips[i % len(ips)],
                            promo_code=PROMO)
        lat, lon = ctx.point(city, 0.005)
        at = t + ctx.minutes(0.2, 2)
        ctx.emit("login", at, customer_id=m["customer_id"], account_id=m["account_id"], device_id=device,
                 ip=m["ip"], ip_city=CITY_NAMES[city], lat=lat, lon=lon, success=True, method="sms_otp")
        ctx.emit("transaction", at + ctx.minutes(0.5, 5), txn_type="payment", customer_id=m["customer_id"],
                 account_id=m["account_id"], merchant_id=ctx.merchant("online_shopping", city),
                 merchant_category="online_shopping", card_id=m["card_id"],
                 amount=round(float(rng.uniform(1, 20)), 2), currency="CNY", channel="app", device_id=device,
                 ip=m["ip"], city=CITY_NAMES[city], lat=lat, lon=lon, status="success")
