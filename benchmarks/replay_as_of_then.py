"""``replay --as-of-then`` throughput, against a plain replay of the same decisions in the same run.

Builds a workspace from a simulated world: the first three quarters of its events are bulk-loaded
into the event log (history), the last quarter is decided one by one by the live
``DecisionService`` (durable log on), with a rule publish and ten devices blacklisted half-way. Then times
(CPU time, ``time.process_time``):

* ``as_of_then``: :func:`finrisk.decisions.as_of.replay_as_of_then` over the whole log: every
  stored decision reproduced with the rules, lists and models of its moment, compared field by
  field, and decided again as of now;
* ``plain`` (the peer): one ``DecisionEngine`` with the current rules, driven over the same events
  in the same order (features + rules once per decided event, no history, no comparison), which
  is the least any replay of these decisions costs.

    python benchmarks/replay_as_of_then.py [--quick]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from finrisk.config import init_workspace, load_workspace
from finrisk.decisions.as_of import replay_as_of_then
from finrisk.decisions.engine import ActiveRuleSet, DecisionEngine, workspace_rule_names
from finrisk.decisions.profiles import ProfileStore
from finrisk.decisions.service import DecisionService
from finrisk.events.validate import format_timestamp
from finrisk.features.online import OnlineFeatureEngine
from finrisk.rules import load_ruleset
from finrisk.rules.lists import ListStore
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store.embedded_log import open_log
from finrisk.store.ingest import load_path
from finrisk.store.relational import open_database


def _body(event: dict[str, Any]) -> dict[str, Any]:
    return {k: format_timestamp(v) if isinstance(v, datetime) else v for k, v in event.items() if v is not None}


def _build(root: Path, customers: int, days: int) -> tuple[int, int]:
    """The workspace at ``root/ws``; returns (history events, decided events)."""
    init_workspace(root / "src")
    simulate_world(WorldConfig(customers=customers, days=days, seed=3), out_dir=root / "world", fmt="parquet")
    src = load_workspace(root / "src")
    load_path(src, root / "world" / "events")
    with open_log(src) as log:
        events = [e for _, e in log.read_in_time_order()]
    cut = len(events) * 3 // 4
    init_workspace(root / "ws")
    ws = load_workspace(root / "ws")
    with open_log(ws) as log:
        for i in range(0, cut, 10_000):
            log.append(events[i:min(i + 10_000, cut)])
    with DecisionService.open(ws) as svc:
        name = svc.ruleset_name
        for i, event in enumerate(events[cut:]):
            if i == (len(events) - cut) // 2:  # halfway: a publish and a list add
                text = svc.rulesets.published(name).text
                svc.rulesets.publish(name, author="bench", message="bench edit", text=text + "\n# edited\n")
                devices = {e["device_id"] for e in events[cut:cut + 200] if e.get("device_id")}
                for device in sorted(devices)[:10]:  # earlier decisions on these would now be refused
                    svc.lists.add("blacklist", device, "bench: seen in a ring", added_by="bench")
                svc.reload_rules()
            svc.decide(_body(event))
    return cut, len(events) - cut


def _plain(root: Path) -> tuple[float, int]:
    """The peer: one engine, today's rules, the same events in the same order."""
    ws = load_workspace(root / "ws")
    with open_database(ws.database_url) as db:
        lists = ListStore(db, check_interval_ms=None)
        profiles = ProfileStore.from_warehouse(ws.warehouse_dir)
        names = workspace_rule_names(ws, lists=lists.list_names(), profiles=profiles)
        rules = load_ruleset(ws.root / ws.settings.rules.file)
        features = OnlineFeatureEngine(ws.features,
                                       allowed_lateness_us=ws.settings.features.allowed_lateness_seconds * 10**6)
        engine = DecisionEngine(features, ActiveRuleSet("plain", rules.compile(names=names)), lists=lists,
                                profiles=profiles)
        with open_log(ws) as log:
            first = log.query("SELECT min(e.seq) FROM events e JOIN decisions d ON d.event_id = e.event_id")[0][0]
            history = list(log.read_in_time_order(before_seq=first))
            live = list(log.read(after_seq=first - 1))
        t0 = time.process_time()
        for _, event in history:
            features.update(event)
        for _, event in live:
            engine.decide(event, decided_at=event["event_time"])
        seconds = time.process_time() - t0
        lists.close()
    return seconds, len(history) + len(live)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small world (under a minute)")
    args = ap.parse_args()
    customers, days = (300, 4) if args.quick else (2000, 10)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        history, decided = _build(root, customers, days)
        t0 = time.process_time()
        report = replay_as_of_then(load_workspace(root / "ws"))
        as_of_s = time.process_time() - t0
        plain_s, plain_events = _plain(root)
    out = {
        "events": report.events,
        "history_events": history,
        "decisions": report.decisions,
        "reproduced_exactly": report.reproduced,
        "mismatches": report.mismatch_count,
        "changed": report.changed_count,
        "as_of_then_cpu_s": round(as_of_s, 3),
        "as_of_then_events_per_s": round(report.events / as_of_s, 1),
        "as_of_then_decisions_per_s": round(report.decisions / as_of_s, 1),
        "plain_cpu_s": round(plain_s, 3),
        "plain_events_per_s": round(plain_events / plain_s, 1),
        "cost_vs_plain": round(as_of_s / plain_s, 2),
    }
    assert decided == report.decisions, (decided, report.decisions)
    print(f"as-of-then: {report.decisions:,} decisions ({report.events:,} events) in {as_of_s:.2f} s CPU, "
          f"{report.reproduced:,} reproduced exactly, {report.changed_count:,} would differ now; plain replay of the "
          f"same: {plain_s:.2f} s CPU ({out['cost_vs_plain']}x)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
