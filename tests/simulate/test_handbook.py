"""Our implementation of the handbook's generator follows its published rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finrisk.errors import SimulationConfigError
from finrisk.simulate.handbook import HANDBOOK_COLUMNS, HandbookConfig, generate_handbook, write_handbook

CONFIG = HandbookConfig(customers=300, terminals=600, days=40, start=date(2018, 4, 1), seed=3)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_handbook(CONFIG)


def test_columns_order_and_times_agree(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == HANDBOOK_COLUMNS
    assert frame["TRANSACTION_ID"].tolist() == list(range(len(frame)))
    assert frame["TX_DATETIME"].is_monotonic_increasing
    start = pd.Timestamp(CONFIG.start)
    seconds = (frame["TX_DATETIME"] - start).dt.total_seconds().astype(int)
    assert (seconds == frame["TX_TIME_SECONDS"]).all()
    assert (frame["TX_TIME_SECONDS"] // 86_400 == frame["TX_TIME_DAYS"]).all()
    assert frame["TX_TIME_DAYS"].between(0, CONFIG.days - 1).all()


def test_fraud_scenarios_follow_the_rules(frame: pd.DataFrame) -> None:
    fraud, scenario = frame["TX_FRAUD"], frame["TX_FRAUD_SCENARIO"]
    assert ((scenario > 0) == (fraud == 1)).all()
    assert set(scenario.unique()) == {0, 1, 2, 3}
    assert (frame.loc[scenario == 0, "TX_AMOUNT"] <= 220).all()  # every big amount is fraud
    assert (frame.loc[scenario == 1, "TX_AMOUNT"] > 220).all()
    # scenario 2: every later transaction at a compromised terminal within its first fraud day + 27 stays fraud
    s2 = frame[scenario == 2]
    term = s2["TERMINAL_ID"].iloc[0]
    first = s2.loc[s2["TERMINAL_ID"] == term, "TX_TIME_DAYS"].min()
    window = frame[(frame["TERMINAL_ID"] == term) & frame["TX_TIME_DAYS"].between(first, first + 27)]
    assert (window["TX_FRAUD"] == 1).all()
    # scenario 3 multiplies amounts by 5: far above the customer's legitimate mean
    legit = frame[fraud == 0].groupby("CUSTOMER_ID")["TX_AMOUNT"].mean()
    s3 = frame[scenario == 3]
    ratio = s3["TX_AMOUNT"].to_numpy() / legit.reindex(s3["CUSTOMER_ID"]).to_numpy()
    assert np.nanmedian(ratio) > 3


def test_volume_matches_the_published_rates(frame: pd.DataFrame) -> None:
    per_customer_day = len(frame) / (CONFIG.customers * CONFIG.days)
    assert 1.6 < per_customer_day < 2.1  # U(0, 4) a day, minus times outside the day and isolated customers
    assert frame["TX_AMOUNT"].min() >= 0


def test_same_seed_same_data_other_seed_other_data(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_handbook(CONFIG), frame)
    other = generate_handbook(HandbookConfig(customers=300, terminals=600, days=40, seed=4))
    assert len(other) != len(frame) or not other["TX_AMOUNT"].equals(frame["TX_AMOUNT"])


def test_writes_one_file_per_day(frame: pd.DataFrame, tmp_path: Path) -> None:
    files = write_handbook(frame, tmp_path / "pkl", start=CONFIG.start)
    assert [f.name for f in files[:2]] == ["2018-04-01.pkl", "2018-04-02.pkl"]
    back = pd.concat([pd.read_pickle(f) for f in files], ignore_index=True)  # noqa: S301 (our own file)
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True))
    csv = write_handbook(frame, tmp_path / "csv", fmt="csv", start=CONFIG.start)
    assert csv[0].read_text().splitlines()[0] == ",".join(HANDBOOK_COLUMNS)


def test_bad_settings_are_named() -> None:
    with pytest.raises(SimulationConfigError, match="customers: expected an integer >= 1"):
        HandbookConfig(customers=0)
    with pytest.raises(SimulationConfigError, match="fmt: expected pkl or csv"):
        write_handbook(pd.DataFrame(), Path("."), fmt="xlsx")  # type: ignore[arg-type]
