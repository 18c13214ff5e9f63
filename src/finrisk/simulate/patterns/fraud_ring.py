"""Fraud ring: new applicants who share devices, phones and an address each apply for a loan."""

from __future__ import annotations

from finrisk.simulate.geo import CITY_NAMES
from finrisk.simulate.patterns.base import PatternContext

NAME = "fraud_ring"
SIZE = 6
DEFAULT_P = 0.85


def inject(ctx: PatternContext) -> None:
    rng = ctx.rng
    t = ctx.start_time(3)
    city = int(rng.integers(0, len(CITY_NAMES)))
    devices = [ctx.new_device() for _ in range(int(rng.integers(1, 3)))]
    phones = [ctx.new_phone() for _ in range(int(rng.integers(1, 3)))]
    ip = ctx.new_ip()
    address = f"Room {rng.integers(101, 999)}, No. {rng.integers(1, 99)} Xingfu Road, {CITY_NAMES[city]}"
    for d in devices:
        ctx.label("device", d, "shared_device")
    for p in phones:
        ctx.label("phone", p, "shared_phone")
    ctx.label("address", address, "shared_address")
    for i in range(int(rng.integers(4, 10))):
        reg_at = t + ctx.minutes(0, 600)
        m = ctx.new_account("ring_member", at=reg_at, city=city, device_id=devices[i % len(devices)],
                            phone=phones[i % len(phones)], address=address, ip=ip)
        at = reg_at + ctx.minutes(60, 2 * 1440)
        lat, lon = ctx.point(city)
        ctx.emit("loan_application", at, loan_id=f"L{ctx.counters.take('loan'):08d}",
                 customer_id=m["customer_id"], account_id=m["account_id"], device_id=m["device_id"],
                 phone=m["phone"], ip=ip, ip_city=CITY_NAMES[city], id_number=m["id_number"], address=address,
                 city=CITY_NAMES[city], lat=lat, lon=lon, product="cash",
                 amount=float(round(rng.uniform(5_000, 30_000), -2)), term_months=12, income_band=m["income_band"],
                 phone_home_city=m["phone_home_city"], phone_tenure_months=m["phone_tenure_months"],
                 monthly_local_spend=round(float(rng.uniform(100, 800)), 2), monthly_game_spend=0.0,
                 finance_media_days_30d=0, home_distance_km=round(float(rng.uniform(0, 5)), 3),
                 past_overdue_count=0, label_default=bool(rng.random() < DEFAULT_P))
