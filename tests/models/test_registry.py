"""The registry: versions, stages, traffic routing, roll-back, tamper check; and the CLI end to end."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from finrisk.cli._common import console
from finrisk.cli.main import app
from finrisk.config import Workspace, init_workspace
from finrisk.errors import ModelError, ModelNotFoundError
from finrisk.models import TrainParams, train_model
from finrisk.models.registry import Deployment, ModelRegistry

runner = CliRunner()


@pytest.fixture()
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(init_workspace(tmp_path / "ws"))


def _model(seed: int) -> Any:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 3))
    return train_model(x, (x[:, 0] > 1).astype(int), inputs=["a", "b", "event.amount"],
                       params=TrainParams(trees=5, leaves=4, min_child_samples=5))


def test_versions_stages_and_rollback(registry: ModelRegistry) -> None:
    v1 = registry.register("fraud", _model(1), {"event_type": "transaction", "metrics": {"auc": 0.9}})
    v2 = registry.register("fraud", _model(2), {"event_type": "transaction"})
    assert (v1, v2) == ("1", "2")
    rev = registry.revision()
    registry.deploy("fraud", "1")
    registry.deploy("fraud", "2", stage="challenger", traffic=0.25)
    assert registry.revision() > rev
    dep = registry.deployment("fraud")
    assert dep.champion == "1" and dep.challengers == {"2": 0.25}
    assert [r["stage"] for r in registry.list()] == ["champion", "challenger 25%"]
    registry.deploy("fraud", "2")  # promote the challenger
    assert registry.deployment("fraud") == Deployment("2", {}, [])
    assert registry.rollback("fraud") == Deployment("1", {"2": 0.25}, [])
    registry.deploy("fraud", "2", stage="shadow")
    assert registry.deployment("fraud").shadows == ["2"] and registry.deployment("fraud").challengers == {}


def test_loaded_model_scores_like_the_trained_one(registry: ModelRegistry) -> None:
    model = _model(3)
    registry.register("fraud", model, {"event_type": "transaction"})
    served = registry.load("fraud", "1")
    x = np.array([1.5, 0.0, 2.0])
    expected = model.predict(x[None, :])[0]
    assert served.score({"event_type": "transaction", "amount": 2.0}, {"a": 1.5, "b": 0.0}) == pytest.approx(
        expected, abs=1e-12)
    assert served.score({"event_type": "login"}, {}) is None and served.version == "1"


def test_live_deployment_routes_events_and_knows_its_revision(registry: ModelRegistry) -> None:
    for seed in (1, 2, 3):
        registry.register("fraud", _model(seed), {"event_type": "transaction"})
    registry.deploy("fraud", "1")
    registry.deploy("fraud", "2", stage="challenger", traffic=0.3)
    registry.deploy("fraud", "3", stage="shadow")
    live = registry.live("fraud")
    assert live.revision == registry.revision() and sorted(live.models) == ["1", "2", "3"]
    seen = Counter()
    for i in range(2000):
        deciding, others = live.for_event(f"ev-{i}")
        assert deciding is not None and {deciding.version, *(m.version for m in others)} == {"1", "2", "3"}
        seen[deciding.version] += 1
    assert set(seen) == {"1", "2"} and 0.25 < seen["2"] / 2000 < 0.35
    registry.rollback("fraud")
    assert registry.revision() > live.revision


def test_challenger_share_of_traffic_is_stable_and_close_to_asked() -> None:
    dep = Deployment("1", {"2": 0.2}, [])
    counts = Counter(dep.route(f"ev-{i}") for i in range(20_000))
    assert abs(counts["2"] / 20_000 - 0.2) < 0.02
    assert dep.route("ev-7") == dep.route("ev-7")


def test_errors_name_what_is_wrong(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError, match="no model named 'fraud'; registered: none yet"):
        registry.deployment("fraud")
    registry.register("fraud", _model(1), {})
    with pytest.raises(ModelNotFoundError, match="model 'fraud' has no version '9'; versions: 1"):
        registry.deploy("fraud", "9")
    with pytest.raises(ModelError, match="traffic: expected a share between 0 and 1"):
        registry.deploy("fraud", "1", stage="challenger", traffic=1.5)
    with pytest.raises(ModelError, match="rollback: model 'fraud' has no earlier deployment"):
        registry.rollback("fraud")
    with pytest.raises(ModelError, match="name: expected lowercase letters"):
        registry.register("Fraud Model", _model(1), {})
    (registry.root / "fraud" / "v1" / "model.txt").write_text("tree\n")
    with pytest.raises(ModelError, match="the file changed since it was registered"):
        registry.load("fraud", "1")


def test_cli_train_list_deploy_rollback_report(world_ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 220)
    w = ["-w", str(world_ws.root)]
    trained = runner.invoke(app, ["models", "train", "--name", "clitest", "--trees", "10", "--leaves", "7",
                                  "--kinds", "lightgbm",
                                  "--folds", "1", "--train-days", "7", "--delay-days", "3", "--test-days", "4",
                                  "--label-delay", "3", "--from", "2026-01-01", "--to", "2026-01-14", *w])
    assert trained.exit_code == 0, trained.output
    assert "registered clitest v1 (lightgbm" in trained.output and "mean" in trained.output
    html = (world_ws.root / "models" / "clitest" / "v1" / "report.html").read_text()
    assert "<svg" in html and "ROC" in html and "<script" not in html
    listed = runner.invoke(app, ["models", "list", *w])
    assert listed.exit_code == 0 and "clitest" in listed.output
    assert runner.invoke(app, ["models", "deploy", "clitest", "1", *w]).exit_code == 0
    again = runner.invoke(app, ["models", "deploy", "clitest", "1", "--stage", "shadow", *w])
    assert again.exit_code == 1 and "is the champion" in again.output and "Traceback" not in again.output
    back = runner.invoke(app, ["models", "rollback", "clitest", *w])
    assert back.exit_code == 0 and "champion none" in back.output
    shown = runner.invoke(app, ["models", "report", "clitest", *w])
    assert shown.exit_code == 0 and "data_fingerprint" in shown.output and "report.html" in shown.output
    bad = runner.invoke(app, ["models", "train", "--kinds", "xgboost", *w])
    assert bad.exit_code == 1 and "--kinds: expected one of lightgbm, logistic, blend, got 'xgboost'" in bad.output


def test_scoring_commands_refuse_a_fraud_model(registry: ModelRegistry) -> None:
    """`finrisk scoring deploy/rollback` act on scorecards only; a fraud model's deployment is left as it was."""
    registry.register("fraud", _model(1), {"event_type": "transaction"})
    registry.register("fraud", _model(2), {"event_type": "transaction"})
    registry.deploy("fraud", "1")
    registry.deploy("fraud", "2")
    w = ["-w", str(registry.workspace.root)]
    for args in (["rollback", "fraud"], ["deploy", "fraud", "1"]):
        out = runner.invoke(app, ["scoring", *args, *w])
        assert out.exit_code != 0 and "is a fraud model, not a scorecard" in out.output
    assert registry.deployment("fraud").champion == "2"
