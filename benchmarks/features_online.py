"""Online feature engine throughput and per-event latency, against a plain deque sketch.

Simulates a world, merges its events in ``(event_time, event_id)`` order and runs the ~40-feature
demo set (``src/finrisk/features/demo_features.yaml`` when present, else the set below) through
:class:`finrisk.features.online.OnlineFeatureEngine`, timing every ``process`` call. Named peer,
measured in the same run over the same events: a plain pure-Python sketch of 40 features (8
entity/window groups of ``collections.deque`` with running sums, 5 features each), which does no
late events, no filters, no labels, no snapshots. Also timed: ``add`` (the update-only step replay
uses for warm-up events) on a fresh engine over the same events.

    python benchmarks/features_online.py [--quick]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finrisk._yamlfile import parse_yaml
from finrisk.events import EventTypeRegistry
from finrisk.features._online_native import kernel_name
from finrisk.features.online import OnlineFeatureEngine
from finrisk.features.spec import FeatureSet, parse_features
from finrisk.simulate import WorldConfig, simulate_world

DEMO = Path(__file__).resolve().parents[1] / "src" / "finrisk" / "features" / "demo_features.yaml"

FEATURES = """\
features:
  cust_txn_10m: {key: customer_id, events: transaction, agg: count, window: 10m}
  cust_txn_1h: {key: customer_id, events: transaction, agg: count, window: 1h}
  cust_txn_24h: {key: customer_id, events: transaction, agg: count, window: 24h}
  cust_amount_sum_1h: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1h}
  cust_amount_sum_24h: {key: customer_id, events: transaction, agg: sum, field: amount, window: 24h}
  cust_amount_max_24h: {key: customer_id, events: transaction, agg: max, field: amount, window: 24h}
  cust_merchants_24h: {key: customer_id, events: transaction, agg: count_distinct, field: merchant_id, window: 24h}
  cust_cities_1h: {key: customer_id, events: transaction, agg: count_distinct, field: city, window: 1h}
  cust_amount_mean_30d: {key: customer_id, events: transaction, agg: mean, field: amount, window: 30d}
  cust_amount_std_30d: {key: customer_id, events: transaction, agg: std, field: amount, window: 30d}
  cust_amount_min_30d: {key: customer_id, events: transaction, agg: min, field: amount, window: 30d}
  cust_last_city_30d: {key: customer_id, events: transaction, agg: last, field: city, window: 30d}
  cust_last_lat_30d: {key: customer_id, events: [transaction, login], agg: last, field: lat, window: 30d}
  cust_last_lon_30d: {key: customer_id, events: [transaction, login], agg: last, field: lon, window: 30d}
  cust_since_last_30d: {key: customer_id, events: [transaction, login], agg: time_since_last, window: 30d}
  cust_transfers_1h:
    {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: count, window: 1h}
  cust_failed_logins_1h: {key: customer_id, events: login, filter: "success == false", agg: count, window: 1h}
  cust_devices_7d: {key: customer_id, events: login, agg: count_distinct, field: device_id, window: 7d}
  cust_ips_24h: {key: customer_id, events: login, agg: count_distinct, field: ip, window: 24h}
  cust_device_first_seen: {key: [customer_id, device_id], events: [login, transaction], agg: first_seen}
  card_txn_10m: {key: card_id, events: transaction, agg: count, window: 10m}
  card_amount_sum_1h: {key: card_id, events: transaction, agg: sum, field: amount, window: 1h}
  card_merchants_1h: {key: card_id, events: transaction, agg: count_distinct, field: merchant_id, window: 1h}
  card_cities_1h: {key: card_id, events: transaction, agg: count_distinct, field: city, window: 1h}
  device_customers_24h: {key: device_id, events: [login, transaction], agg: count_distinct, field: customer_id,
                         window: 24h}
  device_accounts_7d: {key: device_id, events: [login, transaction], agg: count_distinct, field: account_id,
                       window: 7d}
  device_loans_1h: {key: device_id, events: loan_application, agg: count, window: 1h}
  ip_events_10m: {key: ip, events: [login, transaction], agg: count, window: 10m}
  ip_customers_1h: {key: ip, events: [login, transaction], agg: count_distinct, field: customer_id, window: 1h}
  account_out_sum_24h: {key: account_id, events: transaction, agg: sum, field: amount, window: 24h}
  account_out_1h: {key: account_id, events: transaction, agg: count, window: 1h}
  cpty_in_1h: {key: counterparty_account, events: transaction, agg: count, window: 1h}
  cpty_senders_24h: {key: counterparty_account, events: transaction, agg: count_distinct, field: account_id,
                     window: 24h}
  cpty_in_sum_24h: {key: counterparty_account, events: transaction, agg: sum, field: amount, window: 24h}
  merchant_txn_1h: {key: merchant_id, events: transaction, agg: count, window: 1h}
  merchant_chargebacks_37d_7d: {key: merchant_id, events: chargeback, agg: count, window: 30d, lag: 7d,
                                time_field: ref_time}
  merchant_txn_37d_7d: {key: merchant_id, events: transaction, agg: count, window: 30d, lag: 7d}
  merchant_chargeback_rate: {derive: ratio, inputs: [merchant_chargebacks_37d_7d, merchant_txn_37d_7d]}
  amount_z_30d: {derive: zscore, inputs: [amount, cust_amount_mean_30d, cust_amount_std_30d]}
  km_from_last: {derive: distance_km, inputs: [lat, lon, cust_last_lat_30d, cust_last_lon_30d]}
  speed_from_last: {derive: speed_kmh, inputs: [km_from_last, cust_since_last_30d]}
  new_city: {derive: not_equal, inputs: [city, cust_last_city_30d]}
