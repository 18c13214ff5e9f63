from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app
from finrisk.simulate import WorldConfig, simulate_world


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("graphcli")
    simulate_world(WorldConfig(customers=800, days=4, seed=4, fraud_share=0.08), root / "world")
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(root / "ws")]).exit_code == 0
    result = runner.invoke(app, ["load", str(root / "world"), "-w", str(root / "ws")])
    assert result.exit_code == 0, result.output
    return root


def test_graph_scan_lists_alerts_and_writes_parquet(loaded: Path) -> None:
    out = loaded / "alerts.parquet"
    result = CliRunner().invoke(app, ["graph", "scan", "--from", "2026-01-01", "--to", "2026-02-01",
                                      "-w", str(loaded / "ws"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "loop" in result.output and "ring" in result.output and "alerts written" in result.output
    alerts = pd.read_parquet(out)
    assert {"loop", "ring"} <= set(alerts["typology"])
    assert alerts["nodes"].map(len).min() >= 2


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-02-01", "--to", "2026-01-01"], "'--to' parameter must be later than --from"),
    (["--from", "soon", "--to", "2026-01-01"], "'--from' parameter must be an ISO date"),
])
def test_graph_scan_rejects_bad_ranges_without_a_traceback(loaded: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["graph", "scan", *args, "-w", str(loaded / "ws")])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_scan_stores_alerts_that_the_warehouse_backed_view_serves(loaded: Path) -> None:
    from finrisk.config import load_workspace
    from finrisk.graph.alert_store import GraphAlertStore
    from finrisk.graph.serving import CachedGraph, Pseudonymiser, warehouse_loader
    from finrisk.store import open_log, open_warehouse
    from finrisk.store.relational import open_database

    result = CliRunner().invoke(app, ["graph", "scan", "--from", "2026-01-01", "--to", "2026-02-01",
                                      "-w", str(loaded / "ws")])
    assert result.exit_code == 0 and "alerts stored as #" in result.output, result.output
    ws = load_workspace(loaded / "ws")
    with open_database(ws.database_url) as db, open_log(ws) as log:
        store = GraphAlertStore(db)
        loop = next(a for a in store.touching(_loop_subjects(store)) if a.typology == "loop")
        assert len(loop.evidence) >= 3 and all(e["kind"] == "transfer" for e in loop.evidence)
        view = CachedGraph(warehouse_loader(lambda: open_warehouse(ws, log)),
                           Pseudonymiser.for_workspace(ws.root)).view()
        page = view.neighbourhood("account", loop.subject, hops=1, alerts=store)
        assert loop.alert_id in {a["alert_id"] for a in page["alerts"]}
        assert set(loop.nodes[1:]) & {n["id"] for n in page["nodes"]}  # the loop's neighbours, one hop away
        assert (ws.root / "state" / "graph_pseudonym.key").stat().st_mode & 0o077 == 0


def _loop_subjects(store: object) -> list[str]:
    from sqlalchemy import select

    from finrisk.graph.alert_store import GraphAlertStore, graph_alerts

    assert isinstance(store, GraphAlertStore)
    with store.db.read() as conn:
        return list(conn.scalars(select(graph_alerts.c.subject).where(graph_alerts.c.typology == "loop")).all())
