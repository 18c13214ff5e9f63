"""Detection quality on an IBM AMLSim sample: ``python benchmarks/graph_amlsim.py PATH.tgz [--quick]``.

The sample's transactions become transfers (``sourceNodeId -> targetNodeId``, ``value``, ``time`` in steps) and the
whole scan runs with parameters taken from AMLSim's own typology definitions, never fitted to the labels:

* AMLSim lays each alert on its base graph: the members' pairs are links of that graph, so ordinary payments
  run over them, and the alert's own payments come on top (split into legs in one step in the 2019 samples,
  one transaction per hop in AMLSim's current ``FanInTypology``/``CycleTypology``); an ordinary pair carries
  one transfer. So a pair paying >= 2 times *anywhere in the sample* is the seed -> ``min_legs=2``,
  ``leg_window`` = the sample's whole span (``--leg-window 1`` gives the earlier one-step split payments: on
  one-transfer-per-hop data they vanish, see docs/graph.md part G);
* cycle (AMLSim ``CycleTransactionModel``): every member passes the *same* amount to the next member, at steps
  drawn inside the alert period, not necessarily in ring order -> loops with ``ordered=False``,
  ``amount_tolerance=0.01`` (rounding), 2-6 intermediaries, window = the sample's whole span; and, because many
  cycles have not completed when the sample ends, layering chains of >= 3 hops carrying exactly the same
  amount (unordered) plus chains of >= 2 split hops with the same amount (``split_chains``);
* fan-in (``FanInTransactionModel``): one receiver, each sender making its payment at its own step ->
  structured fan-in with >= 2 repeat-paying senders, window = whole span (no amount band: ordinary and laundering
  amounts are told apart by nothing here);
* then every loop, chain and structured fan-in alert is grown by group expansion (``finrisk.graph.expansion``,
  default ``ExpandParams``): AMLSim links an alert's members pairwise in its base graph and ordinary payments run
  over those links, so the members whose laundering had not run when the sample ends are the accounts with
  significantly many links (payment directions) into the detected part (Poisson tail <= 1e-4, >= 2 links,
  3 rounds).

Input: any AMLSim layout (``sample/``, older and newer ``outputs/``), a .tgz or a directory
(``finrisk.graph.amlsim``); ``--mixed`` scores several data sets as one (ids offset), ``--one-transfer-per-hop``
merges each pair's transfers in one step first (docs/graph.md part G).

Counting (node level): a node is *flagged* for a pattern when it is a member of at least one alert of that
pattern's typologies (``loop`` or ``chain`` for cycle, ``structured_fan_in`` for fan-in); *labelled* for a
pattern when the data puts it in that pattern (``attribute_patterns``: the data's alert types, else the one
pattern ``metadata.txt`` lists, else the shape of the account's own laundering transfers and its links --
never detector output; ``attribution`` in the JSON says which). Precision = flagged and labelled / flagged;
recall = flagged and labelled / labelled; ``precision_any`` counts flagged laundering accounts of any pattern.
``overall`` is the union of every alert's members against every laundering account (``isFraud`` / SAR).
The last stdout line is one JSON object with ``precision``, ``recall`` overall and ``per_pattern`` (after
expansion), ``per_pattern_seed`` (the repeated-payment detectors alone, before expansion), plus
``per_pattern_before``: the same counting for the detectors used before split payments (loops and exact chains
>= 3 hops for cycle; the amount-band fan-in, >= 3 senders within 1%, for fan-in), run on the same data;
``patterns`` (every attributed pattern with ``recall_any_alert``), ``attribution``, ``leg_window`` and ``ceiling``:
how many laundering accounts the data lets any transfer-reading detector reach, and the recall bound at
precision 0.9 (``finrisk.graph.amlsim.ceiling``; the labels only count there).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from finrisk.errors import FinriskError
from finrisk.graph import ChainParams, FanParams, LoopParams, ScanParams, SplitFanParams, flagged_nodes, scan
from finrisk.graph.amlsim import (
    AmlSimSample,
    attribute_patterns,
    evidence_classes,
    load_amlsim,
    node_scores,
    one_transfer_per_hop,
    pattern_scores,
    recall_ceiling,
    union_samples,
)

TYPOLOGY = {"cycle": ("loop", "chain"), "fan_in": ("structured_fan_in",)}
TYPOLOGY_BEFORE = {"cycle": ("loop", "chain"), "fan_in": ("fan_in",)}
COUNTING = ("node level: flagged = member of an alert of the pattern's typologies; labelled = the laundering "
            "accounts attributed to the pattern (see attribution: the data's labels, one listed pattern, or the "
            "shape of their own laundering transfers and links, never detector output); overall: member of any "
            "alert against every laundering account; precision = tp / flagged, recall = tp / labelled; "
            "precision_any = flagged that launder in any pattern / flagged")


def amlsim_params(span: int, leg_window: int | None = None) -> ScanParams:
    """Scan parameters from AMLSim's typology definitions (see the module docstring)."""
    window = max(span, 1)
    legs = window if leg_window is None else leg_window
    return ScanParams(
        loops=LoopParams(ordered=False, amount_tolerance=0.01, window=window),
        chains=ChainParams(min_hops=3, ordered=False, amount_tolerance=0.0, max_increase=0.0, window=window),
        split_chains=ChainParams(min_hops=2, ordered=False, amount_tolerance=0.0, max_increase=0.0, window=window,
                                 min_legs=2, leg_window=legs),
        structured_fan_in=SplitFanParams(min_legs=2, leg_window=legs, min_senders=2, window=window),
        split_groups=SplitFanParams(min_legs=2, leg_window=legs, min_senders=1),
        skip=frozenset({"fan_in", "fan_out", "scatter_gather", "gather_scatter", "pass_through", "rings",
                        "propagation"}),
    )


