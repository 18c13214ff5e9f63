"""Data and error texts are printed as text: brackets in them are never read as rich markup."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from finrisk.cli.main import app

runner = CliRunner()


def test_sql_prints_bracketed_values_and_names_verbatim(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["sql", "-w", str(tmp_path), "SELECT '[red]x[/red]' AS \"[b]col\", '[1,2]' AS v"])
    assert result.exit_code == 0, result.output
    assert "[red]x[/red]" in result.output and "[b]col" in result.output and "[1,2]" in result.output


def test_error_messages_keep_their_brackets(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    (tmp_path / "features.yaml").unlink()
    result = runner.invoke(app, ["features", "build", "-w", str(tmp_path), "--events", "login", "--out", "x.parquet"])
    assert result.exit_code == 1
    assert "[features] files in finrisk.toml" in result.output
