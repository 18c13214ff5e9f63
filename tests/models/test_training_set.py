"""Training sets: point-in-time features, late labels, no leakage; folds and the protocol."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from finrisk.config import Workspace
from finrisk.errors import ModelError
from finrisk.features.offline import build_features
from finrisk.models.evaluate import evaluate_protocol
from finrisk.models.split import fold_data, rolling_folds
from finrisk.models.train import TrainParams
from finrisk.models.training_set import build_training_set
from finrisk.store import Warehouse


@pytest.fixture(scope="module")
def ts(world_ws: Workspace) -> Any:
    return build_training_set(world_ws, event_type="transaction", label_delay=timedelta(days=3))


def test_rows_have_features_fields_and_label_timing(ts: Any) -> None:
    f = ts.frame
    assert len(f) > 1000 and ts.inputs[-1] == "event.amount" and "customer_txns_24h" in ts.inputs
    assert (f["matured_at"] - f["event_time"] == pd.Timedelta(days=3)).all()
    fraud = f["fraud_known_at"].notna()
    assert 0 < fraud.sum() < len(f)
    assert (f.loc[fraud, "fraud_known_at"] == f.loc[fraud, "matured_at"]).all()
    assert ts.x().shape == (len(f), len(ts.inputs)) and ts.x().dtype == np.float64


def test_no_feature_sees_the_future(world_ws: Workspace, ts: Any) -> None:
    """Features recomputed from a history cut right after day 10 equal those from the whole history."""
    cut = datetime(2026, 1, 11, tzinfo=UTC)
    with Warehouse.open(world_ws) as wh:
        names = [t.name for t in world_ws.event_types]
        history = pa.concat_tables([wh.sql(f'SELECT * FROM "{t}" WHERE event_time < TIMESTAMPTZ \'{cut}\'')
                                    for t in names], promote_options="default")
    early = ts.frame[ts.frame["event_time"] < cut]
    targets = pa.table({"event_id": early["event_id"].tolist()})
    cut_features = build_features(world_ws.features, history, targets=targets).to_pandas().set_index("event_id")
    full = early.set_index("event_id")
    for name in ts.inputs[:-1]:
        a = full[name].to_numpy(dtype=float)
        b = cut_features.loc[full.index, name].to_numpy(dtype=float)
        assert np.allclose(a, b, equal_nan=True, rtol=0, atol=1e-9), name


def test_no_label_is_used_before_it_is_known(ts: Any) -> None:
    as_of = datetime(2026, 1, 10, tzinfo=UTC)
    labels = ts.labels_at(as_of)
    f = ts.frame
    known = labels.notna()
    assert (f.loc[known, "matured_at"] <= as_of).all() or (labels[known & (f["matured_at"] > as_of)] == 1).all()
    assert (f.loc[labels == 1, "fraud_known_at"] <= as_of).all()
    late_fraud = f["fraud_known_at"] > as_of
    assert late_fraud.any() and labels[late_fraud].isna().all()  # a fraud reported later is unknown, not 0
    fold = rolling_folds(date(2026, 1, 1), train_days=7, delay_days=3, test_days=7, folds=1)[0]
    data = fold_data(ts, fold, known_from="history")
    assert (data.train["event_time"] < fold.train_end).all()
    assert (data.test["event_time"] >= fold.test_start).all()
    assert (data.train["matured_at"] <= fold.test_start).all()
    compromised = set(f.loc[(f["event_time"] < fold.test_start) & (f["fraud_known_at"] <= fold.test_start),
                            "entity"].dropna())
    assert compromised and not set(data.test["entity"]) & compromised


def test_feedback_labels_come_from_chargebacks_and_cases(world_ws: Workspace) -> None:
    fb = build_training_set(world_ws, event_type="transaction", label_source="feedback", fields=(),
                            start=date(2026, 1, 1), end=date(2026, 1, 12))
    known = fb.frame["fraud_known_at"].notna()
    assert (fb.frame.loc[known, "fraud_known_at"] > fb.frame.loc[known, "event_time"]).all()
    assert "event.amount" not in fb.inputs


def test_protocol_runs_both_kinds_on_every_fold(ts: Any) -> None:
    """Mechanics only: this world is too small for held-out quality (benchmarks/model_quality.py measures it)."""
    folds = rolling_folds(date(2026, 1, 1), train_days=7, delay_days=3, test_days=4, folds=2, step_days=4)
    ev = evaluate_protocol(ts, folds, [TrainParams(trees=30, leaves=7), TrainParams(kind="logistic")])
    assert ev.kinds() == ["lightgbm", "logistic"] and len(ev.results) == 4
    for r, fold in zip(ev.results, [folds[0], folds[0], folds[1], folds[1]], strict=True):
        data = fold_data(ts, fold)
        assert (r.fold, r.train_rows, r.scores.events) == (fold, len(data.train), len(data.test))
        assert 0 <= r.scores.card_precision_at_100 <= 1 and 0 <= r.scores.auc <= 1
    model = ev.last_models["lightgbm"]
    data = fold_data(ts, folds[1])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(data.y_train, model.predict(ts.x(data.train))) > 0.9  # it learnt its training rows


def test_bad_requests_are_named(world_ws: Workspace) -> None:
    with pytest.raises(ModelError, match="event_type: unknown event type 'transfer'"):
        build_training_set(world_ws, event_type="transfer")
    with pytest.raises(ModelError, match="fields: transaction has no field 'balance'"):
        build_training_set(world_ws, event_type="transaction", fields=["balance"])
    with pytest.raises(ModelError, match="delay_days: expected an integer >= 0, got -1"):
        rolling_folds(date(2026, 1, 1), delay_days=-1)
