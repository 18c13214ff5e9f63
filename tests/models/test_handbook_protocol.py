"""The handbook protocol on handbook-layout data, as a user runs it: init, load, train."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app
from finrisk.config import Workspace, init_workspace, load_workspace
from finrisk.models.split import fold_data, rolling_folds
from finrisk.models.training_set import TrainingSet, build_training_set
from finrisk.simulate.handbook import HandbookConfig, generate_handbook, write_handbook
from finrisk.store import Warehouse
from finrisk.store.ingest import load_path

START = date(2018, 4, 1)
FIRST = date(2018, 4, 21)  # 20 days of history before the first training day


@pytest.fixture(scope="module")
def handbook_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("handbook")
    frame = generate_handbook(HandbookConfig(customers=200, terminals=400, days=49, start=START, seed=4))
    write_handbook(frame, root / "data", start=START)
    init_workspace(root / "ws", features="handbook")
    ws = load_workspace(root / "ws")
    load_path(ws, root / "data", fraud_known_after=timedelta(days=7))
    with Warehouse.open(ws) as wh:
        wh.flush(all=True)
    return ws


@pytest.fixture(scope="module")
def ts(handbook_ws: Workspace) -> TrainingSet:
    return build_training_set(handbook_ws, event_type="transaction", start=FIRST, label_delay=timedelta(days=7))


def test_folds_are_train_delay_test_rolling_weekly() -> None:
    folds = rolling_folds(FIRST, train_days=7, delay_days=7, test_days=7, folds=2, step_days=7)
    day = datetime(2018, 4, 21, tzinfo=UTC)
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (day, day + timedelta(days=7), day + timedelta(days=14), day + timedelta(days=21)),
        (day + timedelta(days=7), day + timedelta(days=14), day + timedelta(days=21), day + timedelta(days=28))]


def test_training_sees_only_known_labels_and_known_cards_leave_the_test(ts: TrainingSet) -> None:
    assert "terminal_fraud_share_7d_7d" in ts.inputs and "during_night" in ts.inputs
    assert ts.frame["entity"].str.startswith("C").all()  # the card (= handbook customer) is the CP@k entity
    fold = rolling_folds(FIRST, folds=2)[1]
    data = fold_data(ts, fold)
    # every training fraud was known (its label 7 days after it) by the test start; the delay week is unused
    assert data.y_train.sum() > 0
    assert (data.train.loc[data.y_train == 1, "fraud_known_at"] <= fold.test_start).all()
    assert data.train["event_time"].max() < fold.train_end
    # the test is the handbook's (get_train_test_set): cards with a training-period fraud, then per test
    # day also those with a fraud on the delay days up to the day before (test day - 8 days), are removed
    assert data.removed_known_entities > 0 and data.y_test.sum() > 0
    f = ts.frame
    day_of = (f["event_time"] - fold.train_start) // timedelta(days=1)
    fraud = f["fraud_known_at"].notna()
    known = set(f.loc[fraud & day_of.between(0, 6), "entity"])
    expected = []
    for d in range(7):
        known |= set(f.loc[fraud & (day_of == 7 + d - 1), "entity"])
        expected += list(f.loc[(day_of == 14 + d) & ~f["entity"].isin(known), "event_id"])
    assert sorted(data.test["event_id"]) == sorted(expected)
    assert len(expected) < int((day_of.between(14, 20)).sum())
    # counting every earlier fraud too ("history") removes at least as many cards
    wider = fold_data(ts, fold, known_from="history")
    assert set(wider.test["event_id"]) <= set(data.test["event_id"])


def test_models_train_runs_the_protocol_from_the_cli(handbook_ws: Workspace) -> None:
    result = CliRunner().invoke(app, ["models", "train", "--from", str(FIRST), "--folds", "2", "--trees", "30",
                                      "--kinds", "lightgbm", "-w", str(handbook_ws.root)])
    assert result.exit_code == 0, result.output
    assert "registered fraud v1" in result.output
    meta = json.loads((Path(handbook_ws.root) / "models" / "fraud" / "v1" / "meta.json").read_text())
    assert len(meta["folds"]) == 2 and 0.5 < meta["metrics"]["auc"] <= 1
    assert meta["metrics"]["card_precision_at_100"] <= meta["metrics"]["card_precision_at_100_ceiling"]
