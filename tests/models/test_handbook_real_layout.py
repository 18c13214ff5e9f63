"""The handbook's own files, as its repository ships them, through the commands a user runs.

``Fraud-Detection-Handbook/simulated-data-raw`` holds ``data/YYYY-MM-DD.pkl``, one per day from
2018-04-01, each written by the handbook's generator as
``transactions_df[transactions_df.TX_TIME_DAYS == day].sort_values('TX_TIME_SECONDS')
.to_pickle(path, protocol=4)``: the day's rows keep their place in the whole data set as the index
(not 0..n), columns ``TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT,
TX_TIME_SECONDS, TX_TIME_DAYS, TX_FRAUD, TX_FRAUD_SCENARIO``. The files date from pandas 1.x, whose
pickles name ``Int64Index`` and keep the block manager as a legacy state tuple; a pickler below
writes that older form so the loader is tested on it too, not only on what this pandas writes.
"""

from __future__ import annotations

import copyreg
import json
import pickle
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app
from finrisk.simulate.handbook import HANDBOOK_COLUMNS, HandbookConfig, generate_handbook
from finrisk.store._safe_pickle import read_dataframe_pickle

START = date(2018, 4, 1)
CONFIG = HandbookConfig(customers=100, terminals=200, days=36, start=START, seed=11)


class _Int64Index:
    """Stands for ``pandas.core.indexes.numeric.Int64Index`` (gone since pandas 2) in a written pickle."""


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array rebuild helper, by whatever module it has now
_RENAMED = {id(_RECONSTRUCT): ("numpy.core.multiarray", "_reconstruct"),
            id(_Int64Index): ("pandas.core.indexes.numeric", "Int64Index")}


class _Pandas1Pickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes a DataFrame the way pandas 1.x and numpy 1.x did (protocol 4).

    pandas 1.x: the frame is ``NEWOBJ DataFrame`` + a state dict holding a ``BlockManager`` whose
    state is ``(axes, block_values, block_items, {"0.14.1": {...}})`` with 2-D numpy blocks;
    an integer index is ``_new_Index(Int64Index, {"data": ..., "name": None})``; numpy 1.x names
    its rebuild helper ``numpy.core.multiarray._reconstruct``.
    """

    def __init__(self, file: Any) -> None:
        super().__init__(file, protocol=4)

    def save_global(self, obj: Any, name: str | None = None) -> None:
        renamed = _RENAMED.get(id(obj))
        if renamed is None:
            super().save_global(obj, name)
            return
        self.save(renamed[0])
        self.save(renamed[1])
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if not isinstance(obj, _LegacyManager):
            super().save(obj, save_persistent_id)
            return
        from pandas.core.internals.managers import BlockManager

        self.save(BlockManager)  # NEWOBJ BlockManager, then its legacy state (what save_reduce writes)
        self.save(())
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        self.save(obj.state())
        self.write(pickle.BUILD)

    def reducer_override(self, obj: Any) -> Any:
        from pandas.core.indexes.base import _new_Index

        if isinstance(obj, pd.DataFrame):
            return copyreg.__newobj__, (pd.DataFrame,), {  # type: ignore[attr-defined]
                "_mgr": _LegacyManager(obj), "_typ": "dataframe", "_metadata": [], "attrs": {},
                "_flags": {"allows_duplicate_labels": True}}
        if isinstance(obj, pd.Index):
            kind = _Int64Index if obj.dtype == np.int64 else pd.Index
            return _new_Index, (kind, {"data": np.asarray(obj), "name": obj.name})
        if isinstance(obj, pd.Timestamp):  # pandas 1.x: Timestamp(value, freq, tz)
            return pd.Timestamp, (obj.value, None, None)
        return NotImplemented


class _LegacyManager:
    """One 2-D block per dtype, as pandas 1.x consolidated them."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def state(self) -> tuple[Any, ...]:
        columns = self.frame.columns
        axes = [pd.Index(np.asarray(columns, dtype=object)), self.frame.index]
        groups: dict[str, list[int]] = {}
        for i, dtype in enumerate(self.frame.dtypes):
            groups.setdefault(str(dtype), []).append(i)
        values, items, blocks = [], [], []
        for locs in groups.values():
            block = np.stack([np.asarray(self.frame.iloc[:, i]) for i in locs])
            values.append(block)
            items.append(pd.Index(np.asarray(columns[locs], dtype=object)))
            blocks.append({"values": block, "mgr_locs": np.asarray(locs, dtype=np.int64)})
        return axes, values, items, {"0.14.1": {"axes": axes, "blocks": blocks}}


