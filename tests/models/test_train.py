"""Fitting: the number of trees chosen on the latest rows (early stopping that respects time)."""

from __future__ import annotations

import numpy as np
import pytest

from finrisk.errors import ModelError
from finrisk.models.train import TrainParams, train_model


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 2.0).astype(int)
    return x, y


def test_holdout_picks_fewer_trees_than_the_cap_and_refits_on_every_row() -> None:
    x, y = _rows(4000, 1)
    fixed = train_model(x, y, inputs=list("abcd"), params=TrainParams(trees=400, leaves=7, learning_rate=0.3))
    assert fixed.booster is not None and fixed.booster.num_trees() == 400
    early = train_model(x, y, inputs=list("abcd"), params=TrainParams(trees=400, leaves=7, learning_rate=0.3,
                                                                      holdout=0.25))
    chosen = early.extra["early_stopping"]
    assert early.booster is not None and early.booster.num_trees() == chosen["trees"] < 400
    assert chosen["holdout_rows"] == 1000 and 0 < chosen["holdout_frauds"] == int(y[3000:].sum())


def test_holdout_without_fraud_on_one_side_keeps_the_trees_and_a_bad_share_is_named() -> None:
    x, y = _rows(2000, 2)
    y[1500:] = 0  # no fraud among the latest rows: nothing to stop on
    model = train_model(x, y, inputs=list("abcd"), params=TrainParams(trees=25, leaves=4, holdout=0.25))
    assert model.booster is not None and model.booster.num_trees() == 25
    assert "skipped" in model.extra["early_stopping"]
    with pytest.raises(ModelError, match=r"holdout: expected a share in \[0, 1\), got 1.0"):
        TrainParams(holdout=1.0)
