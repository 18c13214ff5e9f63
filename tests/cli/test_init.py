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


def test_each_feature_set_gets_scorecards_whose_variables_it_declares(tmp_path: Path) -> None:
    """`finrisk init --features handbook` must not write the demo cards, whose variables it lacks."""
    from finrisk.config import load_workspace
    from finrisk.scoring.scenarios import load_scenarios, variable_sources

    declared: dict[str, list[str]] = {}
    for feature_set in ("demo", "handbook"):
        result = runner.invoke(app, ["init", str(tmp_path / feature_set), "--features", feature_set])
        assert result.exit_code == 0, result.output
        ws = load_workspace(tmp_path / feature_set)
        scenarios = load_scenarios(ws)
        for decl in scenarios.values():
            variable_sources(ws, decl)  # raises on a variable that is neither an event field nor a feature
        declared[feature_set] = sorted(scenarios)
    assert declared["demo"]  # the demo world has loan applications: its cards stay
    assert declared["handbook"] == []  # card payments only: no scorecard fits
    assert "scorecards: {}" in (tmp_path / "handbook" / "scorecards.yaml").read_text(encoding="utf-8")


def test_each_feature_set_gets_rules_that_read_only_its_features(tmp_path: Path) -> None:
    """The rule set `finrisk init` writes must validate against the features it writes, and serve decisions."""
    from finrisk.config import load_workspace
    from finrisk.decisions.service import DecisionService

    for feature_set in ("demo", "handbook"):
        ws_dir = tmp_path / feature_set
        assert runner.invoke(app, ["init", str(ws_dir), "--features", feature_set]).exit_code == 0
        checked = runner.invoke(app, ["rules", "validate", str(ws_dir / "rules.yaml"), "-w", str(ws_dir)])
        assert checked.exit_code == 0, f"{feature_set}: {checked.output}"
    payment = {"event_id": "p1", "event_type": "transaction", "event_time": "2018-05-01T10:00:00Z",
               "txn_type": "payment", "channel": "pos", "customer_id": "C1", "account_id": "C1", "card_id": "C1",
               "merchant_id": "T1", "amount": 480.0}
    with DecisionService.open(load_workspace(tmp_path / "handbook")) as service:
        decision = service.decide(payment)
    assert decision.versions["ruleset"].startswith("handbook@")
    assert [h["rule"] for h in decision.rule_hits] == ["large_amount"] and decision.action == "review"
