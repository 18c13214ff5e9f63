"""``warehouse_features`` on a real workspace, and ``finrisk features list/build`` through CliRunner."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from finrisk.cli._common import console
from finrisk.cli.main import app
from finrisk.config import Workspace, init_workspace, load_workspace
from finrisk.errors import WorkspaceError
from finrisk.features.offline import build_features, warehouse_features
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store import Warehouse
from finrisk.store.ingest import load_path

runner = CliRunner()

FEATURES = """\
features:
  cust_txn_24h: {key: customer_id, events: transaction, agg: count, window: 24h}
  cust_amount_mean_7d: {key: customer_id, events: transaction, agg: mean, field: amount, window: 7d}
  device_customers_7d: {key: device_id, events: [login, loan_application], agg: count_distinct, field: customer_id,
                        window: 7d}
  cust_loans_30d: {key: customer_id, events: loan_application, agg: count, window: 30d}
  merchant_chargebacks: {key: merchant_id, events: chargeback, agg: count, window: 30d, lag: 1d,
                         time_field: ref_time}
  amount_vs_mean: {derive: ratio, inputs: [amount, cust_amount_mean_7d]}
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("features")
    init_workspace(root / "ws")
    (root / "ws" / "features.yaml").write_text(FEATURES)
    world = root / "world"
    simulate_world(WorldConfig(customers=150, days=12, seed=11), out_dir=world, fmt="parquet")
    ws = load_workspace(root / "ws")
    load_path(ws, world / "events")
    with Warehouse.open(ws) as wh:
        wh.flush(all=True)
    return ws


def test_warehouse_features_match_build_features_on_the_same_history(workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "loans.parquet"
    summary = warehouse_features(workspace, event_types=["loan_application"], start=date(2026, 1, 3), end=None,
                                 out=out)
    table = pq.read_table(out)
    assert summary.events == table.num_rows > 0 and summary.features == 6
    assert set(table.column("event_type").to_pylist()) == {"loan_application"}
    assert table.column_names[3:] == [f.name for f in workspace.features]
    with Warehouse.open(workspace) as wh:
        types = ["transaction", "login", "loan_application", "chargeback"]
        history = pa.concat_tables([wh.sql(f'SELECT * FROM "{t}"') for t in types], promote_options="default")
    chosen = [r["event_id"] for r in table.select(["event_id"]).to_pylist()]
    direct = build_features(workspace.features, history, targets=pa.table({"event_id": chosen}))
    assert direct.to_pylist() == table.to_pylist()
    assert min(table.column("event_time").to_pylist()).date() >= date(2026, 1, 3)


def test_cli_list_and_build(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 200)
    listed = runner.invoke(app, ["features", "list", "-w", str(workspace.root)])
    assert listed.exit_code == 0, listed.output
    assert "merchant_chargebacks" in listed.output and "ratio(amount, cust_amount_mean_7d)" in listed.output
    out = tmp_path / "t.parquet"
    built = runner.invoke(app, ["features", "build", "--events", "loan_application,transaction", "--from",
                                "2026-01-02", "--to", "2026-01-04", "--out", str(out), "-w", str(workspace.root)])
    assert built.exit_code == 0, built.output
    assert "feature build summary" in built.output
    days = {t.date() for t in pq.read_table(out).column("event_time").to_pylist()}
    assert days <= {date(2026, 1, 2), date(2026, 1, 3), date(2026, 1, 4)} and days


def test_cli_errors_are_one_line(workspace: Workspace, tmp_path: Path) -> None:
    bad = runner.invoke(app, ["features", "build", "--events", "transfer", "--out", str(tmp_path / "x.parquet"),
                              "-w", str(workspace.root)])
    assert bad.exit_code == 1
    assert "unknown event type 'transfer'" in bad.output and "Traceback" not in bad.output
    bad_day = runner.invoke(app, ["features", "build", "--events", "login", "--from", "March", "--out",
                                  str(tmp_path / "x.parquet"), "-w", str(workspace.root)])
    assert bad_day.exit_code == 1 and "--from: expected a date such as 2026-03-01, got 'March'" in bad_day.output


def test_a_workspace_without_features_says_so(tmp_path: Path) -> None:
    init_workspace(tmp_path / "empty")
    (tmp_path / "empty" / "features.yaml").unlink()
    ws = load_workspace(tmp_path / "empty")
    with pytest.raises(WorkspaceError, match="no features are declared"):
        warehouse_features(ws, event_types=["login"], out=tmp_path / "x.parquet")
