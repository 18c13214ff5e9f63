"""Benchmark of ``finrisk.simulate``: events per second and minute, peak RSS, bytes on disk.

Full run: 20000 customers x 30 days (parquet) and a ~10M-event world; ``--quick``: a small world.
Named peer: a naive per-event Python-loop generator of the same payment events (dicts, one
``random`` call per field, ``pyarrow.Table.from_pylist``) run for a few seconds, to show the ratio.
The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from finrisk.simulate import WorldConfig, simulate_world


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(own / 1024, 1)


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_world(customers: int, days: int, fmt: str = "parquet", seed: int = 7) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        s = simulate_world(WorldConfig(customers=customers, days=days, seed=seed), out, fmt=fmt)
        size = _bytes(out)
    return {"customers": customers, "days": days, "format": fmt, "events": s.total_events,
            "seconds": round(s.elapsed_seconds, 2), "events_per_s": round(s.events_per_second),
            "events_per_min": round(s.events_per_second * 60), "output_bytes": size,
            "peak_rss_mb_so_far": _peak_rss_mb()}


def run_isolated(customers: int, days: int, fmt: str) -> dict[str, Any]:
    """One world in a fresh interpreter, so its peak RSS is its own."""
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import simulate as b; "
            f"print(json.dumps(b.run_world({customers}, {days}, {fmt!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = result.pop("peak_rss_mb_so_far")
    return result


def naive_peer(seconds: float) -> dict[str, Any]:
    """Per-event Python loop generating payment rows, then one Arrow table; events/s."""
    rnd = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cats = ["grocery", "restaurant", "online_shopping", "transport", "online_game"]
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            c = rnd.randrange(20000)
            rows.append({
                "event_id": f"tx-{i:09d}", "event_type": "transaction",
                "event_time": start + timedelta(seconds=rnd.uniform(0, 86400 * 30)),
                "txn_type": "payment", "customer_id": f"C{c:08d}", "account_id": f"A{c:09d}",
                "merchant_id": f"M{rnd.randrange(5000):07d}", "merchant_category": rnd.choice(cats),
                "card_id": f"K{c:09d}", "amount": round(rnd.lognormvariate(4, 0.8), 2), "currency": "CNY",
                "channel": "pos", "city": "Shanghai", "lat": 31.23 + rnd.gauss(0, 0.04),
                "lon": 121.47 + rnd.gauss(0, 0.04), "status": "success", "label_is_fraud": False,
            })
            i += 1
    pa.Table.from_pylist(rows)
    elapsed = time.perf_counter() - t0
    return {"events": i, "seconds": round(elapsed, 2), "events_per_s": round(i / elapsed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"benchmark": "simulate", "quick": args.quick}
    if args.quick:
        runs = {"small_parquet": (3000, 14, "parquet"), "small_jsonl": (1000, 7, "jsonl")}
        peer_seconds = 2.0
    else:
        runs = {"20000x30_parquet": (20000, 30, "parquet"), "10m_parquet": (120000, 30, "parquet"),
                "5000x30_jsonl": (5000, 30, "jsonl")}
        peer_seconds = 5.0
    for name, (customers, days, fmt) in runs.items():
        r = run_isolated(customers, days, fmt)
        result[name] = r
        print(f"{name}: {r['events']:,} events in {r['seconds']} s = {r['events_per_min'] / 1e6:.1f} M/min, "
              f"{r['output_bytes'] / 1e6:.0f} MB, peak RSS {r['peak_rss_mb']} MB", flush=True)
    peer = naive_peer(peer_seconds)
    result["naive_python_loop_peer"] = peer
    main_run = result[next(iter(runs))]
    result["speedup_vs_naive"] = round(main_run["events_per_s"] / max(peer["events_per_s"], 1), 1)
    result["peak_rss_mb"] = max(r["peak_rss_mb"] for k, r in result.items() if k in runs)
    print(f"naive per-event loop: {peer['events_per_s']:,} events/s; vectorised is "
          f"{result['speedup_vs_naive']}x faster")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
