"""Scenario scorecards over declared behavioural features: training joins the point-in-time offline
values, the decision service serves the card on the online values, and the two agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from finrisk.config import Workspace, init_workspace
from finrisk.errors import WorkspaceError
from finrisk.models.registry import ModelRegistry
from finrisk.scoring.features import feature_subset, point_in_time_features
from finrisk.scoring.scenarios import train_scenario
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store.ingest import load_path

FEATURES = ["device_loan_apps_1h", "device_customers_7d", "id_number_loan_apps_30d",
            "ip_city_differs_from_phone_city"]

DECLARATIONS = """\
scorecards:
  behaviour_loan:
    variables:
      phone_tenure_months: {dimension: identity}
      past_overdue_count: {dimension: credit_history}
      device_loan_apps_1h: {dimension: behaviour}
      device_customers_7d: {dimension: social}
      id_number_loan_apps_30d: {dimension: behaviour}
      ip_city_differs_from_phone_city: {dimension: identity}
    params: {min_iv: 0.0, selection: none, max_features: 6, max_corr: 1.0, max_vif: 1000.0}
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("scoring_features")
    simulate_world(WorldConfig(customers=1500, days=20, seed=3, loan_rate=0.15), root / "world", fmt="parquet")
    ws = init_workspace(root / "ws")
    load_path(ws, root / "world" / "events" / "loan_application", event_type="loan_application")
    (ws.root / "scorecards.yaml").write_text(DECLARATIONS, encoding="utf-8")
    return ws


def test_feature_subset_keeps_what_a_derived_feature_reads(workspace: Workspace) -> None:
    subset = feature_subset(workspace.features, ["ip_city_differs_from_phone_city", "device_loan_apps_1h"])
    assert subset.names == ["device_loan_apps_1h", "ip_city_differs_from_phone_city"]
    assert feature_subset(workspace.features, ["no_such_feature"]).names == []


def test_trained_card_uses_features_and_serves_them_online_with_parity(workspace: Workspace) -> None:
    from finrisk.decisions.service import DecisionService

    trained = train_scenario(workspace, "behaviour_loan")
    in_card = [n for n in trained.model.feature_names if n in FEATURES]
    assert in_card, trained.model.feature_names
    meta = ModelRegistry(workspace).meta("behaviour_loan", trained.version)
    assert meta["features"] == in_card
    # the training rows saw the features: some application had an earlier one on its device
    offline = point_in_time_features(workspace, "loan_application", FEATURES)
    assert offline["device_customers_7d"].max() >= 1 and set(offline["device_loan_apps_1h"].unique()) >= {0.0}
    # three applications from one new device, minutes apart, after the world's history
    apps = [{"event_id": f"feat-app-{i}", "event_type": "loan_application",
             "event_time": f"2026-03-01T10:0{i}:00Z", "customer_id": f"CF{i}", "loan_id": f"LNF-{i}",
             "device_id": "DEV-FEATURE-TEST", "id_number": "ID-FEATURE-TEST", "amount": 2000.0,
             "phone_tenure_months": 2 + 10 * i, "past_overdue_count": i % 2, "ip_city": "Wuhan",
             "phone_home_city": "Wuhan" if i == 1 else "Chengdu"} for i in range(3)]
    with DecisionService.open(workspace) as service:
        answers = [service.credit_application(body, scorecard="behaviour_loan") for body in apps]
    online = [a["decision"]["features"] for a in answers]
    assert [f["device_customers_7d"] for f in online] == [0, 1, 2]
    offline = point_in_time_features(workspace, "loan_application", FEATURES)
    scores = set()
    for body, answer, values in zip(apps, answers, online, strict=True):
        row = offline.loc[body["event_id"]]
        for name in FEATURES:  # the offline row is the online value (booleans as 0/1)
            assert row[name] == float(values[name]), (name, row[name], values[name])
        expected = trained.model.predict_one({**row.to_dict(), **body})
        assert answer["credit"]["score"] == expected.score == answer["decision"]["model_scores"]["behaviour_loan"]
        assert answer["credit"]["subscores"] == expected.subscores
        assert answer["credit"]["reason_codes"] == expected.reasons
        scores.add(expected.score)
    assert len(scores) > 1


def test_unknown_variable_names_file_line_scorecard_and_close_names(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    (ws.root / "scorecards.yaml").write_text(
        "scorecards:\n  x:\n    variables:\n      phone_tenure_months: {}\n      device_customer_7d: {}\n")
    with pytest.raises(WorkspaceError, match=r"scorecards.yaml:5: scorecard 'x': variable 'device_customer_7d' "
                       r"is neither a field of loan_application events nor a feature.*close names: "
                       r"device_customers_7d"):
        train_scenario(ws, "x")
    (ws.root / "scorecards.yaml").write_text("scorecards:\n  x:\n    variables:\n      zzqq: {}\n")
    with pytest.raises(WorkspaceError, match=r"scorecards.yaml:4: .*'zzqq' is neither.*features$"):
        train_scenario(ws, "x")
    (ws.root / "scorecards.yaml").write_text(
        "scorecards:\n  x:\n    event_type: loan_aplication\n    variables:\n      a: {}\n")
    with pytest.raises(WorkspaceError, match=r"scorecards.yaml:3: scorecard 'x': event_type: unknown event type "
                       r"'loan_aplication'"):
        train_scenario(ws, "x")


def test_precomputed_feature_values_train_the_same_card(workspace: Workspace) -> None:
    """``finrisk demo`` builds the features once for its three cards: the card must not change."""
    shared = point_in_time_features(workspace, "loan_application", [*FEATURES, "device_loan_apps_10m"])
    with_shared = train_scenario(workspace, "behaviour_loan", feature_values=shared)
    alone = train_scenario(workspace, "behaviour_loan")
    assert with_shared.model.to_dict() == alone.model.to_dict()


def test_cli_train_and_report_a_card_with_features(workspace: Workspace) -> None:
    import typer
    from typer.testing import CliRunner

    from finrisk.cli.commands import scoring

    app = typer.Typer()
    scoring.register(app)
    runner = CliRunner()
    out = runner.invoke(app, ["scoring", "train", "behaviour_loan", "-w", str(workspace.root)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["scoring", "report", "behaviour_loan", "-w", str(workspace.root)])
    assert out.exit_code == 0, out.output
    assert "IV ranking" in out.output and "device_customers_7d" in out.output
