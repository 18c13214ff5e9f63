from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from finrisk.cli.commands import simulate


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    simulate.register(app)
    return app


def test_simulate_command_writes_world_and_prints_summary(tmp_path: Path) -> None:
    out = tmp_path / "w"
    result = CliRunner().invoke(_app(), ["simulate", "--customers", "120", "--days", "3", "--seed", "4",
                                         "--out", str(out), "--format", "jsonl", "--start", "2026-02-01"])
    assert result.exit_code == 0, result.output
    assert "events: total" in result.output and "fraud: fund_loop" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["start"] == "2026-02-01"
    assert (out / "events" / "login" / "part-00000.jsonl").exists()


def test_simulate_command_reports_bad_values(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(_app(), ["simulate", "--customers", "0", "--out", str(tmp_path)])
    assert bad.exit_code == 1
    assert "'customers' parameter of WorldConfig must be an integer > 0" in bad.output
    fmt = runner.invoke(_app(), ["simulate", "--format", "csv", "--out", str(tmp_path)])
    assert fmt.exit_code == 1 and "Got 'csv' instead" in fmt.output
    start = runner.invoke(_app(), ["simulate", "--start", "01/02/2026", "--out", str(tmp_path)])
    assert start.exit_code == 1 and "'--start' option must be a date" in start.output
