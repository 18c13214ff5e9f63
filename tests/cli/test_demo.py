from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from finrisk.cli.main import app
from finrisk.config import load_workspace
from finrisk.store import Warehouse

runner = CliRunner()


def test_demo_builds_a_queryable_workspace(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--dir", str(target), "--customers", "300", "--days", "5", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "Events by type" in result.output and "What to try next" in result.output
    assert "0 rejected" in result.output
    assert "fraud vs normal" in result.output
    assert (target / "features" / "transaction_features.parquet").is_file()
    assert "Per rule" in result.output and "impossible_travel" in result.output
    assert (target / "reports" / "rules_replay.html").read_text().startswith("<!doctype html>")
    assert (target / "rules.yaml").is_file() and (target / "lists.yaml").is_file()
    ws = load_workspace(target)
    with Warehouse.open(ws) as wh:
        n = wh.sql("SELECT count(*) AS n FROM login").column("n")[0].as_py()
        pending = wh.sql("SELECT count(*) AS n FROM labels_transaction WHERE label_is_fraud").column("n")[0]
    assert n > 300  # every customer logs in over five days
    assert pending.as_py() > 0
    assert list((ws.warehouse_dir / "events" / "event_type=login").glob("date=*/part-*.parquet"))

    # Running it again replaces the demo folder instead of piling up data.
    again = runner.invoke(app, ["demo", "--dir", str(target), "--customers", "300", "--days", "5", "--no-serve"])
    assert again.exit_code == 0, again.output
    with Warehouse.open(load_workspace(target)) as wh:
        assert wh.sql("SELECT count(*) AS n FROM login").column("n")[0].as_py() == n


def test_demo_refuses_to_wipe_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "was not made by 'finrisk demo'" in result.output
    assert (tmp_path / "precious.txt").read_text() == "keep me"
