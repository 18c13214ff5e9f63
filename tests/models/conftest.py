"""One small simulated world loaded into a workspace, shared by the model tests."""

from __future__ import annotations

import pytest

from finrisk.config import Workspace, init_workspace, load_workspace
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store import Warehouse
from finrisk.store.ingest import load_path


@pytest.fixture(scope="session")
def world_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("models")
    init_workspace(root / "ws")
    simulate_world(WorldConfig(customers=220, days=18, seed=5), out_dir=root / "world", fmt="parquet")
    ws = load_workspace(root / "ws")
    load_path(ws, root / "world" / "events")
    with Warehouse.open(ws) as wh:
        wh.flush(all=True)
    return ws
