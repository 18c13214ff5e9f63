"""Model quality on the simulated world with the handbook's protocol; rules alone vs rules + model.

Simulates a world, loads it into a workspace, builds the transaction training set (demo features
+ amount, ground-truth labels known 7 days late) and runs the handbook protocol (Le Borgne et al.,
"Reproducible Machine Learning for Credit Card Fraud Detection", chapter 5): 7 days train, 7 days
delay, 7 days test, known-compromised entities removed from each test day as the handbook does,
four weekly folds, for LightGBM and logistic regression.

It also compares, at the *same review load* on each test period, the workspace's real rule set
(``rules.yaml``, the demo rules, compiled and evaluated per event with its features, no lists and
no model) with rules + model: the rules flag B events (action other than pass); rules + model
reviews the top B events by ``model score + 0.5 x rule flag``. The handbook's best published
figures (AUC 0.870, AP 0.687, CP@100 0.303) are on *its own* simulated card data, not this world:
printed for reference only (benchmarks/model_handbook.py runs on data of that kind).

    python benchmarks/model_quality.py [--quick]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from finrisk.config import Workspace, init_workspace, load_workspace
from finrisk.models.evaluate import evaluate_protocol
from finrisk.models.report import HANDBOOK_BEST
from finrisk.models.split import fold_data, rolling_folds
from finrisk.models.train import TrainParams, train_model
from finrisk.models.training_set import TrainingSet, build_training_set
from finrisk.rules.ruleset import load_ruleset
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store import Warehouse
from finrisk.store.ingest import load_path


def rule_flags(ws: Workspace, features_file: Path) -> tuple[dict[str, bool], dict[str, int]]:
    """Event id -> flagged (the rule set's action is not pass) for every transaction; hits per rule."""
    compiled = load_ruleset(ws.root / ws.settings.rules.file).compile()
    features = {r.pop("event_id"): r for r in pq.read_table(features_file).to_pylist()}
    with Warehouse.open(ws) as wh:
        events = wh.sql('SELECT * FROM "transaction"').to_pylist()
    flags: dict[str, bool] = {}
    per_rule: dict[str, int] = {}
    for event in events:
        at_us = int(event["event_time"].timestamp() * 1_000_000)
        result = compiled.evaluate(event, features.get(event["event_id"], {}), at_us=at_us)
        flags[event["event_id"]] = result.action.value != "pass"
        for hit in result.hits:
            per_rule[hit.rule] = per_rule.get(hit.rule, 0) + 1
    return flags, per_rule


def rules_vs_model(ts: TrainingSet, folds: list[Any], params: TrainParams, flags: dict[str, bool]) -> dict[str, Any]:
    caught = {"review_load": 0, "frauds": 0, "rules": 0, "rules_plus_model": 0, "fraud_amount": 0.0,
              "rules_amount": 0.0, "rules_plus_model_amount": 0.0}
    for fold in folds:
        data = fold_data(ts, fold)
        model = train_model(ts.x(data.train), data.y_train.to_numpy(), inputs=ts.inputs, params=params)
        score = model.predict(ts.x(data.test))
        hits = data.test["event_id"].map(flags).fillna(False).to_numpy(dtype=bool)
        y = data.y_test.to_numpy().astype(bool)
        amount = data.test["amount"].fillna(0).to_numpy()
        budget = int(hits.sum())
        top = np.argsort(-(score + 0.5 * hits), kind="stable")[:budget]
        chosen = np.zeros(len(y), dtype=bool)
        chosen[top] = True
        caught["review_load"] += budget
        caught["frauds"] += int(y.sum())
        caught["rules"] += int((hits & y).sum())
        caught["rules_plus_model"] += int((chosen & y).sum())
        caught["fraud_amount"] += float(amount[y].sum())
        caught["rules_amount"] += float(amount[hits & y].sum())
        caught["rules_plus_model_amount"] += float(amount[chosen & y].sum())
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in caught.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller world and smaller models")
    parser.add_argument("--customers", type=int, default=None)
    args = parser.parse_args()
    customers = args.customers or (800 if args.quick else 3000)
    params = [TrainParams(trees=100 if args.quick else 300), TrainParams(kind="logistic")]
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        init_workspace(root / "ws")
        simulate_world(WorldConfig(customers=customers, days=42, seed=7, fraud_share=0.1), out_dir=root / "world",
                       fmt="parquet")
        ws = load_workspace(root / "ws")
        load_path(ws, root / "world" / "events")
        with Warehouse.open(ws) as wh:
            wh.flush(all=True)
        timings["world_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ts = build_training_set(ws, event_type="transaction", label_delay=timedelta(days=7),
                                features_file=root / "features.parquet")
        timings["training_set_s"] = time.perf_counter() - t
        t = time.perf_counter()
        flags, per_rule = rule_flags(ws, root / "features.parquet")
        timings["rules_s"] = time.perf_counter() - t
    folds = rolling_folds(date(2026, 1, 1), train_days=7, delay_days=7, test_days=7, folds=4, step_days=7)
    t = time.perf_counter()
    ev = evaluate_protocol(ts, folds, params)
    timings["protocol_s"] = time.perf_counter() - t
    for r in ev.results:
        print(json.dumps(r.as_dict()))
    versus = rules_vs_model(ts, folds, params[0], flags)
    print(f"rules alone caught {versus['rules']} of {versus['frauds']} test frauds at a review load of "
          f"{versus['review_load']} events; rules + model caught {versus['rules_plus_model']} at the same load")
    figures = {
        "world": {"customers": customers, "days": 42, "seed": 7, "fraud_share": 0.1, "transactions": len(ts.frame),
                  "frauds": int(ts.labels_at(None).sum()), "inputs": len(ts.inputs)},
        "protocol": "4 weekly folds: 7 d train, 7 d delay, 7 d test; labels known 7 d late; known entities removed",
        "lightgbm": ev.mean("lightgbm"),
        "logistic": ev.mean("logistic"),
        "folds": [{"kind": r.kind, "auc": r.scores.as_dict()["auc"], "ap": r.scores.as_dict()["average_precision"],
                   "cp100": r.scores.as_dict()["card_precision_at_100"],
                   "cp100_ceiling": r.scores.as_dict()["card_precision_at_100_ceiling"]} for r in ev.results],
        "rules_vs_rules_plus_model": versus,
        "rule_hits_all_transactions": dict(sorted(per_rule.items())),
        "handbook_best_on_their_data": HANDBOOK_BEST,
        **{k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
