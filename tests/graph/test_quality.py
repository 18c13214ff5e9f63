"""Detection quality: the simulator's injected loops, mules and rings, and the AMLSim samples (when present)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finrisk.graph.simcheck import scan_world
from finrisk.simulate import WorldConfig, simulate_world

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FINRISK_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate_world(WorldConfig(customers=4000, days=10, seed=21, fraud_share=0.04), out)
    return out


def test_simulated_loops_mules_and_rings_are_found(world: Path) -> None:
    result, scores = scan_world(world)
    for pattern in ("fund_loop", "mule_fan_in", "fraud_ring"):
        s = scores[pattern]
        assert s["labelled"] > 0, pattern
        assert s["recall"] >= 0.95 and s["precision"] >= 0.9, (pattern, s)
    assert set(result.seconds) >= {"build", "loops", "rings", "fan_in"}


@pytest.mark.slow
@pytest.mark.parametrize("sample", ["20K_cycle200.tgz", "20K_fanin200.tgz"])
def test_amlsim_benchmark_reports_node_level_scores(sample: str) -> None:
    path = SHARED / "amlsim" / sample
    if not path.exists():
        pytest.skip(f"AMLSim sample not found at {path} (set FINRISK_SHARED_DATA; see ../shared/data/README.md)")
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "graph_amlsim.py"), str(path)],
                         capture_output=True, text=True, check=True, timeout=240)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    pattern = "cycle" if "cycle" in sample else "fan_in"
    got = report["per_pattern"][pattern]
    assert report["labelled"] == got["labelled"] > 900
    # Found shapes must be mostly real laundering; recall is far below the 0.95 goal (see docs/graph.md).
    assert got["true_positives"] > 100
    assert got["precision"] >= 0.9
    assert got["recall"] >= 0.53
    # Group expansion adds members the split-payment detectors alone miss, at some cost in precision.
    seed = report["per_pattern_seed"][pattern]
    assert got["true_positives"] > seed["true_positives"] + 40
    assert seed["flagged"] == seed["true_positives"]
    # The other pattern's detectors flag few accounts here, and mostly laundering ones (the other pattern has
    # no accounts in this sample: its precision counts laundering of any pattern).
    other = report["per_pattern"]["fan_in" if pattern == "cycle" else "cycle"]
    assert other["labelled"] == 0
    assert other["flagged"] < 100 and other["precision_any"] >= 0.8
    assert report["attribution"]["method"] == "single pattern"
    assert report["precision"] >= 0.9
