"""Scorecard fit on a wide synthetic table: finrisk vs optbinning (BinningProcess + Scorecard), one core each.

The table has 50 numeric columns (normal, log-normal, integer counts, some with missing values and a
-999 special code) and 10 text columns (4 to 40 levels); the bad flag follows a logistic model of a
third of them through monotone and U-shaped effects. Each peer fits the whole raw frame to a scorecard
(binning, selection, logistic regression, points) in a fresh child process pinned to one core, so the
peak-memory figure (peak RSS minus RSS before ``fit``, libraries already imported) belongs to that fit alone.

    python benchmarks/scorecard_binning.py            # 200,000 x 60: 3 runs each; 2,000,000 x 60 finrisk
    python benchmarks/scorecard_binning.py --quick    # 200,000 x 60: 2 finrisk runs, 1 optbinning run

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import psutil

N_NUMERIC = 50
N_TEXT = 10


def make_table(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    z = np.full(n_rows, -2.2)
    for j in range(N_NUMERIC):
        kind = j % 5
        if kind == 0:
            x = rng.normal(0, 1, n_rows)
        elif kind == 1:
            x = rng.lognormal(8, 1, n_rows)
        elif kind == 2:
            x = rng.poisson(3, n_rows).astype(np.float64)
        elif kind == 3:
            x = rng.uniform(0, 100, n_rows)
        else:
            x = rng.normal(600, 80, n_rows)
            x[rng.random(n_rows) < 0.05] = -999.0
        if j % 7 == 0:
            x[rng.random(n_rows) < 0.1] = np.nan
        if j % 3 == 0:  # a third of the columns carry signal
            regular = np.where(np.isnan(x) | (x == -999.0), np.nanmedian(x), x)
            rank = (np.argsort(np.argsort(regular)) / n_rows) - 0.5
            z += 0.8 * rank if j % 2 == 0 else 2.0 * rank**2
        cols[f"num_{j:02d}"] = x
    for j in range(N_TEXT):
        levels = np.array([f"level_{k}" for k in range(4 + 4 * j)], dtype=object)
        v = rng.choice(levels, n_rows)
        if j % 2 == 0:
            z += np.where(np.isin(v, levels[:2]), 0.6, 0.0)
        cols[f"text_{j}"] = v
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return pd.DataFrame(cols), y


def fit_finrisk(X: pd.DataFrame, y: np.ndarray) -> int:
    from finrisk.scoring import Scorecard

    card = Scorecard(special_codes=[-999]).fit(X, y)
    return len(card.model_.variables)


def fit_optbinning(X: pd.DataFrame, y: np.ndarray) -> int:
    from optbinning import BinningProcess
    from optbinning import Scorecard as OptScorecard
    from sklearn.linear_model import LogisticRegression

    names = list(X.columns)
    text = [c for c in names if c.startswith("text_")]
    process = BinningProcess(names, categorical_variables=text, special_codes=[-999])
    card = OptScorecard(binning_process=process, estimator=LogisticRegression(max_iter=1000),
                        scaling_method="min_max", scaling_method_params={"min": 350, "max": 950})
    card.fit(X, y)
    return int(card.binning_process_.get_support().sum())


def worker(peer: str, n_rows: int) -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if peer == "finrisk":  # import before the baseline: the figure is the fit's memory, not the libraries'
        import finrisk.scoring  # noqa: F401
    else:
        import optbinning  # noqa: F401
    X, y = make_table(n_rows)
    before = psutil.Process().memory_info().rss
    cpu_before = time.process_time()
    start = time.perf_counter()
    n_vars = fit_finrisk(X, y) if peer == "finrisk" else fit_optbinning(X, y)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mb": max(0, peak - before) / 2**20,
                      "variables": n_vars}))


def run(peer: str, n_rows: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--worker", peer, "--rows", str(n_rows)], env=env,
                         capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, no 2M-row scaling (under a minute)")
    parser.add_argument("--worker", choices=["finrisk", "optbinning"], help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=200_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows)
        return
    repeats = {"finrisk": 2 if args.quick else 3, "optbinning": 1 if args.quick else 3}
    figures: dict[str, Any] = {"benchmark": "scorecard_binning", "rows": 200_000, "columns": N_NUMERIC + N_TEXT,
                               "quick": args.quick}
    runs: dict[str, list[dict[str, float]]] = {}
    for peer, times in repeats.items():
        try:
            runs[peer] = [run(peer, 200_000) for _ in range(times)]
        except subprocess.CalledProcessError as exc:
            print(f"{peer}: failed: {exc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        secs = [r["seconds"] for r in runs[peer]]
        figures[peer] = {"fit_s_median": round(statistics.median(secs), 3), "fit_s_all": [round(s, 3) for s in secs],
                         "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs[peer]), 3),
                         "peak_mb_median": round(statistics.median(r["peak_mb"] for r in runs[peer]), 1),
                         "variables": runs[peer][0]["variables"]}
        print(f"{peer:>10}: fit {figures[peer]['fit_s_median']:.2f} s median of {secs}, "
              f"+{figures[peer]['peak_mb_median']:.0f} MB peak", file=sys.stderr)
    if "finrisk" in figures and "optbinning" in figures:
        figures["speedup_vs_optbinning"] = round(figures["optbinning"]["fit_s_median"]
                                                 / figures["finrisk"]["fit_s_median"], 2)
        figures["cpu_speedup_vs_optbinning"] = round(figures["optbinning"]["cpu_s_median"]
                                                     / figures["finrisk"]["cpu_s_median"], 2)
    if not args.quick:
        big = run("finrisk", 2_000_000)
        figures["finrisk_2m_rows"] = {"fit_s": round(big["seconds"], 2), "cpu_s": round(big["cpu_s"], 2),
                                      "peak_mb": round(big["peak_mb"], 1),
                                      "ratio_to_200k": round(big["seconds"] / figures["finrisk"]["fit_s_median"], 1)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
