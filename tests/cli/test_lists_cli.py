"""``finrisk lists`` and the rule-set version commands, run through Typer against a temp workspace."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from finrisk.cli.commands import rule_versions
from finrisk.cli.main import app
from finrisk.config import init_workspace
from finrisk.rules.lists import ListStore
from finrisk.store.relational import now_us, open_database

runner = CliRunner()
PHONE = "13800138000"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    init_workspace(tmp_path / "ws")
    return tmp_path / "ws"


def _run(ws: Path, *args: str) -> str:
    result = runner.invoke(app, ["lists", *args, "-w", str(ws)])
    assert result.exit_code == 0, result.output
    return result.output


def test_create_add_show_masked_and_revealed(ws: Path) -> None:
    _run(ws, "create", "phone_black", "--kind", "black", "--field", "phone", "-d", "mule phones")
    out = _run(ws, "add", "phone_black", PHONE, "--reason", "mule ring", "--ttl", "30d", "--by", "ana")
    assert "13*******00 is on phone_black until" in out and PHONE not in out
    shown = _run(ws, "show", "phone_black")
    assert "13*******00" in shown and PHONE not in shown and "mule ring" in shown and "ana" in shown
    assert PHONE in _run(ws, "show", "phone_black", "--reveal")
    listing = _run(ws, "show")
    assert "phone_black" in listing and "mule phones" in listing
    with open_database(f"sqlite:///{ws / 'state' / 'finrisk.db'}") as db:
        assert ListStore(db).contains("phone_black", PHONE, now_us())


def test_remove_audit_and_errors(ws: Path) -> None:
    _run(ws, "create", "phone_black", "--kind", "black", "--field", "phone")
    _run(ws, "add", "phone_black", PHONE, "-r", "mule", "--by", "ana")
    _run(ws, "remove", "phone_black", PHONE, "--by", "bo")
    audit = _run(ws, "audit", "phone_black")
    assert "remove" in audit and "add" in audit and "create_list" in audit and PHONE not in audit
    missing = runner.invoke(app, ["lists", "remove", "phone_black", PHONE, "-w", str(ws)])
    assert missing.exit_code == 1 and "has no entry for a str of 11 characters" in missing.output
    assert PHONE not in missing.output


def test_bad_arguments_are_one_line_errors(ws: Path) -> None:
    bad_field = runner.invoke(app, ["lists", "create", "x", "--kind", "black", "--field", "nope", "-w", str(ws)])
    assert bad_field.exit_code == 1 and "--field: expected an entity-key field" in bad_field.output
    assert "device_id" in bad_field.output and "Traceback" not in bad_field.output
    bad_kind = runner.invoke(app, ["lists", "create", "x", "--kind", "blue", "--field", "ip", "-w", str(ws)])
    assert bad_kind.exit_code == 2 and "'blue' is not one of" in bad_kind.output
    _run(ws, "create", "ips", "--kind", "grey", "--field", "ip")
    bad_ttl = runner.invoke(app, ["lists", "add", "ips", "1.2.3.4", "-r", "x", "--ttl", "3q", "-w", str(ws)])
    assert bad_ttl.exit_code == 2 and "expected a duration such as 10m" in bad_ttl.output
    no_list = runner.invoke(app, ["lists", "show", "nope", "-w", str(ws)])
    assert no_list.exit_code == 1 and "no list named 'nope'" in no_list.output


def test_import_export_and_delete(ws: Path, tmp_path: Path) -> None:
    _run(ws, "create", "devices", "--kind", "black", "--field", "device_id")
    good = tmp_path / "good.csv"
    good.write_text("value,reason,expires_at\nD1,farm,\nD2,farm,2099-01-01T00:00:00Z\n")
    assert "imported 2 rows into devices: 2 added, 0 updated" in _run(ws, "import", "devices", str(good))
    bad = tmp_path / "bad.csv"
    bad.write_text("value,reason\nD3,x\n,y\n")
    failed = runner.invoke(app, ["lists", "import", "devices", str(bad), "-w", str(ws)])
    assert failed.exit_code == 1 and "row 3, value: expected a non-empty value" in failed.output
    exported = _run(ws, "export", "devices")
    assert exported.splitlines() == ["value,reason,expires_at", "D1,farm,", "D2,farm,2099-01-01T00:00:00.000000Z"]
    out = tmp_path / "out.csv"
    _run(ws, "export", "devices", str(out))
    assert out.read_text().splitlines() == exported.splitlines()
    assert "deleted list devices (2 entries)" in _run(ws, "delete", "devices", "--yes")
    assert "devices" not in _run(ws, "show")


def _rules_app() -> typer.Typer:
    rules = typer.Typer()
    rule_versions.register(rules)
    root = typer.Typer()
    root.add_typer(rules, name="rules")
    return root


def test_rule_version_commands(ws: Path, tmp_path: Path) -> None:
    rules = _rules_app()

    def run(*args: str) -> str:
        result = runner.invoke(rules, ["rules", *args, "-w", str(ws)])
        assert result.exit_code == 0, result.output
        return result.output

    file = tmp_path / "payments.yaml"
    file.write_text("name: payments\nrules:\n  - name: big\n    when: event.amount > 5000\n")
    assert "published payments version 1" in run("publish", str(file), "-m", "first", "--by", "ana")
    file.write_text("name: payments\nrules:\n  - name: big\n    when: event.amount > 9000\n"
                    "  - name: new\n    when: x\n")
    assert "published payments version 2" in run("publish", str(file), "-m", "second", "--by", "bo")
    again = runner.invoke(rules, ["rules", "publish", str(file), "-m", "again", "-w", str(ws)])
    assert again.exit_code == 1 and "identical to the live version 2" in again.output
    history = run("history", "payments")
    assert "live" in history and "second" in history and "first" in history
    diff = run("diff", "payments")
    assert "added    new" in diff and "changed  big (when)" in diff and "+    when: event.amount > 9000" in diff
    assert "version 3 is live (the text of version 1)" in run("rollback", "payments", "1", "-m", "too strict")
    assert "event.amount > 5000" in run("export", "payments")
    assert "9000" in run("export", "payments", "--version", "2")
    assert "shadow version 2" in run("shadow", "payments", "2", "--by", "cy")
    assert "shadow version 2" in run("shadow", "payments")
    assert "no shadow version" in run("shadow", "payments", "--clear")
    audit = run("audit", "payments")
    assert "rollback" in audit and "set_shadow" in audit and "clear_shadow" in audit
    missing = runner.invoke(rules, ["rules", "history", "nope", "-w", str(ws)])
    assert missing.exit_code == 1 and "no published rule set named 'nope'" in missing.output
