"""Fan-in features on real transaction data no one here wrote: the IBM AMLSim 20K fan-in sample.

Each AMLSim transaction becomes a ``transaction`` event (a transfer from ``sourceNodeId`` to
``targetNodeId`` of ``value``, on day ``time`` after 2026-01-01 plus a deterministic time of day).
The fan-in features are computed online and offline and must agree on every event; and the
accounts that receive laundered money (``isFraud`` receivers of money from other ``isFraud``
accounts) must show a clearly higher peak fan-in than normal accounts.
"""

from __future__ import annotations

import os
import tarfile
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.features.spec import FeatureSet, parse_features

from ._streams import REGISTRY, compare, events_to_table, in_order, normalise, report, run_offline, run_online

# The shared data sits beside the project (../shared/data); FINRISK_SHARED_DATA points elsewhere.
SHARED = Path(os.environ.get("FINRISK_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
DATA = SHARED / "amlsim" / "20K_fanin200.tgz"
START = datetime(2026, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
FEATURES = """
features:
  payee_senders_7d:
    description: Distinct accounts that sent money to this account in the last 7 days.
    key: counterparty_account
    events: transaction
    filter: txn_type == 'transfer'
    agg: count_distinct
    field: account_id
    window: 7d
  payee_amount_in_7d:
    description: Total received by this account in the last 7 days.
    key: counterparty_account
    events: transaction
    filter: txn_type == 'transfer'
    agg: sum
    field: amount
    window: 7d
  payee_mean_in_7d:
    description: Average amount received by this account in the last 7 days.
    key: counterparty_account
    events: transaction
    agg: mean
    field: amount
    window: 7d
  sender_payees_7d:
    description: Distinct accounts this account sent money to in the last 7 days (fan-out).
    key: account_id
    events: transaction
    agg: count_distinct
    field: counterparty_account
    window: 7d
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_spec("finrisk.features.online") is None or find_spec("finrisk.features.offline") is None,
                       reason="the online engine and the offline compiler have not both landed yet"),
]


def _read(member: str) -> pd.DataFrame:
    if not DATA.exists():
        pytest.skip(f"AMLSim sample not found at {DATA} (see ../shared/data/README.md)")
    with tarfile.open(DATA) as tar:
        handle = tar.extractfile(f"20K_fanin200/{member}")
        assert handle is not None
        return pd.read_csv(handle)


def _events(tx: pd.DataFrame) -> list[dict[str, Any]]:
    """AMLSim rows as transfer events; the time of day is a fixed hash of the row number."""
    out = []
    for row, (src, dst, value, step) in enumerate(tx[["sourceNodeId", "targetNodeId", "value", "time"]].itertuples(
            index=False)):
        offset = (row * 2_654_435_761) % DAY_US
        out.append(normalise({
            "event_id": f"aml-{row:06d}", "event_type": "transaction",
            "event_time": START + timedelta(days=int(step), microseconds=offset), "txn_type": "transfer",
            "account_id": f"N{src}", "counterparty_account": f"N{dst}", "amount": float(value), "currency": "USD"}))
    return out


@pytest.fixture(scope="module")
def amlsim() -> tuple[FeatureSet, list[dict[str, Any]], dict[str, dict[str, Any]], pd.DataFrame]:
    tx, nodes = _read("transactions.csv"), _read("nodes.csv")
    fs = parse_features(parse_yaml(FEATURES, "amlsim_features.yaml"), REGISTRY)
    events = _events(tx)
    return fs, events, run_offline(fs, events_to_table(events)), nodes


def test_amlsim_fan_in_online_equals_offline(
        amlsim: tuple[FeatureSet, list[dict[str, Any]], dict[str, dict[str, Any]], pd.DataFrame]) -> None:
    fs, events, offline, _ = amlsim
    assert len(events) == 118_250
    online, _engine = run_online(fs, in_order(events))
    bad = compare(fs, offline, online)
    assert not bad, report("AMLSim: online vs offline", bad)


def test_amlsim_laundering_receivers_have_higher_fan_in(
        amlsim: tuple[FeatureSet, list[dict[str, Any]], dict[str, dict[str, Any]], pd.DataFrame]) -> None:
    _, events, offline, nodes = amlsim
    frame = pd.DataFrame({"src": [e["account_id"] for e in events], "dst": [e["counterparty_account"] for e in events],
                          "fan_in": [offline[e["event_id"]]["payee_senders_7d"] for e in events]})
    fraud = {f"N{n}" for n in nodes.loc[nodes["isFraud"] == 1, "nodeid"]}
    laundering = set(frame.loc[frame["dst"].isin(fraud) & frame["src"].isin(fraud), "dst"])
    peak = frame.groupby("dst")["fan_in"].max()
    bad, normal = peak[peak.index.isin(laundering)], peak[~peak.index.isin(fraud)]
    assert len(bad) > 300 and len(normal) > 10_000
    assert bad.mean() >= 1.8 * normal.mean(), (bad.mean(), normal.mean())
    share_bad, share_normal = (bad >= 3).mean(), (normal >= 3).mean()
    assert share_bad >= 2.5 * share_normal, (share_bad, share_normal)