"""


def feature_set() -> FeatureSet:
    registry = EventTypeRegistry.builtin()
    if DEMO.exists():
        return parse_features(parse_yaml(DEMO.read_text(), str(DEMO)), registry)
    return parse_features(parse_yaml(FEATURES, "features_online.py"), registry)


def load_events(customers: int, days: int, seed: int) -> list[dict[str, Any]]:
    """A simulated world's events (no ``label_*`` columns), in ``(event_time, event_id)`` order."""
    with tempfile.TemporaryDirectory() as d:
        simulate_world(WorldConfig(customers=customers, days=days, seed=seed), Path(d), fmt="parquet")
        events: list[dict[str, Any]] = []
        for folder in sorted((Path(d) / "events").iterdir()):
            table = pa.concat_tables(pq.read_table(p) for p in sorted(folder.glob("*.parquet")))
            table = table.drop_columns([c for c in table.column_names if c.startswith("label_")])
            events.extend(table.to_pylist())
    events.sort(key=lambda e: (e["event_time"], e["event_id"]))
    return events


class DequeSketch:
    """The peer: 8 entity/window groups of deques with running sums, 5 features per group (40)."""

    GROUPS = (("customer_id", 3_600), ("customer_id", 86_400), ("card_id", 3_600), ("device_id", 86_400),
              ("ip", 3_600), ("account_id", 86_400), ("counterparty_account", 3_600), ("merchant_id", 3_600))

    def __init__(self) -> None:
        self.state: list[dict[Any, list[Any]]] = [{} for _ in self.GROUPS]

    def process(self, event: dict[str, Any]) -> list[Any]:
        t = event["event_time"].timestamp()
        amount = event.get("amount") if event["event_type"] == "transaction" else None
        out: list[Any] = []
        for (field, window), states in zip(self.GROUPS, self.state, strict=True):
            key = event.get(field)
            if key is None:
                out.extend((None, None, None, None, None))
                continue
            st = states.get(key)
            if st is None:
                st = states[key] = [deque(), 0.0, 0.0]
            dq = st[0]
            while dq and dq[0][0] <= t - window:
                _, old = dq.popleft()
                st[1] -= old
                st[2] -= old * old
            n = len(dq)
            mean = st[1] / n if n else None
            std = math.sqrt(max(0.0, (st[2] - st[1] * st[1] / n) / (n - 1))) if n > 1 else None
            out.extend((n, st[1], mean, std, dq[-1][1] if dq else None))
            if amount is not None:
                dq.append((t, amount))
                st[1] += amount
                st[2] += amount * amount
        return out


