"""Replay throughput: history from the warehouse through the live decision code (features + rules).

Builds a workspace from a simulated world (load + flush), then times ``finrisk.decisions.replay``
with the demo rule set over the second half of the period (the first half warms the feature state
up). Also timed in the same run over the same ordered events: reading and ordering them alone
(``read_only_per_s``, DuckDB -> Python dicts), so what the decision code costs is visible. There is
no open replay engine to measure against; the issue's goal is 20,000 events/s on one core. CPU rates
(``*_cpu``, ``process_time``; DuckDB's threads included) are the steadier figures on a shared machine.
Replay computes only the features the rules read (``features_computed`` of ``features``).

    python benchmarks/replay.py [--quick]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from finrisk.config import init_workspace, load_workspace
from finrisk.decisions.replay import features_read_by, replay, warehouse_events
from finrisk.rules import load_ruleset
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store.ingest import load_path
from finrisk.store.warehouse import Warehouse

DEMO_RULES = Path(__file__).resolve().parents[1] / "src" / "finrisk" / "rules" / "demo_rules.yaml"


class NoLists:
    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small world (under a minute)")
    args = ap.parse_args()
    customers, days = (800, 6) if args.quick else (5000, 20)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        init_workspace(root / "ws")
        simulate_world(WorldConfig(customers=customers, days=days, seed=3), out_dir=root / "world", fmt="parquet")
        ws = load_workspace(root / "ws")
        load_path(ws, root / "world" / "events")
        with Warehouse.open(ws) as wh:
            wh.flush(all=True)
            first = wh.sql("SELECT min(event_time) AS t FROM events_transaction").column(0)[0].as_py()
            last = wh.sql("SELECT max(event_time) AS t FROM events_transaction").column(0)[0].as_py()
            t0, c0 = time.perf_counter(), time.process_time()
            n_read = sum(1 for _ in warehouse_events(wh, end=last + timedelta(seconds=1)))
            read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
        start = first + (last - first) / 2
        rules = load_ruleset(DEMO_RULES)
        lists = NoLists()
        names = None
        c0 = time.process_time()
        report = replay(ws, rules, start=start, end=last + timedelta(seconds=1), lists=lists, list_names=names)
        replay_cpu = time.process_time() - c0  # includes compiling the rules and loading profiles
    out = {
        "events": report.events + report.warmup_events,
        "decided": report.in_scope,
        "rules": len(rules.rules),
        "features": len(ws.features.names),
        # what replay computes: the features the rules read and their inputs (no model is deployed)
        "features_computed": len(features_read_by([rules.compile()], ws.features).names),
        "seconds": round(report.seconds, 2),
        "events_per_s": round(report.events_per_s, 1),
        "read_only_per_s": round(n_read / read_s, 1),
        "events_per_s_cpu": round((report.events + report.warmup_events) / replay_cpu, 1),
        "read_only_per_s_cpu": round(n_read / read_cpu, 1),
        "recall": report.to_dict()["candidate"]["recall"],
        "precision": report.to_dict()["candidate"]["precision"],
        "goal_events_per_s": 20000,
    }
    print(f"replay: {out['events_per_s']:,.0f} events/s ({out['events']:,} events, {out['decided']:,} decided); "
          f"reading alone {out['read_only_per_s']:,.0f} events/s; CPU time: {out['events_per_s_cpu']:,.0f} vs "
          f"{out['read_only_per_s_cpu']:,.0f} events/s")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
