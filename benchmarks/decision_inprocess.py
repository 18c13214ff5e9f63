"""In-process decisions: the ~40-feature demo set plus a 50-rule set, one core, per-event latency.

Simulates a world, orders its events by ``(event_time, event_id)``, warms the feature state up on
the first half and then times :meth:`finrisk.decisions.engine.DecisionEngine.decide` (features ->
rules -> action, the code the live service and replay both run) on every event of the second half.
The rule set is the demo rule set topped up to 50 rules with threshold variants over the demo
features. Also timed in the same run, over the same events:

* ``features_only``: the feature engine alone (what the rules add is the difference);
* ``service``: the whole live path without HTTP: validation, decision, and the durable log
  (group commit, ``durability=os``), one caller at a time, so each decision waits for its commit.

There is no open peer for a whole decision; the anchor is Ant CTU's published 100 ms per event
(PRODUCT.md), and the issue's goal is p99 under 300 µs and 20,000 decisions/s.

    python benchmarks/decision_inprocess.py [--quick]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from features_online import feature_set, load_events  # noqa: E402

from finrisk.decisions.engine import ActiveRuleSet, DecisionEngine  # noqa: E402
from finrisk.decisions.writer import GroupCommitWriter  # noqa: E402
from finrisk.features.online import OnlineFeatureEngine  # noqa: E402
from finrisk.rules import RuleSet, parse_ruleset  # noqa: E402
from finrisk.store.embedded_log import EmbeddedEventLog  # noqa: E402

DEMO_RULES = Path(__file__).resolve().parents[1] / "src" / "finrisk" / "rules" / "demo_rules.yaml"

# threshold variants over demo features: (feature, event types, thresholds)
_VARIANTS = [
    ("customer_txns_1h", "transaction", [5, 8, 12, 20]),
    ("customer_amount_24h", "transaction", [20000, 50000, 100000]),
    ("payee_senders_1h", "transaction", [3, 5, 10]),
    ("device_accounts_24h", "login", [3, 5, 8]),
    ("customer_login_devices_24h", "login", [2, 3, 4, 6]),
    ("card_payment_cities_1h", "transaction", [2, 3]),
    ("device_loan_apps_1h", "loan_application", [2, 3, 5]),
    ("amount_zscore_30d", "transaction", [3, 4, 6]),
    ("customer_failed_logins_1h", "login", [3, 5, 10]),
    ("account_amount_out_24h", "transaction", [30000, 80000]),
]


def rule_set(total: int = 50) -> RuleSet:
    """The demo rules, topped up with threshold variants to ``total`` rules."""
    text = DEMO_RULES.read_text(encoding="utf-8")
    base = parse_ruleset(text, file=str(DEMO_RULES))
    extra: list[str] = []
    n = len(base.rules)
    for feature, etype, thresholds in _VARIANTS:
        for th in thresholds:
            if n >= total:
                break
            extra.append(
                f"  - name: bench_{feature}_{th}\n"
                f"    description: {feature} at or above {th}.\n"
                f"    events: [{etype}]\n"
                f"    when: features.{feature} >= {th} and not lists.bench_allow.contains(event.customer_id)\n"
                f"    action: review\n"
                f"    score: 10\n"
                f"    reason: \"{feature} is {{features.{feature}}}\"\n")
            n += 1
    if "\nrules:\n" not in text:
        raise SystemExit("demo_rules.yaml: expected a top-level 'rules:' list")
    return parse_ruleset(text.rstrip("\n") + "\n" + "".join(extra), file="bench_rules.yaml")


class NoLists:
    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        return False


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small world (under a minute)")
    args = ap.parse_args()
    customers, days = (1500, 6) if args.quick else (6000, 20)
    events = load_events(customers, days, seed=11)
    fs = feature_set()
    rules = rule_set(50)
    half = len(events) // 2
    warm, timed = events[:half], events[half:]

    def fresh_engine() -> DecisionEngine:
        feats = OnlineFeatureEngine(fs, allowed_lateness_us=3_600_000_000)
        for e in warm:
            feats.update(e)
        return DecisionEngine(feats, ActiveRuleSet("bench@1", rules.compile()), lists=NoLists())

    # features only
    feats = OnlineFeatureEngine(fs, allowed_lateness_us=3_600_000_000)
    for e in warm:
        feats.update(e)
    gc.collect()
    gc.disable()
    f_lat: list[float] = []
    clock = time.perf_counter_ns
    c0 = time.process_time()
    t0 = clock()
    for e in timed:
        s = clock()
        feats.process(e)
        f_lat.append((clock() - s) / 1000)
    f_total = (clock() - t0) / 1e9
    f_cpu = time.process_time() - c0
    gc.enable()

    # whole decision
    engine = fresh_engine()
    gc.collect()
    gc.disable()
    lat: list[float] = []
    actions: dict[str, int] = {}
    c0 = time.process_time()
    t0 = clock()
    for e in timed:
        s = clock()
        d = engine.decide(e)
        lat.append((clock() - s) / 1000)
        actions[d.action] = actions.get(d.action, 0) + 1
    total = (clock() - t0) / 1e9
    cpu = time.process_time() - c0
    gc.enable()

    # the live path without HTTP: decision + durable log, one caller at a time
    n_service = min(len(timed), 3000 if args.quick else 20000)
    engine = fresh_engine()
    s_lat: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        log = EmbeddedEventLog(Path(d) / "events.sqlite", durability="os")
        writer = GroupCommitWriter(log)
        for e in timed[:n_service]:
            s = clock()
            dec = engine.decide(e)
            writer.submit(e, (dec.decision_id, orjson.dumps(dec.to_dict()))).result()
            s_lat.append((clock() - s) / 1000)
        writer.close()
        log.close()

    result: dict[str, Any] = {
        "events": len(timed),
        "features": len(fs.names),
        "rules": len(rules.rules),
        "decisions_per_s": round(len(timed) / total, 1),
        # CPU time (process_time): what other processes on a shared machine do not inflate
        "decisions_per_s_cpu": round(len(timed) / cpu, 1),
        "p50_us": round(statistics.median(lat), 1),
        "p99_us": round(percentile(lat, 0.99), 1),
        "p999_us": round(percentile(lat, 0.999), 1),
        "features_only_per_s": round(len(timed) / f_total, 1),
        "features_only_per_s_cpu": round(len(timed) / f_cpu, 1),
        "features_only_p50_us": round(statistics.median(f_lat), 1),
        "features_only_p99_us": round(percentile(f_lat, 0.99), 1),
        "service_p50_us": round(statistics.median(s_lat), 1),
        "service_p99_us": round(percentile(s_lat, 0.99), 1),
        "service_durability": "os",
        "actions": actions,
        "anchor_ctu_ms": 100,
        "goal_p99_us": 300,
        "goal_decisions_per_s": 20000,
    }
    print(f"{result['decisions_per_s']:,.0f} decisions/s ({result['decisions_per_s_cpu']:,.0f}/s of CPU), "
          f"p50 {result['p50_us']} µs, p99 {result['p99_us']} µs "
          f"({result['rules']} rules, {result['features']} features); features alone p99 "
          f"{result['features_only_p99_us']} µs; with the durable log p99 {result['service_p99_us']} µs")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
