"""Small simulated worlds shared by the simulate tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from finrisk.simulate import SimulationSummary, WorldConfig, simulate_world

CONFIG = WorldConfig(customers=800, days=14, seed=3, fraud_share=0.05)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimulationSummary:
    return simulate_world(CONFIG, tmp_path_factory.mktemp("world"), fmt="parquet")


@pytest.fixture(scope="session")
def jsonl_world(tmp_path_factory: pytest.TempPathFactory) -> SimulationSummary:
    return simulate_world(CONFIG, tmp_path_factory.mktemp("jsonl"), fmt="jsonl")


def read(out_dir: Path, event_type: str) -> pd.DataFrame:
    return pq.read_table(out_dir / "events" / event_type).to_pandas()


@pytest.fixture(scope="session")
def tx(world: SimulationSummary) -> pd.DataFrame:
    return read(world.out_dir, "transaction")


@pytest.fixture(scope="session")
def entities(world: SimulationSummary) -> pd.DataFrame:
    return pq.read_table(world.out_dir / "reference" / "entity_labels.parquet").to_pandas()
