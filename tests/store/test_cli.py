"""``finrisk load``, ``flush``, ``sql`` and ``events`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from finrisk.cli.commands import events, flush, load, sql
from finrisk.config import Workspace

from .test_ingest import CSV


@pytest.fixture
def app() -> typer.Typer:
    """Only the store's commands, so a sibling command under construction cannot break these tests."""
    cli = typer.Typer()
    for module in (load, flush, sql, events):
        module.register(cli)
    return cli


@pytest.fixture
def loaded(app: typer.Typer, workspace: Workspace, tmp_path: Path) -> Workspace:
    src = tmp_path / "txns.csv"
    src.write_text(CSV)
    result = CliRunner().invoke(
        app, ["load", str(src), "-w", str(workspace.root), "--rejects", str(tmp_path / "r.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert "loaded" in result.output and "r.jsonl" in result.output
    return workspace


def test_load_flush_sql(app: typer.Typer, loaded: Workspace) -> None:
    runner = CliRunner()
    ws = ["-w", str(loaded.root)]
    out = runner.invoke(app, ["sql", 'SELECT event_id, amount FROM "transaction"', "--format", "json", *ws])
    assert out.exit_code == 0, out.output
    assert [json.loads(line) for line in out.output.splitlines()] == [{"event_id": "t1", "amount": 12.5}]
    out = runner.invoke(app, ["flush", "--all", *ws])
    assert out.exit_code == 0 and "Flushed 1 event(s) and 1 label row(s) in 2 file(s)" in out.output
    out = runner.invoke(app, ["sql", "SELECT event_id, label_fraud FROM labels_transaction", "-f", "csv", *ws])
    assert out.output.splitlines() == ['"event_id","label_fraud"', '"t1",1']
    out = runner.invoke(app, ["sql", "SELECT * FROM range(100)", "--limit", "5", *ws])
    assert out.exit_code == 0 and "100 row(s) (showing 5; use --limit)" in out.output


def test_sql_error_is_a_message_not_a_traceback(app: typer.Typer, workspace: Workspace) -> None:
    out = CliRunner().invoke(app, ["sql", "SELECT * FROM no_such_table", "-w", str(workspace.root)])
    assert out.exit_code == 1
    assert "error: query failed: Catalog Error" in out.output and "Traceback" not in out.output


def test_load_unreadable_file(app: typer.Typer, workspace: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"nope")
    out = CliRunner().invoke(app, ["load", str(bad), "-w", str(workspace.root)])
    assert out.exit_code == 1 and "cannot read as parquet" in out.output


def test_events_stats_and_get_hide_personal_data(app: typer.Typer, workspace: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "reg.jsonl"
    src.write_text(
        json.dumps(
            {
                "event_id": "r1",
                "event_type": "registration",
                "event_time": "2026-01-01T08:00:00Z",
                "customer_id": "C1",
                "account_id": "A1",
                "name": "Secret Person",
            }
        )
        + "\n"
    )
    runner = CliRunner()
    assert runner.invoke(app, ["load", str(src), "-w", str(workspace.root)]).exit_code == 0
    out = runner.invoke(app, ["events", "stats", "-w", str(workspace.root)])
    assert out.exit_code == 0 and "registration" in out.output
    out = runner.invoke(app, ["events", "get", "r1", "-w", str(workspace.root)])
    assert out.exit_code == 0 and "Secret Person" not in out.output and "hidden" in out.output
    out = runner.invoke(app, ["events", "get", "zz", "-w", str(workspace.root)])
    assert out.exit_code == 1 and "no stored event has id 'zz'" in out.output
