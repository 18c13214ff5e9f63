"""What recall an AMLSim sample allows: evidence classes and the oracle bound (labels only counted)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finrisk.graph.amlsim import AmlSimSample, evidence_classes, load_amlsim, recall_ceiling
from finrisk.graph.amlsim.ceiling import greedy_bound

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FINRISK_SHARED_DATA", ROOT.parent / "shared" / "data")) / "amlsim"


def test_greedy_bound_takes_the_richest_strata_and_stops_at_the_precision() -> None:
    tp, fp = greedy_bound(90, np.array([1.0, 10.0, 5.0]), np.array([99.0, 0.0, 5.0]), 0.9)
    # 90 granted + (10, 0) + (5, 5) = 105 / 110, then a part of (1, 99) until precision is exactly 0.9
    assert tp == pytest.approx(105 + 6 / 89)
    assert tp / (tp + fp) == pytest.approx(0.9)


def test_greedy_bound_is_above_every_choice_of_whole_strata() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        pos = rng.integers(0, 20, 8).astype(float)
        neg = rng.integers(0, 40, 8).astype(float)
        bound, _ = greedy_bound(50, pos, neg, 0.9)
        best = 50.0
        for r in range(1, 9):
            for pick in itertools.combinations(range(8), r):
                tp, fp = 50 + pos[list(pick)].sum(), neg[list(pick)].sum()
                if tp >= 0.9 * (tp + fp):
                    best = max(best, tp)
        assert best <= bound + 1e-9


def _toy() -> AmlSimSample:
    """Laundering 0-5 of one cycle pattern: 0->1->2 ran; 3 pays 2 (ordinary); 4 deals with 30 only; 5 with 3."""
    rows = [(0, 1, 10.0, 1, True), (1, 2, 10.0, 2, True), (3, 2, 300.0, 4, False), (4, 30, 200.0, 5, False),
            (5, 3, 100.0, 6, False)]
    rows += [(10 + i, 11 + i, 150.0, i, False) for i in range(30)]
    tx = pd.DataFrame(rows, columns=["src", "dst", "amount", "time", "laundering"])
    return AmlSimSample(transfers=tx, laundering=np.arange(6, dtype=np.int64), n_nodes=41,
                        listed_patterns=("cycle",))


def test_evidence_classes_count_each_labelled_account_once() -> None:
    classes = evidence_classes(_toy())
    want = {"labelled": 6, "laundering_transfer": 3, "same_pattern_link": 2, "other_laundering_link": 0,
            "no_laundering_link": 1}
    assert classes["cycle"] == want and classes["overall"] == want


def test_recall_ceiling_grants_the_ran_part_and_weighs_links() -> None:
    bound = recall_ceiling(_toy())["cycle"]
    assert bound["granted"] == 3
    # 3 (one link into the fragment {0, 1, 2}) is alone in its stratum, so the oracle takes it at no cost
    assert bound["first_order"]["recall"] >= 4 / 6
    assert bound["no_link"]["recall"] <= bound["first_order"]["recall"] <= bound["full"]["recall"] <= 1.0
    for summary in ("no_link", "first_order", "full", "linked_granted"):
        assert bound[summary]["precision"] >= 0.9 - 1e-9


@pytest.mark.parametrize("name", ["20K_cycle200.tgz", "20K_fanin200.tgz"])
def test_the_published_samples_cap_recall_below_the_goal(name: str) -> None:
    if not (SHARED / name).exists():
        pytest.skip(f"AMLSim samples not found in {SHARED} (set FINRISK_SHARED_DATA)")
    sample = load_amlsim(SHARED / name)
    classes = evidence_classes(sample)["overall"]
    assert sum(v for k, v in classes.items() if k != "labelled") == classes["labelled"] == len(sample.laundering)
    # a third never made a laundering transfer, yet almost all of them deal with another laundering account
    assert 0.25 <= 1 - classes["laundering_transfer"] / classes["labelled"] <= 0.4
    assert classes["no_laundering_link"] <= 0.02 * classes["labelled"]
    bounds = recall_ceiling(sample)
    bound = bounds["overall"]
    assert bound["linked_granted"]["recall"] >= 0.95  # the weak argument does not rule the goal out ...
    assert bound["full"]["recall"] < 0.9  # ... weighing the links as evidence does
    assert bound["first_order"]["recall"] < 0.8
    pattern = "cycle" if "cycle" in name else "fan_in"
    assert bounds[pattern]["full"]["recall"] < 0.9
    weak = bound["at_most_one_link_into_a_fragment"]
    assert weak["others"] >= 50 * weak["labelled"]
