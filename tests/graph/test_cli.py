from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app
from finrisk.simulate import WorldConfig, simulate_world


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("graphcli")
    simulate_world(WorldConfig(customers=800, days=4, seed=4, fraud_share=0.08), root / "world")
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(root / "ws")]).exit_code == 0
    result = runner.invoke(app, ["load", str(root / "world"), "-w", str(root / "ws")])
    assert result.exit_code == 0, result.output
    return root


def test_graph_scan_lists_alerts_and_writes_parquet(loaded: Path) -> None:
    out = loaded / "alerts.parquet"
    result = CliRunner().invoke(app, ["graph", "scan", "--from", "2026-01-01", "--to", "2026-02-01",
                                      "-w", str(loaded / "ws"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "loop" in result.output and "ring" in result.output and "alerts written" in result.output
    alerts = pd.read_parquet(out)
    assert {"loop", "ring"} <= set(alerts["typology"])
    assert alerts["nodes"].map(len).min() >= 2


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-02-01", "--to", "2026-01-01"], "'--to' parameter must be later than --from"),
    (["--from", "soon", "--to", "2026-01-01"], "'--from' parameter must be an ISO date"),
])
def test_graph_scan_rejects_bad_ranges_without_a_traceback(loaded: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["graph", "scan", *args, "-w", str(loaded / "ws")])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
