"""``finrisk rules validate`` and ``finrisk rules test``: clear output, clear errors, no tracebacks."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app

runner = CliRunner()
RULES = """\
name: cli
rules:
  - name: big_transfer
    events: [transaction]
    when: event.txn_type == 'transfer' and event.amount >= 5000
    action: review
    reason: Transfer of {event.amount}
  - name: many_devices
    events: [login]
    when: features.customer_login_devices_24h >= 3
    action: challenge
    method: face
"""


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def test_validate_prints_the_rules_and_fingerprint(rules_file: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["rules", "validate", str(rules_file)])
    assert result.exit_code == 0, result.output
    assert "big_transfer" in result.output and "many_devices" in result.output
    assert "built-in event types" in result.output and "fingerprint " in result.output


def test_validate_demo_rules_against_a_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    with resources.as_file(resources.files("finrisk.rules").joinpath("demo_rules.yaml")) as demo:
        result = runner.invoke(app, ["rules", "validate", str(demo), "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert "features" in result.output and "ok: names checked against workspace" in result.output


def test_validate_reports_errors_with_position_and_no_traceback(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace("event.amount >= 5000", "event.amount >= 5000 and event.__class__"),
                   encoding="utf-8")
    result = runner.invoke(app, ["rules", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:5:" in result.output and "'__class__' is not an allowed name" in result.output
    assert "^" in result.output and "Traceback" not in result.output
    unknown_type = tmp_path / "t.yaml"
    unknown_type.write_text(RULES.replace("[login]", "[logn]"), encoding="utf-8")
    result = runner.invoke(app, ["rules", "validate", str(unknown_type)])
    assert result.exit_code == 1 and "unknown event type 'logn' (did you mean 'login'?)" in result.output


def test_test_evaluates_one_event(rules_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    event = {"event_type": "transaction", "txn_type": "transfer", "amount": 7000, "account_id": "A1"}
    result = runner.invoke(app, ["rules", "test", str(rules_file), "--event", json.dumps(event)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["action"] == "review" and out["reasons"] == ["Transfer of 7000"]
    assert out["conditions"] == {"big_transfer": "true", "many_devices": "not for this event type"}

    features = tmp_path / "f.json"
    features.write_text('{"customer_login_devices_24h": 4}', encoding="utf-8")
    login = {"event_type": "login", "customer_id": "C1", "success": True}
    result = runner.invoke(app, ["rules", "test", str(rules_file), "-e", json.dumps(login), "-f", f"@{features}"])
    out = json.loads(result.output)
    assert (out["action"], out["challenge_method"]) == ("challenge", "face")


def test_test_reports_bad_input_clearly(rules_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["rules", "test", str(rules_file), "--event", "{not json"])
    assert result.exit_code == 1 and "--event: not valid JSON at line 1, column 2" in result.output
    result = runner.invoke(app, ["rules", "test", str(rules_file), "--event", "[1]"])
    assert result.exit_code == 1 and "expected a JSON object" in result.output
    bad_event = json.dumps({"event_type": "transaction", "txn_type": "gift", "amount": 1, "account_id": "A"})
    result = runner.invoke(app, ["rules", "test", str(rules_file), "--event", bad_event])
    assert result.exit_code == 1 and "txn_type" in result.output and "Traceback" not in result.output
