"""Read an IBM AMLSim data set in any of the layouts AMLSim has written, from a .tgz or a directory.

Three layouts (column names checked against IBM/AMLSim's ``sample/`` folder, ``sample/outputs`` and
``paramFiles/schema.json``):

* ``sample`` -- the published samples: ``nodes.csv`` (``nodeid, isFraud, fraudStep``) and ``transactions.csv``
  (``sourceNodeId, targetNodeId, value, time``), ``metadata.txt`` naming the patterns but no account's;
* ``outputs_v1`` -- the older converter: ``accounts.csv`` (``ACCOUNT_ID, isFraud``), ``tx.csv``
  (``ACCOUNT_ID, COUNTER_PARTY_ACCOUNT_NUM, TXN_AMOUNT_ORIG, start``), ``alerts.csv`` (``ACCOUNT_ID, CHECK_NAME``);
* ``outputs_v2`` -- the newer converter: ``accounts.csv`` (``acct_id`` and a SAR flag: ``prior_sar_count``,
  ``is_sar`` or ``is_fraud``), ``transactions.csv`` (``orig_acct, bene_acct, base_amt, tran_timestamp``, flag
  ``is_sar``/``is_fraud``), ``alert_accounts.csv`` (``alert_id, alert_type, acct_id``) and
  ``alert_transactions.csv`` (``alert_type, orig_acct, bene_acct``).

Why one reader for all: the issue's check runs the benchmark on AMLSim data the team has not seen, and AMLSim's
output format changed between versions. Anything else is an ``InputFileError`` naming the file and the columns
it lacks. Times become whole steps (AMLSim's step is a day; ISO timestamps are counted in days).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from finrisk.errors import InputFileError
from finrisk.graph.amlsim.patterns import normalise_pattern, patterns_in_metadata

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y"})


@dataclass(frozen=True)
class AmlSimSample:
    """Transfers as event-like columns plus what the data says about laundering.

    ``transfers`` has ``src, dst, amount, time`` (steps) and ``laundering`` (bool: the data marks the transfer as
    part of a laundering pattern; from ``is_sar``, from ``fraudStep`` in the ``sample`` layout, else a transfer
    between two laundering accounts). ``labels`` maps a pattern to the accounts the data itself assigns to it
    (alert type / CHECK_NAME); ``listed_patterns`` are the patterns ``metadata.txt`` names.
    """

    transfers: pd.DataFrame
    laundering: npt.NDArray[np.int64]  # account ids labelled laundering (isFraud / SAR)
    n_nodes: int
    layout: str = "sample"
    labels: dict[str, frozenset[int]] = field(default_factory=dict)
    listed_patterns: tuple[str, ...] = ()


KNOWN_FILES = frozenset({"nodes.csv", "transactions.csv", "metadata.txt", "accounts.csv", "tx.csv", "alerts.csv",
                         "alert_accounts.csv", "alert_transactions.csv"})
KEY_FILES = ("nodes.csv", "tx.csv", "transactions.csv")


class _Source:
    """The files of one data set: the folder nearest the top (inside an archive or under a directory) holding a
    transactions file; only the files a layout uses are read (AMLSim also writes large logs beside them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files: dict[str, bytes] = {}
        try:
            if path.is_dir():
                self._load_dir()
            else:
                self._load_tar()
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise InputFileError(f"{path}: cannot read the AMLSim data ({exc.__class__.__name__})") from None

    @staticmethod
    def _pick(names: Iterable[str]) -> str | None:
        """The shallowest folder holding a key file (ties: the first in name order)."""
        folders = sorted({str(Path(n).parent) for n in names if Path(n).name in KEY_FILES},
                         key=lambda d: (0 if d == "." else d.count("/") + 1, d))
        return folders[0] if folders else None

    def _load_dir(self) -> None:
        files = {str(f.relative_to(self.path)): f for f in self.path.rglob("*")
                 if f.is_file() and f.name in KNOWN_FILES}
        folder = self._pick(files)
        self._files = {Path(n).name: f.read_bytes() for n, f in files.items() if str(Path(n).parent) == folder}

    def _load_tar(self) -> None:
        with tarfile.open(self.path, "r:*") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile() and Path(m.name).name in KNOWN_FILES}
            folder = self._pick(members)
            for name, member in members.items():
                handle = tar.extractfile(member) if str(Path(name).parent) == folder else None
                if handle is not None:
                    self._files[Path(name).name] = handle.read()

    def has(self, name: str) -> bool:
        return name in self._files

    def text(self, name: str) -> str:
        return self._files[name].decode("utf-8", errors="replace")

    def csv(self, name: str, need: Iterable[str], *, one_of: Iterable[Iterable[str]] = ()) -> pd.DataFrame:
        """Read ``name``; every column of ``need`` and one column of each ``one_of`` group must be there."""
        try:
            frame = pd.read_csv(io.BytesIO(self._files[name]), low_memory=False)
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputFileError(f"{self.path}: {name} is not a readable CSV ({exc.__class__.__name__})") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        missing = [c for c in need if c not in frame.columns]
        missing += [" or ".join(group) for group in map(list, one_of) if not set(group) & set(frame.columns)]
        if missing:
            raise InputFileError(f"{self.path}: {name} lacks column(s) {', '.join(missing)}")
        return frame


