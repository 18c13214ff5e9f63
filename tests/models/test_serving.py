"""The compiled forest and ServedModel against LightGBM's own predictions (the oracle)."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from finrisk.errors import ModelError
from finrisk.models import ServedModel, TrainParams, train_model
from finrisk.models._forest import flatten_booster

from ._rows import NAMES, scoring_rows


@pytest.fixture(scope="module")
def model() -> Any:
    x, y = scoring_rows(3000)
    return train_model(x, y, inputs=NAMES, params=TrainParams(trees=40, leaves=15))


def test_forest_equals_lightgbm_row_by_row_and_in_batch(model: Any) -> None:
    x, _ = scoring_rows(1500, seed=9)
    forest = flatten_booster(model.booster.dump_model())
    expected = model.booster.predict(x)
    assert np.abs(forest.predict(x) - expected).max() <= 1e-12
    assert max(abs(forest.predict_one(r) - e) for r, e in zip(x, expected, strict=True)) <= 1e-12
    assert forest.trees == 40


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_missing_value_rules_match_lightgbm(zero_as_missing: bool) -> None:
    x, y = scoring_rows(2000, seed=5)
    booster = lgb.train({"objective": "binary", "num_leaves": 7, "verbose": -1, "zero_as_missing": zero_as_missing,
                         "min_data_in_leaf": 5}, lgb.Dataset(x, y), num_boost_round=15)
    forest = flatten_booster(booster.dump_model())
    probe = np.array([[np.nan] * 6, [0.0] * 6, [1e-36] * 6, [-1e-36] * 6, [1.0, np.nan, 0.0, -2.0, np.nan, 0.5]])
    assert np.abs(forest.predict(probe) - booster.predict(probe)).max() <= 1e-12


def test_served_model_scores_from_feature_dict_and_event(model: Any) -> None:
    served = ServedModel(model, name="fraud", version="3", event_types=("transaction",))
    x, _ = scoring_rows(50, seed=11)
    for row, expected in zip(x, model.booster.predict(x), strict=True):
        features = {n: (None if np.isnan(v) else float(v)) for n, v in zip(NAMES[:5], row[:5], strict=True)}
        event = {"event_type": "transaction", "amount": None if np.isnan(row[5]) else float(row[5])}
        assert served.score(event, features) == pytest.approx(expected, abs=1e-12)
    assert served.score({"event_type": "login"}, {}) is None
    assert (served.name, served.version) == ("fraud", "3")


def test_path_contributions_add_up_to_the_raw_score(model: Any) -> None:
    served = ServedModel(model, name="fraud", version="1")
    x, _ = scoring_rows(20, seed=2)
    forest = served._forest
    assert forest is not None
    for row in x:
        bias, contrib = forest.path_contributions(row)
        assert bias + contrib.sum() == pytest.approx(forest.raw_one(row), abs=1e-9)


def test_reasons_name_the_inputs_that_raised_the_score(model: Any) -> None:
    served = ServedModel(model, name="fraud", version="1", descriptions={"b": "Transfers in the last hour."})
    features = {"a": 3.0, "b": 3.0, "c": 0.1, "d": None, "e": 0.0}
    for method in ("path", "shap"):
        reasons = served.reasons({"amount": 1.0}, features, k=2, method=method)  # type: ignore[arg-type]
        assert [r.input for r in reasons][:1] == ["b"] and len(reasons) <= 2
        assert reasons[0].text == "Transfers in the last hour (b): 3"
        assert all(r.contribution > 0 for r in reasons)
    shap = served.contributions(np.array([3.0, 3.0, 0.1, np.nan, 0.0, 1.0]), method="shap")
    raw = model.booster.predict(np.array([[3.0, 3.0, 0.1, np.nan, 0.0, 1.0]]), raw_score=True)[0]
    base = model.booster.predict(np.array([[3.0, 3.0, 0.1, np.nan, 0.0, 1.0]]), pred_contrib=True)[0, -1]
    assert shap.sum() + base == pytest.approx(raw, abs=1e-9)


def test_a_non_numeric_input_is_named(model: Any) -> None:
    served = ServedModel(model, name="fraud", version="1")
    with pytest.raises(ModelError, match="c: model fraud needs a number, got str"):
        served.score({}, {"a": 1.0, "c": "Shanghai"})


def test_logistic_model_serves_exactly_what_it_predicts() -> None:
    x, y = scoring_rows(2000)
    model = train_model(x, y, inputs=NAMES, params=TrainParams(kind="logistic"))
    served = ServedModel(model, name="lr", version="1")
    expected = model.predict(x[:30])
    for row, e in zip(x[:30], expected, strict=True):
        features = {n: float(v) for n, v in zip(NAMES[:5], row[:5], strict=True)}
        assert served.score({"amount": float(row[5])}, features) == pytest.approx(e, abs=1e-12)
    reasons = served.reasons({"amount": 0.0}, {"a": 5.0, "b": 5.0}, k=3)
    assert {r.input for r in reasons} >= {"b"}


def test_categorical_splits_are_refused() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(500, 2)).astype(float)
    y = (x[:, 0] == 3).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5},
                        lgb.Dataset(x, y, categorical_feature=[0]), num_boost_round=3)
    with pytest.raises(ModelError, match="categorical splits are not supported"):
        flatten_booster(booster.dump_model())


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ModelError, match="kind: expected one of lightgbm, logistic, blend, got 'xgb'"):
        TrainParams(kind="xgb")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="needs both classes"):
        train_model(np.zeros((10, 1)), np.zeros(10), inputs=["a"])


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_bitvector_scorer_gives_the_walks_bits_and_lightgbms_scores(zero_as_missing: bool) -> None:
    x, y = scoring_rows(2000, seed=13)
    booster = lgb.train({"objective": "binary", "num_leaves": 31, "verbose": -1, "zero_as_missing": zero_as_missing,
                         "min_data_in_leaf": 5}, lgb.Dataset(x, y), num_boost_round=30)
    forest = flatten_booster(booster.dump_model())
    assert forest.bitvector is not None and forest.bitvector.splits.dtype["mask"] == np.uint32
    probe = np.vstack([x[:300], [[np.nan] * 6, [0.0] * 6, [1e-36] * 6, [-1e-36] * 6, [1e-35] * 6, [1e300] * 6,
                                 [-1e300] * 6]])
    raw = booster.predict(probe, raw_score=True)
    for row, expected in zip(probe, raw, strict=True):
        assert forest.raw_one(row) == forest.walk_raw_one(row)  # same sums in the same order: same bits
        assert abs(forest.raw_one(row) - expected) <= 1e-12
    assert np.abs(forest.predict(probe) - booster.predict(probe)).max() <= 1e-12


def test_trees_of_33_to_64_leaves_use_wide_masks() -> None:
    x, y = scoring_rows(3000, seed=19)
    booster = lgb.train({"objective": "binary", "num_leaves": 60, "min_data_in_leaf": 2, "verbose": -1,
                         "zero_as_missing": True}, lgb.Dataset(x, y), num_boost_round=5)
    assert max(t["num_leaves"] for t in booster.dump_model()["tree_info"]) > 32
    forest = flatten_booster(booster.dump_model())
    assert forest.bitvector is not None and forest.bitvector.splits.dtype["mask"] == np.uint64
    probe = np.vstack([x[:300], [[np.nan] * 6, [0.0] * 6, [1e-36] * 6]])
    assert all(forest.raw_one(r) == forest.walk_raw_one(r) for r in probe)
    assert np.abs(forest.predict(probe) - booster.predict(probe)).max() <= 1e-12


def test_trees_of_more_than_64_leaves_keep_the_walk() -> None:
    x, y = scoring_rows(3000, seed=17)
    booster = lgb.train({"objective": "binary", "num_leaves": 80, "min_data_in_leaf": 2, "verbose": -1},
                        lgb.Dataset(x, y), num_boost_round=3)
    assert max(t["num_leaves"] for t in booster.dump_model()["tree_info"]) > 64
    forest = flatten_booster(booster.dump_model())
    assert forest.bitvector is None
    assert np.abs(forest.predict(x[:200]) - booster.predict(x[:200])).max() <= 1e-12
