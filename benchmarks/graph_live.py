"""Per-event cost of live graph features: ``python benchmarks/graph_live.py [--quick]``.

Streams a simulated world's identity and transfer events in time order (registrations, logins, loan
applications, transfers; a few accounts marked bad as cases close) through ``LiveGraph``: for each event,
``features(event)`` then ``update(event)``, timed together with ``perf_counter_ns``. Named peer: the same
features from a networkx graph updated per event (identifier degree, ``node_connected_component`` size,
``single_source_shortest_path_length`` cutoff 3) on the first events of the same stream.

The last stdout line is one JSON object: ``events``, ``p50_us``, ``p99_us``, ``max_us`` for finrisk, the same for
the networkx peer (``networkx_p50_us``, ``networkx_p99_us``) and their ratio at p99.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finrisk.graph.live import LINK_FIELDS, LiveGraph
from finrisk.simulate import WorldConfig, simulate_world


def stream(customers: int, days: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as d:
        simulate_world(WorldConfig(customers=customers, days=days, seed=3), Path(d))
        frames = []
        for name in ("registration", "login", "loan_application", "transaction"):
            f = pd.read_parquet(Path(d) / "events" / name)
            if name == "transaction":
                f = f[f["txn_type"] == "transfer"]
            frames.append(f)
    cols = ["event_type", "event_time", "account_id", "counterparty_account", "txn_type", "amount", "label_is_fraud",
            *LINK_FIELDS]
    events = pd.concat([f[[c for c in cols if c in f.columns]] for f in frames]).sort_values("event_time")
    events["event_time"] = events["event_time"].astype("int64") / 1e6
    records: list[dict[str, Any]] = events.to_dict("records")
    clean = [{k: v for k, v in r.items() if v is not None and v == v} for r in records]
    return clean


def run_finrisk(events: list[dict[str, Any]]) -> np.ndarray:
    g = LiveGraph()
    out = np.empty(len(events))
    for i, ev in enumerate(events):
        t0 = time.perf_counter_ns()
        g.features(ev)
        g.update(ev)
        out[i] = time.perf_counter_ns() - t0
        if ev.get("label_is_fraud") and i % 7 == 0:
            g.mark_bad(ev["account_id"])  # a case confirmed later
    return out / 1000.0


def run_networkx(events: list[dict[str, Any]], budget_s: float) -> np.ndarray:
    import networkx as nx

    g = nx.Graph()
    bad: set[str] = set()
    out: list[float] = []
    deadline = time.perf_counter() + budget_s
    for ev in events:
        if time.perf_counter() > deadline:
            break
        t0 = time.perf_counter_ns()
        acc = ev.get("account_id")
        if acc:
            ids = [f"{k}:{ev[k]}" for k in ("device_id", "phone", "ip") if ev.get(k)]
            _ = [g.degree(i) if i in g else 0 for i in ids]
            if acc in g:
                _ = len(nx.node_connected_component(g, acc))
                dist = nx.single_source_shortest_path_length(g, acc, cutoff=3)
                _ = min((d for n, d in dist.items() if n in bad), default=None)
            for k in LINK_FIELDS:
                if ev.get(k):
                    g.add_edge(acc, f"{k}:{ev[k]}")
            if ev.get("counterparty_account"):
                g.add_edge(acc, ev["counterparty_account"])
            if ev.get("label_is_fraud") and len(out) % 7 == 0:
                bad.add(acc)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return np.asarray(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 3,000-customer, 5-day world")
    args = parser.parse_args(argv)
    customers, days = (3000, 5) if args.quick else (20000, 15)
    events = stream(customers, days)
    ours = run_finrisk(events)
    peer = run_networkx(events, 10.0 if args.quick else 30.0)
    report = {"events": len(ours), "p50_us": round(float(np.percentile(ours, 50)), 2),
              "p99_us": round(float(np.percentile(ours, 99)), 2), "max_us": round(float(ours.max()), 1),
              "networkx_events": len(peer), "networkx_p50_us": round(float(np.percentile(peer, 50)), 2),
              "networkx_p99_us": round(float(np.percentile(peer, 99)), 2)}
    report["p99_ratio_networkx_over_finrisk"] = round(report["networkx_p99_us"] / max(report["p99_us"], 1e-9), 1)
    print(f"live graph: p50 {report['p50_us']} us, p99 {report['p99_us']} us over {len(ours):,} events",
          file=sys.stderr)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
