"""Scenario scorecards from a workspace: declarations, training from simulated loans, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from finrisk.cli.commands import scoring
from finrisk.config import Workspace, init_workspace
from finrisk.errors import WorkspaceError
from finrisk.models.registry import ModelRegistry
from finrisk.scoring import ScorecardModel
from finrisk.scoring.scenarios import load_scenarios, train_scenario
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store.ingest import load_path

DECLARATIONS = """\
scorecards:
  consumer_loan:
    description: Every simulated loan product
    variables:
      phone_tenure_months: {dimension: identity}
      monthly_local_spend: {dimension: capacity}
      monthly_game_spend: {dimension: behaviour}
      finance_media_days_30d: {dimension: behaviour}
      home_distance_km: {dimension: identity}
      past_overdue_count: {dimension: credit_history}
      income_band: {dimension: capacity}
    params: {min_iv: 0.0, alpha: 0.5}
  rental_deposit_waiver:
    products: [rental_deposit_waiver]
    variables:
      past_overdue_count: {dimension: credit_history, trend: ascending}
"""

#: PRODUCT.md section C (and simulate/loans.py): how each signal moves the bad rate.
DOCUMENTED_TREND = {"phone_tenure_months": "descending", "monthly_local_spend": "descending",
                    "monthly_game_spend": "ascending", "finance_media_days_30d": "descending",
                    "home_distance_km": "ascending", "past_overdue_count": "ascending"}


@pytest.fixture(scope="module")
def loans_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("scoring")
    simulate_world(WorldConfig(customers=2000, days=20, seed=5, loan_rate=0.15), root / "world", fmt="parquet")
    ws = init_workspace(root / "ws")
    load_path(ws, root / "world" / "events" / "loan_application", event_type="loan_application")
    (ws.root / "scorecards.yaml").write_text(DECLARATIONS, encoding="utf-8")
    return ws


def test_trained_scorecard_recovers_the_documented_signs(loans_workspace: Workspace) -> None:
    trained = train_scenario(loans_workspace, "consumer_loan")
    names = trained.model.feature_names
    assert len(set(names) & set(DOCUMENTED_TREND)) >= 4
    for v in trained.model.variables:
        if v.name in DOCUMENTED_TREND:
            assert v.binning.trend == DOCUMENTED_TREND[v.name], v.name
    assert trained.report.metrics["auc"] > 0.7
    assert {v.dimension for v in trained.model.variables} <= {"identity", "capacity", "behaviour", "credit_history"}
    again = ScorecardModel.from_json(trained.card_path.read_bytes())
    assert again.feature_names == names and trained.report_path.read_text().startswith("<!doctype html>")
    registry = ModelRegistry(loans_workspace)
    meta = registry.meta("consumer_loan", trained.version)
    assert meta["kind"] == "scorecard" and meta["inputs"] == names and meta["event_type"] == "loan_application"
    assert meta["train_rows"] == trained.development_rows and len(meta["data_fingerprint"]) == 32
    assert meta["metrics"]["auc"] == trained.report.metrics["auc"] and meta["window"].count("..") == 1
    assert [v["name"] for v in meta["variables"]] == names and meta["declaration"]["params"]["alpha"] == 0.5
    served = registry.load("consumer_loan", trained.version)
    record = {"event_type": "loan_application", "phone_tenure_months": 3, "income_band": "low"}
    assert served.score(record, {}) == trained.model.predict_one(record).score
    assert served.score({"event_type": "transaction"}, {}) is None


def test_declaration_errors_name_file_and_line(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    bad_key = "scorecards:\n  x:\n    variables:\n      a: {dimension: identity, colour: red}\n"
    (ws.root / "scorecards.yaml").write_text(bad_key)
    with pytest.raises(WorkspaceError, match=r"scorecards.yaml:4: scorecard 'x': variables.a.colour: Extra inputs"):
        load_scenarios(ws)
    (ws.root / "scorecards.yaml").write_text("scorecards:\n  x:\n    variables: {a: {}}\n    params: {pdoo: 3}\n")
    with pytest.raises(ValueError, match=r"unknown or reserved key\(s\) pdoo; allowed: .*pdo"):
        load_scenarios(ws)["x"].estimator()
    with pytest.raises(WorkspaceError, match="no scorecard named 'y' \\(declared: x\\)"):
        train_scenario(ws, "y")
    (ws.root / "scorecards.yaml").write_text("scorecards:\n  Consumer:\n    variables: {a: {}}\n")
    with pytest.raises(WorkspaceError, match=r"scorecards.yaml:2: scorecard 'Consumer': name: String should match"):
        load_scenarios(ws)  # a card's name is its model-registry name: lowercase


def test_cli_train_and_report(loans_workspace: Workspace, tmp_path: Path) -> None:
    app = typer.Typer()
    scoring.register(app)
    runner = CliRunner()
    ws = ["-w", str(loans_workspace.root)]
    out = runner.invoke(app, ["scoring", "train", "consumer_loan", *ws])
    assert out.exit_code == 0, out.output
    assert "out-of-time AUC" in out.output and "scorecard.json" in out.output.replace("\n", "")  # rich wraps paths
    registry = ModelRegistry(loans_workspace)
    latest = registry.list()[-1]
    assert latest["kind"] == "scorecard" and f"registered consumer_loan v{latest['version']}" in out.output
    champion = registry.deployment("consumer_loan").champion
    if champion != latest["version"]:  # an earlier test trained the first version: this one waits
        assert f"finrisk scoring deploy consumer_loan {latest['version']}" in " ".join(out.output.split())
        out = runner.invoke(app, ["scoring", "deploy", "consumer_loan", latest["version"], *ws])
        assert out.exit_code == 0 and f"champion v{latest['version']}" in out.output, out.output
        assert registry.deployment("consumer_loan").champion == latest["version"]
        out = runner.invoke(app, ["scoring", "rollback", "consumer_loan", *ws])
        assert out.exit_code == 0 and registry.deployment("consumer_loan").champion == champion
    out = runner.invoke(app, ["scoring", "list", *ws])
    assert out.exit_code == 0 and f"{len(registry.list())} scorecard version(s)" in out.output, out.output
    out = runner.invoke(app, ["scoring", "deploy", "consumer_loan", "99", *ws])
    assert out.exit_code == 1 and "has no version '99'" in out.output
    page = tmp_path / "r.html"
    out = runner.invoke(app, ["scoring", "report", "consumer_loan", "--html", str(page), *ws])
    assert out.exit_code == 0, out.output
    assert "IV ranking" in out.output and page.read_text().count("<svg") >= 2
    out = runner.invoke(app, ["scoring", "train", "rental_deposit_waiver", *ws])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "no declared variable passed selection" in out.output or "too few to fit" in out.output
    out = runner.invoke(app, ["scoring", "report", "nope", *ws])
    assert out.exit_code == 1 and "run 'finrisk scoring train nope' first" in out.output


def test_weights_in_declarations_and_their_errors(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    path = ws.root / "scorecards.yaml"
    path.write_text("scorecards:\n  x:\n    dimension_weights: {identity: 2}\n    variables:\n"
                    "      a: {dimension: identity, weight: 3}\n      b: {dimension: identity}\n"
                    "      c: {dimension: capacity, weight: 0.5}\n      d: {}\n")
    decl = load_scenarios(ws)["x"]
    assert decl.weights() == {"a": 6.0, "b": 2.0, "c": 0.5}
    assert decl.estimator().get_params()["weights"] == {"a": 6.0, "b": 2.0, "c": 0.5}
    cases = {
        "      a: {dimension: identity, weight: 0}\n": r"yaml:5: scorecard 'x': variables.a.weight: .*greater",
        "      a: {dimension: identity, weight: 12}\n": r"yaml:5: scorecard 'x': variables.a.weight: .*less",
        "      a: {dimension: identity, weight: heavy}\n": r"yaml:5: scorecard 'x': variables.a.weight: .*num",
        "      a: {dimension: identity, weight: 6}\n": r"scorecard 'x': variables.a: weight 6 times the weight of "
                                                     r"dimension 'identity' \(2\) exceeds 10",
        "      a: {dimension: capacity}\n": r"scorecard 'x': dimension_weights: no variable has dimension 'identity'",
    }
    for variables, message in cases.items():
        path.write_text("scorecards:\n  x:\n    dimension_weights: {identity: 2}\n    variables:\n" + variables)
        with pytest.raises(WorkspaceError, match=message):
            load_scenarios(ws)


def test_the_three_demo_scenarios_train_on_the_demo_world(tmp_path: Path) -> None:
    """The init workspace's scorecards.yaml, on the world 'finrisk demo' simulates by default."""
    simulate_world(WorldConfig(customers=3000, days=30, seed=7), tmp_path / "world", fmt="parquet")
    ws = init_workspace(tmp_path / "ws")
    load_path(ws, tmp_path / "world" / "events" / "loan_application", event_type="loan_application")
    declared = load_scenarios(ws)
    assert set(declared) == {"consumer_loan", "rental_deposit_waiver", "insurance_underwriting"}
    cards = {name: train_scenario(ws, name) for name in declared}
    for name, trained in cards.items():
        assert trained.version == "1" and trained.champion, name
        assert 0.5 < trained.report.metrics["auc"] <= 1.0 and trained.model.variables, name
        weights = declared[name].weights()
        for v in trained.model.variables:
            assert v.weight == weights.get(v.name, 1.0), (name, v.name)
    assert any(v.weight != 1.0 for name in ("rental_deposit_waiver", "insurance_underwriting")
               for v in cards[name].model.variables)
    rows = {r["name"]: r for r in ModelRegistry(ws).list()}
    assert set(rows) == set(declared) and {r["stage"] for r in rows.values()} == {"champion"}


def test_a_trained_card_is_what_the_decision_service_serves(loans_workspace: Workspace) -> None:
    from finrisk.decisions.service import DecisionService

    trained = train_scenario(loans_workspace, "consumer_loan")
    ModelRegistry(loans_workspace).deploy("consumer_loan", trained.version)
    body = {"event_id": "app-1", "event_type": "loan_application", "event_time": "2026-02-01T10:00:00Z",
            "customer_id": "C1", "loan_id": "LN-1", "amount": 3000.0, "phone_tenure_months": 4,
            "monthly_game_spend": 900.0, "income_band": "low"}
    with DecisionService.open(loans_workspace) as service:
        out = service.credit_application(body)
    expected = trained.model.predict_one({**out["decision"]["features"], **body})
    assert out["credit"]["scorecard"] == "consumer_loan"
    served_version = out["decision"]["versions"]["models"]["consumer_loan"]
    assert out["credit"]["scorecard_version"] == served_version == trained.version
    assert out["credit"]["score"] == expected.score == out["decision"]["model_scores"]["consumer_loan"]
    assert out["credit"]["subscores"] == expected.subscores and out["credit"]["reason_codes"] == expected.reasons
