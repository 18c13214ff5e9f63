"""Organised loan fraud: bought identities apply on one device minutes apart; phone city != IP city."""

from __future__ import annotations

from finrisk.simulate.geo import CITY_NAMES
from finrisk.simulate.patterns.base import PatternContext

NAME = "loan_fraud"
SIZE = 5
DEFAULT_P = 0.85


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    t = ctx.start_time(0.5)
    ip_city = int(rng.integers(0, len(CITY_NAMES)))
    device, ip = ctx.new_device(), ctx.new_ip()
    ctx.label("device", device, "shared_device")
    ctx.label("ip", ip, "shared_ip")
    for _ in range(int(rng.integers(3, 9))):
        phone_city = ctx.other_city(ip_city, min_km=200)
        m = ctx.new_account("applicant", at=ctx.before(t), city=phone_city, phone_home_city=phone_city,
                            tenure=int(rng.integers(0, 3)))
        t += ctx.minutes(1, 10)
        lat, lon = ctx.point(ip_city)
        ctx.emit("loan_application", t, loan_id=f"L{ctx.counters.take('loan'):08d}",
                 customer_id=m["customer_id"], account_id=m["account_id"], device_id=device, phone=m["phone"],
                 ip=ip, ip_city=CITY_NAMES[ip_city], id_number=m["id_number"], address=m["address"],
                 city=m["city"], lat=lat, lon=lon, product="cash", amount=float(round(rng.uniform(3_000, 20_000), -2)),
                 term_months=6, income_band=m["income_band"], phone_home_city=m["phone_home_city"],
                 phone_tenure_months=m["phone_tenure_months"],
                 monthly_local_spend=round(float(rng.uniform(50, 500)), 2),
                 monthly_game_spend=round(float(rng.uniform(0, 300)), 2), finance_media_days_30d=0,
                 home_distance_km=round(float(rng.uniform(200, 2000)), 3),
                 past_overdue_count=int(rng.integers(0, 3)), label_default=bool(rng.random() < DEFAULT_P))