def _flag(values: pd.Series) -> npt.NDArray[np.bool_]:
    """True for 1/true/yes (any case) or a positive count (``prior_sar_count``)."""
    numeric = pd.to_numeric(values, errors="coerce")
    words = values.astype(str).str.strip().str.lower().isin(TRUE_WORDS)
    return np.asarray(words.to_numpy(bool) | (numeric.fillna(0).to_numpy(float) > 0), dtype=bool)


def _steps(values: pd.Series, where: str) -> npt.NDArray[np.int64]:
    """Whole steps: integers as they are, timestamps as days since the Unix epoch."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy(np.float64).astype(np.int64)
    stamps = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    bad = int(stamps.isna().sum())
    if bad:
        raise InputFileError(f"{where}: {bad} value(s) are neither a step number nor a timestamp")
    days = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(days=1)
    return np.asarray(days.to_numpy(), dtype=np.int64)


def _amounts(values: pd.Series, where: str) -> npt.NDArray[np.float64]:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = int(numeric.isna().sum())
    if bad:
        raise InputFileError(f"{where}: {bad} value(s) are not numbers")
    return numeric.to_numpy(np.float64)


class _Ids:
    """Account ids as int64: kept when they are integers, else numbered in order of first appearance."""

    def __init__(self, *columns: pd.Series) -> None:
        joined = pd.concat([c.astype(str).str.strip() for c in columns], ignore_index=True)
        numeric = pd.to_numeric(joined, errors="coerce")
        self.numeric = bool(numeric.notna().all() and (numeric % 1 == 0).all())
        _, uniques = pd.factorize(joined)
        self._index = pd.Index(uniques)

    def __call__(self, column: pd.Series) -> npt.NDArray[np.int64]:
        if self.numeric:
            return pd.to_numeric(column).to_numpy(np.int64)
        found = self._index.get_indexer(column.astype(str).str.strip())
        return np.asarray(found, dtype=np.int64)


def _transfers(src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64], amount: npt.NDArray[np.float64],
               time: npt.NDArray[np.int64], laundering: npt.NDArray[np.bool_]) -> pd.DataFrame:
    return pd.DataFrame({"src": src, "dst": dst, "amount": amount, "time": time, "laundering": laundering})


def _between_labelled(src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64],
                      labelled: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return np.asarray(np.isin(src, labelled) & np.isin(dst, labelled), dtype=bool)


def _read_sample(src: _Source) -> AmlSimSample:
    nodes = src.csv("nodes.csv", ["nodeid", "isFraud"])
    tx = src.csv("transactions.csv", ["sourceNodeId", "targetNodeId", "value", "time"])
    ids = _Ids(nodes["nodeid"], tx["sourceNodeId"], tx["targetNodeId"])
    node_id = ids(nodes["nodeid"])
    a, b = ids(tx["sourceNodeId"]), ids(tx["targetNodeId"])
    time = _steps(tx["time"], f"{src.path}: transactions.csv column time")
    labelled = node_id[_flag(nodes["isFraud"])]
    if "fraudStep" in nodes.columns:
        # A laundering account's own laundering payment is the one it sends at its fraudStep.
        step = pd.Series(pd.to_numeric(nodes["fraudStep"], errors="coerce").fillna(-1).to_numpy(np.int64),
                         index=node_id)
        sent_step = step.reindex(a).fillna(-1).to_numpy(np.int64)
        marked = _between_labelled(a, b, labelled) & (sent_step == time)
    else:
        marked = _between_labelled(a, b, labelled)
    listed = patterns_in_metadata(src.text("metadata.txt")) if src.has("metadata.txt") else ()
    return AmlSimSample(
        transfers=_transfers(a, b, _amounts(tx["value"], f"{src.path}: transactions.csv column value"), time,
                             marked),
        laundering=labelled, n_nodes=len(nodes), layout="sample", listed_patterns=listed)


def _pattern_labels(accounts: npt.NDArray[np.int64], kinds: pd.Series) -> dict[str, frozenset[int]]:
    names = kinds.astype(str).map(normalise_pattern).to_numpy()
    out: dict[str, set[int]] = {}
    for acct, name in zip(accounts.tolist(), names.tolist(), strict=True):
        if name:
            out.setdefault(name, set()).add(acct)
    return {name: frozenset(members) for name, members in out.items()}


def _read_outputs_v1(src: _Source) -> AmlSimSample:
    accounts = src.csv("accounts.csv", ["ACCOUNT_ID", "isFraud"])
    tx = src.csv("tx.csv", ["ACCOUNT_ID", "COUNTER_PARTY_ACCOUNT_NUM", "TXN_AMOUNT_ORIG", "start"])
    alerts = src.csv("alerts.csv", ["ACCOUNT_ID", "CHECK_NAME"]) if src.has("alerts.csv") else None
    ids = _Ids(accounts["ACCOUNT_ID"], tx["ACCOUNT_ID"], tx["COUNTER_PARTY_ACCOUNT_NUM"],
               *([alerts["ACCOUNT_ID"]] if alerts is not None else []))
    acct = ids(accounts["ACCOUNT_ID"])
    labelled = acct[_flag(accounts["isFraud"])]
    a, b = ids(tx["ACCOUNT_ID"]), ids(tx["COUNTER_PARTY_ACCOUNT_NUM"])
    labels = _pattern_labels(ids(alerts["ACCOUNT_ID"]), alerts["CHECK_NAME"]) if alerts is not None else {}
    return AmlSimSample(
        transfers=_transfers(a, b, _amounts(tx["TXN_AMOUNT_ORIG"], f"{src.path}: tx.csv column TXN_AMOUNT_ORIG"),
                             _steps(tx["start"], f"{src.path}: tx.csv column start"),
                             _between_labelled(a, b, labelled)),
        laundering=labelled, n_nodes=len(accounts), layout="outputs_v1", labels=labels)


ACCOUNT_FLAGS = ("is_sar", "prior_sar_count", "is_fraud", "isFraud", "IS_SAR")
TX_FLAGS = ("is_sar", "is_fraud", "IS_SAR")


def _first(frame: pd.DataFrame, names: Iterable[str]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _read_outputs_v2(src: _Source) -> AmlSimSample:
    accounts = src.csv("accounts.csv", ["acct_id"])
    tx = src.csv("transactions.csv", ["orig_acct", "bene_acct", "base_amt", "tran_timestamp"])
    members = (src.csv("alert_accounts.csv", ["alert_type", "acct_id"])
               if src.has("alert_accounts.csv") else None)
    alert_tx = (src.csv("alert_transactions.csv", ["alert_type", "orig_acct", "bene_acct"])
                if src.has("alert_transactions.csv") else None)
    acct_flag, tx_flag = _first(accounts, ACCOUNT_FLAGS), _first(tx, TX_FLAGS)
    if acct_flag is None and tx_flag is None and members is None:
        raise InputFileError(
            f"{src.path}: no laundering labels: accounts.csv lacks column(s) {' or '.join(ACCOUNT_FLAGS)}, "
            f"transactions.csv lacks {' or '.join(TX_FLAGS)} and there is no alert_accounts.csv")
    extra = [members["acct_id"]] if members is not None else []
    if alert_tx is not None:
        extra += [alert_tx["orig_acct"], alert_tx["bene_acct"]]
    ids = _Ids(accounts["acct_id"], tx["orig_acct"], tx["bene_acct"], *extra)
    acct = ids(accounts["acct_id"])
    a, b = ids(tx["orig_acct"]), ids(tx["bene_acct"])
    marked = _flag(tx[tx_flag]) if tx_flag is not None else None
    if acct_flag is not None:
        labelled = acct[_flag(accounts[acct_flag])]
    elif marked is not None:
        labelled = np.unique(np.concatenate([a[marked], b[marked]]))
    else:
        labelled = np.unique(ids(members["acct_id"])) if members is not None else np.empty(0, np.int64)
    labels: dict[str, set[int]] = {}
    if members is not None:
        for name, group in _pattern_labels(ids(members["acct_id"]), members["alert_type"]).items():
            labels.setdefault(name, set()).update(group)
    if alert_tx is not None:
        for end in ("orig_acct", "bene_acct"):
            for name, group in _pattern_labels(ids(alert_tx[end]), alert_tx["alert_type"]).items():
                labels.setdefault(name, set()).update(group)
    if marked is None:
        marked = _between_labelled(a, b, labelled)
    return AmlSimSample(
        transfers=_transfers(a, b, _amounts(tx["base_amt"], f"{src.path}: transactions.csv column base_amt"),
                             _steps(tx["tran_timestamp"], f"{src.path}: transactions.csv column tran_timestamp"),
                             marked),
        laundering=labelled, n_nodes=len(accounts), layout="outputs_v2",
        labels={name: frozenset(group) for name, group in labels.items()})


def load_amlsim(path: str | Path) -> AmlSimSample:
    """Read an AMLSim data set (.tgz/.tar/directory) in whichever layout it is (see the module docstring)."""
    where = Path(path)
    if not where.exists():
        raise InputFileError(f"{where}: no such file or directory")
    src = _Source(where)
    if src.has("nodes.csv"):
        return _read_sample(src)
    if src.has("tx.csv"):
        if not src.has("accounts.csv"):
            raise InputFileError(f"{where}: tx.csv without accounts.csv (older AMLSim outputs need both)")
        return _read_outputs_v1(src)
    if src.has("accounts.csv") and src.has("transactions.csv"):
        return _read_outputs_v2(src)
    if src.has("transactions.csv"):
        raise InputFileError(f"{where}: transactions.csv without nodes.csv or accounts.csv (no account labels)")
    raise InputFileError(
        f"{where}: not an AMLSim data set: no nodes.csv + transactions.csv, accounts.csv + tx.csv or "
        "accounts.csv + transactions.csv inside")


__all__ = ["AmlSimSample", "load_amlsim"]