#: The same collector settings for the engine and the peer, as a latency-sensitive service would set
#: them: long-lived state frozen after warm-up, young generation collected every 50,000 allocations.
GC_THRESHOLD = (50_000, 50, 100)


def _timed(fn: Any, events: list[dict[str, Any]], warm: int) -> tuple[float, float, list[int]]:
    """Events per second of wall time and of CPU time (``process_time``: what other processes on
    the shared machine do not inflate), and the sorted per-event times in ns."""
    for e in events[:warm]:
        fn(e)
    gc.collect()
    gc.freeze()
    default = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    clock = time.perf_counter_ns
    times: list[int] = []
    append = times.append
    cpu_started = time.process_time()
    started = clock()
    for e in events[warm:]:
        t0 = clock()
        fn(e)
        append(clock() - t0)
    wall = (clock() - started) / 1e9
    cpu = time.process_time() - cpu_started
    gc.set_threshold(*default)
    gc.unfreeze()
    return (len(events) - warm) / wall, (len(events) - warm) / cpu, sorted(times)


def _pct(times: list[int], q: float) -> float:
    return round(times[min(len(times) - 1, int(q * len(times)))] / 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small world (under a minute)")
    args = parser.parse_args()
    customers, days = (3_000, 10) if args.quick else (10_000, 30)
    fs = feature_set()
    began = time.perf_counter()
    events = load_events(customers, days, seed=7)
    print(f"{len(events):,} events loaded in {time.perf_counter() - began:.1f}s; {len(fs)} features")
    warm = len(events) // 10

    engine = OnlineFeatureEngine(fs)
    # values(): every feature as a list in ``engine.names`` order, as the peer returns its 40
    rate, cpu_rate, times = _timed(engine.values, events, warm)
    stats = engine.stats()
    peer = DequeSketch()
    peer_rate, peer_cpu_rate, peer_times = _timed(peer.process, events, warm)
    # add(): the update-only step (replay warm-up), same events, a fresh engine
    add_rate, add_cpu_rate, add_times = _timed(OnlineFeatureEngine(fs).add, events, warm)
    snap_started = time.perf_counter()
    snapshot = engine.snapshot()
    snap_s = time.perf_counter() - snap_started
    result = {
        "benchmark": "features_online",
        "quick": args.quick,
        "events": len(events),
        "timed_events": len(events) - warm,
        "features": len(fs),
        # the window kernel that ran: "c" (the compiled extension) or "python" (FINRISK_PURE_PYTHON=1, or
        # not built); run the benchmark both ways to compare them
        "kernel": kernel_name(),
        "events_per_s": round(rate),
        "events_per_s_cpu": round(cpu_rate),
        "p50_us": _pct(times, 0.5),
        "p99_us": _pct(times, 0.99),
        "p999_us": _pct(times, 0.999),
        "peer": "deque sketch, 8 entity/window groups x 5 features (40)",
        "peer_events_per_s": round(peer_rate),
        "peer_events_per_s_cpu": round(peer_cpu_rate),
        "cpu_rate_vs_peer": round(cpu_rate / peer_cpu_rate, 3),
        "peer_p50_us": _pct(peer_times, 0.5),
        "peer_p99_us": _pct(peer_times, 0.99),
        "add_events_per_s": round(add_rate),
        "add_events_per_s_cpu": round(add_cpu_rate),
        "add_p99_us": _pct(add_times, 0.99),
        "state_bytes": stats["bytes"],
        "state_entities": stats["entities"],
        "state_bytes_per_entity": stats["bytes_per_entity"],
        "state_entries": stats["entries"],
        "snapshot_bytes": len(snapshot),
        "snapshot_seconds": round(snap_s, 3),
        "gc": f"frozen after warm-up, threshold {GC_THRESHOLD} (engine and peer alike)",
        "late_events": engine.lateness.late,
        "too_late_events": engine.lateness.too_late,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
