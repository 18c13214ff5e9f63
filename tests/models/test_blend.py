"""The ``blend`` kind: LightGBM and logistic log-odds weighted; trained, registered, served, explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finrisk.config import init_workspace
from finrisk.errors import ModelError
from finrisk.models import ServedModel, TrainParams, train_model
from finrisk.models.registry import ModelRegistry

from ._rows import NAMES, scoring_rows


@pytest.fixture(scope="module")
def blend() -> Any:
    x, y = scoring_rows(3000)
    return train_model(x, y, inputs=NAMES, params=TrainParams(kind="blend", trees=40, leaves=15, blend_weight=0.6))


def _row_dicts(row: np.ndarray[Any, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    features = {n: (None if np.isnan(v) else float(v)) for n, v in zip(NAMES[:5], row[:5], strict=True)}
    return {"amount": None if np.isnan(row[5]) else float(row[5])}, features


def test_a_blend_is_the_weighted_log_odds_of_its_two_parts(blend: Any) -> None:
    x, y = scoring_rows(3000)
    lgb_alone = train_model(x, y, inputs=NAMES, params=TrainParams(trees=40, leaves=15))
    lin_alone = train_model(x, y, inputs=NAMES, params=TrainParams(kind="logistic"))
    test, _ = scoring_rows(500, seed=8)
    raw = lgb_alone.booster.predict(test, raw_score=True)
    z = 0.6 * raw + 0.4 * lin_alone.linear.decision(test)
    assert np.allclose(blend.predict(test), 1 / (1 + np.exp(-z)), atol=1e-12)
    assert blend.kind == "blend" and set(blend.importance()) == set(NAMES)
    assert sum(blend.importance().values()) == pytest.approx(1.0)
    with pytest.raises(ModelError, match=r"blend_weight: expected a weight in \[0, 1\], got 1.5"):
        TrainParams(kind="blend", blend_weight=1.5)


def test_the_served_blend_scores_what_it_predicts_and_its_reasons_add_up(blend: Any) -> None:
    served = ServedModel(blend, name="fraud", version="1", descriptions={"b": "Transfers in the last hour."})
    x, _ = scoring_rows(300, seed=9)
    expected = blend.predict(x)
    got = np.array([served.score(*_row_dicts(row)) for row in x])
    assert np.max(np.abs(got - expected)) < 1e-9
    forest = served._forest
    assert forest is not None and blend.linear is not None
    for row in x[:20]:
        bias, _ = forest.path_contributions(row)
        contrib = served.contributions(row)
        # the intercept of the standardised logistic model is its bias; contributions add up to the log-odds
        total = 0.6 * bias + 0.4 * blend.linear.intercept + contrib.sum()
        assert total == pytest.approx(float(blend.log_odds(row[None, :])[0]), abs=1e-9)
        shap = served.contributions(row, method="shap")
        base = blend.booster.predict(row[None, :], pred_contrib=True)[0, -1]
        assert 0.6 * base + 0.4 * blend.linear.intercept + shap.sum() == pytest.approx(
            float(blend.log_odds(row[None, :])[0]), abs=1e-9)
    reasons = served.reasons({"amount": 0.0}, {"a": 3.0, "b": 3.0, "c": 0.1, "d": None, "e": 0.0}, k=2)
    assert reasons[0].input == "b" and reasons[0].text == "Transfers in the last hour (b): 3"


def test_a_registered_blend_loads_checked_and_scores_the_same(blend: Any, tmp_path: Path) -> None:
    registry = ModelRegistry(init_workspace(tmp_path / "ws"))
    assert registry.register("fraud", blend, {"event_type": "transaction"}) == "1"
    folder = tmp_path / "ws" / "models" / "fraud" / "v1"
    assert (folder / "blend.json").exists() and registry.meta("fraud", "1")["params"]["blend_weight"] == 0.6
    served = registry.load("fraud", "1")
    x, _ = scoring_rows(50, seed=4)
    for row, e in zip(x, blend.predict(x), strict=True):
        event, features = _row_dicts(row)
        assert served.score({"event_type": "transaction", **event}, features) == pytest.approx(e, abs=1e-9)
    text = (folder / "blend.json").read_text()
    (folder / "blend.json").write_text(text.replace('"intercept": ', '"intercept": 1', 1))
    with pytest.raises(ModelError, match="changed since it was registered"):
        registry.load("fraud", "1")