def _pandas1_pickle(frame: pd.DataFrame, path: Path) -> None:
    with path.open("wb") as fh:
        _Pandas1Pickler(fh).dump(frame)


def _write_like_the_handbook(frame: pd.DataFrame, folder: Path, *, legacy: bool, objects: bool = False) -> int:
    """The handbook's saving loop over ``frame`` (the whole data set, TRANSACTION_ID = its row number)."""
    folder.mkdir(parents=True)
    whole = frame[list(HANDBOOK_COLUMNS)].sort_values("TX_DATETIME").reset_index(drop=True)
    whole["TRANSACTION_ID"] = whole.index
    if objects:  # pandas 1.x concatenating customers without transactions left columns as object
        whole = whole.astype(object)
    for day in range(int(whole.TX_TIME_DAYS.max()) + 1):
        part = whole[whole.TX_TIME_DAYS == day].sort_values("TX_TIME_SECONDS")
        path = folder / f"{pd.Timestamp(START) + pd.Timedelta(days=day):%Y-%m-%d}.pkl"
        if legacy:
            _pandas1_pickle(part, path)
        else:
            part.to_pickle(path, protocol=4)
    return len(whole)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_handbook(CONFIG)


@pytest.mark.parametrize("objects", [False, True])
def test_a_pandas1_pickle_reads_as_the_frame_it_held(frame: pd.DataFrame, tmp_path: Path, objects: bool) -> None:
    whole = frame[list(HANDBOOK_COLUMNS)].head(50).copy()
    whole.index = whole.index + 1000  # a day's rows keep their place in the whole data set
    if objects:
        whole = whole.astype(object)
    path = tmp_path / "2018-04-01.pkl"
    _pandas1_pickle(whole, path)
    raw = path.read_bytes()
    assert b"Int64Index" in raw and b"numpy.core.multiarray" in raw and b"0.14.1" in raw
    got = read_dataframe_pickle(path)
    assert list(got.columns) == list(HANDBOOK_COLUMNS)
    assert list(got.index) == list(whole.index)
    assert got["TX_AMOUNT"].astype(float).tolist() == whole["TX_AMOUNT"].astype(float).tolist()
    assert pd.to_datetime(got["TX_DATETIME"]).tolist() == pd.to_datetime(whole["TX_DATETIME"]).tolist()
    assert got["CUSTOMER_ID"].astype(np.int64).tolist() == whole["CUSTOMER_ID"].astype(np.int64).tolist()


@pytest.mark.parametrize(("legacy", "objects"), [(False, False), (True, True)])
def test_the_handbook_repository_layout_loads_trains_and_reports_from_the_cli(
        frame: pd.DataFrame, tmp_path: Path, legacy: bool, objects: bool) -> None:
    data = tmp_path / "simulated-data-raw" / "data"
    rows = _write_like_the_handbook(frame, data, legacy=legacy, objects=objects)
    frauds = int(frame["TX_FRAUD"].sum())
    ws = str(tmp_path / "hb")
    runner = CliRunner()
    for args in (["init", ws, "--features", "handbook"], ["load", str(data), "-w", ws]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert f"{rows + frauds:,}" in result.output  # every transaction and one chargeback per fraud
    first = str(date(2018, 4, 9))  # a week of history, then two folds of 7 / 7 / 7 days
    result = runner.invoke(app, ["models", "train", "-w", ws, "--from", first, "--label-delay", "7",
                                 "--train-days", "7", "--delay-days", "7", "--test-days", "7", "--folds", "2",
                                 "--step-days", "7", "--trees", "20"])  # default kinds: blend, lightgbm, logistic
    assert result.exit_code == 0, result.output
    meta = json.loads((Path(ws) / "models" / "fraud" / "v1" / "meta.json").read_text())
    assert [r["kind"] for r in meta["folds"]] == ["blend", "lightgbm", "logistic"] * 2 and meta["kind"] == "blend"
    assert 0.5 < meta["metrics"]["auc"] <= 1 and 0 < meta["metrics"]["average_precision"] <= 1
    assert meta["window"].startswith(first)
    report = runner.invoke(app, ["models", "report", "fraud", "-w", ws])
    assert report.exit_code == 0, report.output
    assert "fraud v1 (blend)" in report.output
    assert (Path(ws) / "models" / "fraud" / "v1" / "report.html").exists()
