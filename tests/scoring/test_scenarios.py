"""Scenario scorecards from a workspace: declarations, training from simulated loans, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from finrisk.cli.commands import scoring
from finrisk.config import Workspace, init_workspace
from finrisk.errors import WorkspaceError
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


def test_cli_train_and_report(loans_workspace: Workspace, tmp_path: Path) -> None:
    app = typer.Typer()
    scoring.register(app)
    runner = CliRunner()
    ws = ["-w", str(loans_workspace.root)]
    out = runner.invoke(app, ["scoring", "train", "consumer_loan", *ws])
    assert out.exit_code == 0, out.output
    assert "out-of-time AUC" in out.output and "consumer_loan.json" in out.output
    page = tmp_path / "r.html"
    out = runner.invoke(app, ["scoring", "report", "consumer_loan", "--html", str(page), *ws])
    assert out.exit_code == 0, out.output
    assert "IV ranking" in out.output and page.read_text().count("<svg") >= 2
    out = runner.invoke(app, ["scoring", "train", "rental_deposit_waiver", *ws])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "no declared variable passed selection" in out.output or "too few to fit" in out.output
    out = runner.invoke(app, ["scoring", "report", "nope", *ws])
    assert out.exit_code == 1 and "run 'finrisk scoring train nope' first" in out.output
