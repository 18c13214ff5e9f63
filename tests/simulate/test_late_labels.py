"""Late labels: chargebacks and case dispositions point at real earlier transactions, with the declared delays."""

from __future__ import annotations

import orjson
import pandas as pd
import pyarrow.parquet as pq

from finrisk.simulate import SimulationSummary
from finrisk.simulate.late_labels import CASE_DELAY_DAYS, CASE_PATTERNS, CHARGEBACK_DELAY_DAYS

from .conftest import CONFIG, read

DAY = pd.Timedelta(days=1)


def _joined(world: SimulationSummary, tx: pd.DataFrame, event_type: str) -> pd.DataFrame:
    labels = read(world.out_dir, event_type)
    assert len(labels) > 0, f"the test world has no {event_type} events"
    ref = tx.set_index("event_id")
    assert labels["ref_event_id"].isin(ref.index).all(), "a label points at no transaction"
    return labels.merge(ref.add_suffix("_ref"), left_on="ref_event_id", right_index=True, how="left")


def _window_end() -> pd.Timestamp:
    return pd.Timestamp(CONFIG.start, tz="UTC") + CONFIG.days * DAY


def test_chargebacks_point_at_earlier_card_payments(world: SimulationSummary, tx: pd.DataFrame) -> None:
    cb = _joined(world, tx, "chargeback")
    assert (cb["ref_time"] == cb["event_time_ref"]).all()
    delay = cb["event_time"] - cb["ref_time"]
    lo, hi = CHARGEBACK_DELAY_DAYS
    assert delay.min() >= lo * DAY and delay.max() <= hi * DAY
    assert (cb["event_time"] < _window_end()).all()
    assert (cb["txn_type_ref"] == "payment").all() and cb["card_id_ref"].notna().all()
    assert (cb["status_ref"] != "failed").all()
    assert (cb["card_id"] == cb["card_id_ref"]).all() and (cb["merchant_id"] == cb["merchant_id_ref"]).all()
    assert (cb["amount"] == cb["amount_ref"]).all()
    assert ((cb["reason"] == "fraud") == cb["label_is_fraud_ref"]).all()
    assert set(cb["reason"]) <= {"fraud", "not_received"}
    assert not cb["label_is_fraud"].any() and cb["label_pattern"].isna().all()
    assert cb["ref_event_id"].is_unique


def test_every_fraud_card_payment_is_charged_back_when_the_window_allows(
        world: SimulationSummary, tx: pd.DataFrame) -> None:
    cb = read(world.out_dir, "chargeback")
    fraud = tx[tx["label_is_fraud"] & (tx["txn_type"] == "payment") & tx["card_id"].notna()
               & (tx["status"] != "failed")]
    sure = fraud[fraud["event_time"] + CHARGEBACK_DELAY_DAYS[1] * DAY < _window_end()]
    assert set(sure["event_id"]) <= set(cb["ref_event_id"])
    assert set(cb.loc[cb["reason"] == "fraud", "ref_event_id"]) <= set(fraud["event_id"])
    patterns = set(tx.set_index("event_id").loc[cb["ref_event_id"], "label_pattern"])
    assert {"card_testing", "impossible_travel"} & patterns


def test_case_dispositions_confirm_fraud_transfers_and_cash_outs(world: SimulationSummary, tx: pd.DataFrame) -> None:
    cd = _joined(world, tx, "case_disposition")
    assert (cd["ref_time"] == cd["event_time_ref"]).all()
    delay = cd["event_time"] - cd["ref_time"]
    lo, hi = CASE_DELAY_DAYS
    assert delay.min() >= lo * DAY and delay.max() <= hi * DAY
    assert (cd["event_time"] < _window_end()).all()
    assert (cd["disposition"] == "confirmed_fraud").all() and (cd["ref_event_type"] == "transaction").all()
    assert cd["label_is_fraud_ref"].all()
    expected = cd["label_pattern_ref"].map(CASE_PATTERNS)
    assert (expected == cd["txn_type_ref"]).all()
    assert (cd["account_id"] == cd["account_id_ref"]).all()


def test_jsonl_label_events_match_parquet(jsonl_world: SimulationSummary, world: SimulationSummary) -> None:
    for event_type in ("chargeback", "case_disposition"):
        assert jsonl_world.events_by_type[event_type] == world.events_by_type[event_type]
        lines = (jsonl_world.out_dir / "events" / event_type / "part-00000.jsonl").read_bytes().splitlines()
        assert len(lines) == world.events_by_type[event_type]
        parquet_ids = read(world.out_dir, event_type)["event_id"].tolist()
        assert [orjson.loads(line)["event_id"] for line in lines] == parquet_ids
        labels = pq.read_table(jsonl_world.out_dir / "labels" / event_type)
        assert labels.num_rows == len(lines)
        assert labels.column("event_id").to_pylist() == parquet_ids
