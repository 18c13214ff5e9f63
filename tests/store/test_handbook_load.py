"""``finrisk load`` on the fraud-detection handbook's layout: pickles per day or CSV, labels, chargebacks."""

from __future__ import annotations

import os
import pickle
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from finrisk.config import Workspace, init_workspace
from finrisk.errors import InputFileError
from finrisk.simulate.handbook import HandbookConfig, generate_handbook, write_handbook
from finrisk.store import Warehouse
from finrisk.store.ingest import load_path

CONFIG = HandbookConfig(customers=60, terminals=120, days=12, start=date(2018, 4, 1), seed=2)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_handbook(CONFIG)


def _sql(ws: Workspace, query: str) -> list[tuple[object, ...]]:
    with Warehouse.open(ws) as wh:
        wh.flush(all=True)
        return [tuple(r.values()) for r in wh.sql(query).to_pylist()]


@pytest.mark.parametrize("fmt", ["pkl", "csv"])
def test_loads_transactions_labels_and_delayed_chargebacks(frame: pd.DataFrame, tmp_path: Path, fmt: str) -> None:
    write_handbook(frame, tmp_path / "data", fmt=fmt, start=CONFIG.start)  # type: ignore[arg-type]
    ws = init_workspace(tmp_path / "ws", features="handbook")
    s = load_path(ws, tmp_path / "data", fraud_known_after=timedelta(days=7))
    frauds = int(frame["TX_FRAUD"].sum())
    assert frauds > 0
    assert (s.read, s.loaded, s.rejected, s.labels) == (len(frame) + frauds, len(frame) + frauds, 0, len(frame))
    assert len(s.files) == CONFIG.days
    first = frame.iloc[0]
    row = _sql(ws, "SELECT event_id, card_id, customer_id, account_id, merchant_id, amount, txn_type, event_time "
                   "FROM \"transaction\" WHERE event_id = 'hb-0'")[0]
    assert row[:7] == ("hb-0", f"C{first.CUSTOMER_ID}", f"C{first.CUSTOMER_ID}", f"C{first.CUSTOMER_ID}",
                       f"T{first.TERMINAL_ID}", pytest.approx(first.TX_AMOUNT), "payment")
    assert pd.Timestamp(row[7]).tz_convert(None) == first.TX_DATETIME
    labelled = _sql(ws, "SELECT count(*) FILTER (WHERE label_is_fraud), count(*) FROM labels_transaction")[0]
    assert labelled == (frauds, len(frame))
    lag = _sql(ws, "SELECT min(epoch(c.event_time) - epoch(t.event_time)), max(epoch(c.event_time) - "
                   "epoch(t.event_time)), count(*) FROM "
                   "chargeback c JOIN \"transaction\" t ON t.event_id = c.ref_event_id WHERE c.reason = 'fraud'")[0]
    assert lag == (7 * 86_400, 7 * 86_400, frauds)


def test_never_known_means_no_chargebacks_and_a_reload_is_all_duplicates(frame: pd.DataFrame,
                                                                         tmp_path: Path) -> None:
    write_handbook(frame, tmp_path / "data", start=CONFIG.start)
    ws = init_workspace(tmp_path / "ws")
    assert load_path(ws, tmp_path / "data", fraud_known_after=None).loaded == len(frame)
    again = load_path(ws, tmp_path / "data", fraud_known_after=None)
    assert (again.loaded, again.duplicates) == (0, len(frame))
    assert _sql(ws, "SELECT count(*) FROM chargeback")[0] == (0,)