def before_params(span: int) -> ScanParams:
    """The detectors used before split payments were followed (kept to report before/after in one run)."""
    window = max(span, 1)
    return ScanParams(
        loops=LoopParams(ordered=False, amount_tolerance=0.01, window=window),
        chains=ChainParams(min_hops=3, ordered=False, amount_tolerance=0.0, max_increase=0.0, window=window),
        fan_in=FanParams(min_counterparties=3, amount_tolerance=0.01, window=window),
        expand=None,
        skip=frozenset({"structured_fan_in", "fan_out", "scatter_gather", "gather_scatter", "pass_through",
                        "rings", "propagation"}),
    )


def _per_pattern(alerts: list[Any], members: dict[str, frozenset[int]], laundering: set[int],
                 typologies: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    return {name: pattern_scores(set().union(*(flagged_nodes(alerts, t) for t in typs)),
                                 set(members.get(name, frozenset())), laundering)
            for name, typs in typologies.items()}


def _frame(sample: AmlSimSample) -> pd.DataFrame:
    tx = sample.transfers
    return pd.DataFrame({"account_id": tx["src"], "counterparty_account": tx["dst"], "amount": tx["amount"],
                         "event_time": tx["time"]})


def evaluate(sample: AmlSimSample, name: str, leg_window: int | None = None) -> dict[str, Any]:
    """Scan ``sample`` and count node-level precision and recall overall and per pattern."""
    tx = sample.transfers
    frame = _frame(sample)
    span = int(tx["time"].max() - tx["time"].min()) + 1 if len(tx) else 1
    t0 = time.perf_counter()
    params = amlsim_params(span, leg_window)
    result = scan(frame, params=params)
    seconds = time.perf_counter() - t0
    alerts = result.alerts
    seed = scan(frame, params=params.model_copy(update={"expand": None, "split_groups": None}))
    laundering = set(sample.laundering.tolist())
    attribution = attribute_patterns(sample)
    members = attribution.members
    anywhere = flagged_nodes(alerts)
    overall = node_scores(anywhere, laundering)
    before = scan(frame, params=before_params(span))
    return {"sample": name, "layout": sample.layout, "nodes": sample.n_nodes, "transfers": len(tx),
            "labelled": len(laundering), "precision": overall["precision"], "recall": overall["recall"],
            "per_pattern": _per_pattern(alerts, members, laundering, TYPOLOGY),
            "per_pattern_seed": _per_pattern(seed.alerts, members, laundering, TYPOLOGY),
            "split_group": node_scores(flagged_nodes(alerts, "split_group"), laundering),
            "per_pattern_before": _per_pattern(before.alerts, members, laundering, TYPOLOGY_BEFORE),
            "patterns": {p: {"labelled": len(m), "recall_any_alert": node_scores(anywhere, set(m))["recall"]}
                         for p, m in members.items()},
            "attribution": {"method": attribution.method, "steps": attribution.steps,
                            "unattributed": len(attribution.unattributed),
                            "listed_patterns": list(sample.listed_patterns)},
            "ceiling": {"classes": evidence_classes(sample), "recall_at_precision_0_9": recall_ceiling(sample)},
            "leg_window": params.split_groups.leg_window if params.split_groups else None,
            "counting": COUNTING, "alerts": result.counts, "scan_seconds": round(seconds, 3),
            "expand_cpu_seconds": result.cpu_seconds.get("expand", 0.0), "step_seconds": result.seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="AMLSim data sets (.tgz or directory, any layout)")
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry; a 20K sample is already quick")
    parser.add_argument("--mixed", nargs="?", const="metadata", choices=["metadata", "labels"], default=None,
                        help="score the given data sets as one (ids offset); patterns from metadata + shape "
                             "(default) or carried as per-account labels")
    parser.add_argument("--one-transfer-per-hop", action="store_true",
                        help="merge each pair's transfers in one step into one transfer of their sum first")
    parser.add_argument("--leg-window", type=int, default=None,
                        help="steps within which repeated payments of a pair count (default: the whole span)")
    args = parser.parse_args(argv)
    try:
        samples = [(p.name, load_amlsim(p)) for p in args.paths]
    except FinriskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.mixed:
        union = union_samples([s for _, s in samples], keep_labels=args.mixed == "labels")
        samples = [("+".join(n for n, _ in samples) + f" (mixed, {args.mixed})", union)]
    if args.one_transfer_per_hop:
        samples = [(f"{n} (one transfer per hop)", one_transfer_per_hop(s)) for n, s in samples]
    results = [evaluate(s, n, args.leg_window) for n, s in samples]
    for r in results:
        print(f"{r['sample']}: precision {r['precision']:.3f} recall {r['recall']:.3f} "
              f"({r['alerts']}) in {r['scan_seconds']:.2f}s", file=sys.stderr)
    print(json.dumps(results[0] if len(results) == 1 else {"samples": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
