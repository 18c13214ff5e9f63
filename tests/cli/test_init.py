from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from finrisk.cli.main import app

runner = CliRunner()


def test_init_then_error_on_second_init(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "Created workspace" in result.output
    again = runner.invoke(app, ["init", str(tmp_path / "ws")])
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "Traceback" not in again.output