def test_wrong_columns_are_named(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    bad = tmp_path / "2018-04-01.pkl"
    pd.DataFrame({"TRANSACTION_ID": [1], "TX_DATETIME": [pd.Timestamp("2018-04-01")], "TX_FRAUD": [0],
                  "CUSTOMER": [1]}).to_pickle(bad)
    with pytest.raises(InputFileError, match=r"missing column\(s\) CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT.*found "
                                             r"TRANSACTION_ID, TX_DATETIME, TX_FRAUD, CUSTOMER"):
        load_path(ws, bad)


def test_bad_values_are_rejected_by_field_and_good_rows_load(frame: pd.DataFrame, tmp_path: Path) -> None:
    part = frame.head(5).copy()
    part["TX_AMOUNT"] = part["TX_AMOUNT"].astype(object)
    part.loc[1, "TX_AMOUNT"] = -3.0
    part["TX_DATETIME"] = part["TX_DATETIME"].astype(str)
    part.loc[2, "TX_DATETIME"] = "yesterday"
    path = tmp_path / "day.csv"
    part.to_csv(path, index=False)
    ws = init_workspace(tmp_path / "ws")
    s = load_path(ws, path, rejects_path=tmp_path / "rejects.jsonl")
    assert (s.loaded, s.rejected) == (3 + int(part["TX_FRAUD"].sum() - part.loc[[1, 2], "TX_FRAUD"].sum()), 2)
    text = (tmp_path / "rejects.jsonl").read_text()
    assert '"field":"amount"' in text and '"field":"event_time"' in text


def test_a_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "2018-04-01.pkl"
    path.write_bytes(pickle.dumps(Exploit()))
    ws = init_workspace(tmp_path / "ws")
    with pytest.raises(InputFileError, match=r"refused to read this pickle: it calls .*system"):
        load_path(ws, path)
    assert not (tmp_path / "pwned").exists()
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(InputFileError, match="expected a pickled pandas DataFrame, got list"):
        load_path(ws, path)


def test_the_cli_loads_a_handbook_csv_and_names_a_bad_delay(frame: pd.DataFrame, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from finrisk.cli.main import app

    path = tmp_path / "transactions.csv"
    part = frame.head(40).copy()
    part.loc[3, "CUSTOMER_ID"] = None  # a gap makes the id column float in the CSV reader: 7.0 must stay "C7"
    part.to_csv(path, index=False)
    ws = init_workspace(tmp_path / "ws")
    runner = CliRunner()
    bad = runner.invoke(app, ["load", str(path), "--fraud-known-after", "a week", "-w", str(ws.root)])
    assert bad.exit_code != 0 and "--fraud-known-after: expected a duration such as" in bad.output
    ok = runner.invoke(app, ["load", str(path), "--fraud-known-after", "never", "-w", str(ws.root)])
    assert ok.exit_code == 0, ok.output
    assert "rejected" in ok.output  # the row without a customer has no account_id (required)
    cards = {r[0] for r in _sql(ws, 'SELECT card_id FROM "transaction"')}
    assert f"C{int(frame.iloc[0].CUSTOMER_ID)}" in cards
    assert not any(c.endswith(".0") for c in cards)
    assert _sql(ws, 'SELECT count(*) FROM "transaction"')[0] == (39,)


def test_a_pickle_calling_a_private_numpy_file_helper_is_refused(tmp_path):
    """Private callables are rebuild helpers only from pandas'/numpy's array modules, never numpy's file
    writers (``_savez`` writes any path it is given)."""
    import pickle

    from finrisk.errors import InputFileError
    from finrisk.store._safe_pickle import read_dataframe_pickle

    class _Evil:
        def __reduce__(self):
            import numpy.lib._npyio_impl as npyio
            return (npyio._savez, (str(tmp_path / "written.npz"), (), {}, False))

    bad = tmp_path / "2018-04-01.pkl"
    bad.write_bytes(pickle.dumps(_Evil(), protocol=4))
    with pytest.raises(InputFileError, match="_savez"):
        read_dataframe_pickle(bad)
    assert not (tmp_path / "written.npz").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_dataframe_pickles_of_every_protocol_are_read(tmp_path, protocol):
    import pickle

    import pandas as pd

    from finrisk.store._safe_pickle import read_dataframe_pickle

    frame = pd.DataFrame({"TX_AMOUNT": [1.5, 2.0], "CUSTOMER_ID": [1, 2], "TERMINAL_ID": ["a", "b"],
                          "TX_DATETIME": pd.to_datetime(["2018-04-01 00:00:31", "2018-04-01 00:02:10"])})
    path = tmp_path / "2018-04-01.pkl"
    path.write_bytes(pickle.dumps(frame, protocol=protocol))
    pd.testing.assert_frame_equal(read_dataframe_pickle(path), frame)


def test_rows_checked_a_file_at_a_time_equal_the_validators_normal_form(frame: pd.DataFrame) -> None:
    """The loader skips the per-row validator for rows the columnar checks pass: their normal form
    must be exactly the validator's, and every row with a problem must be left to the validator."""
    from finrisk.events.registry import EventTypeRegistry
    from finrisk.events.validate import EventValidator
    from finrisk.store.handbook import PrevalidatedShape, _events

    registry = EventTypeRegistry.builtin()
    shape = PrevalidatedShape.from_registry(registry)
    assert shape is not None
    part = frame.head(300).copy()
    part["TX_AMOUNT"] = part["TX_AMOUNT"].astype(object)
    part.loc[1, "TX_AMOUNT"] = -3.0
    part.loc[2, "TX_AMOUNT"] = float("inf")
    part.loc[3, "TX_DATETIME"] = pd.NaT
    part.loc[4, "TRANSACTION_ID"] = None
    part.loc[5, "TX_AMOUNT"] = 12  # an int amount: the validator makes it 12.0
    part.loc[6, "TX_FRAUD"] = 1
    events, chargebacks = _events(part, timedelta(days=7), shape)
    assert len(chargebacks) >= 1
    validator = EventValidator(registry)
    ready = 0
    frauds = [bool(f) for f in part["TX_FRAUD"]] + [None] * len(chargebacks)
    scenarios = [int(v) for v in part["TX_FRAUD_SCENARIO"]] + [None] * len(chargebacks)
    for (raw, done), fraud, scenario in zip(events + chargebacks, frauds, scenarios, strict=True):
        body = {k: v for k, v in raw.items() if v is not None and not k.startswith("label_")}
        try:
            expected = validator.validate(body)
        except Exception:  # noqa: BLE001 (any refusal: the row must go to the validator)
            assert done is None, raw
            continue
        if done is None:
            assert raw["event_id"] is None or raw["event_time"] is None
            continue
        ready += 1
        assert done[0] == expected and list(done[0]) == list(expected)
        assert [type(v) for v in done[0].values()] == [type(v) for v in expected.values()]
        labels = None if fraud is None else {"label_is_fraud": fraud, "label_fraud_scenario": scenario}
        assert done[1] == labels
    assert ready >= 290 + len(chargebacks) - 2
    assert events[1][1] is None and events[2][1] is None and events[3][1] is None and events[4][1] is None
    assert events[5][1] is not None and events[5][1][0]["amount"] == 12.0


def test_a_workspace_with_other_transaction_rules_is_validated_row_by_row(tmp_path: Path) -> None:
    from finrisk.events.registry import EventTypeRegistry, builtin_event_types_text
    from finrisk.store.handbook import PrevalidatedShape

    text = builtin_event_types_text().replace("enum: [app, web, pos, atm, bank]", "enum: [app, web]")
    assert text != builtin_event_types_text()
    path = tmp_path / "event_types.yaml"
    path.write_text(text, encoding="utf-8")
    assert PrevalidatedShape.from_registry(EventTypeRegistry.from_files([path])) is None
