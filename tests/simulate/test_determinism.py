from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from finrisk.simulate import SimulationSummary, WorldConfig, simulate_world

CONFIG = WorldConfig(customers=300, days=6, seed=11, fraud_share=0.05)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> SimulationSummary:
    return simulate_world(CONFIG, tmp_path_factory.mktemp("a"))


def _tables(out: Path) -> dict[str, object]:
    tables: dict[str, object] = {
        t.name: pq.read_table(t) for t in sorted((out / "events").iterdir())
    }
    for name in ("customers", "entity_labels", "merchants"):
        tables[name] = pq.read_table(out / "reference" / f"{name}.parquet")
    return tables


def test_same_seed_gives_identical_tables_whatever_the_part_size(first: SimulationSummary, tmp_path: Path) -> None:
    again = simulate_world(replace(CONFIG, rows_per_part=1000), tmp_path)
    a, b = _tables(first.out_dir), _tables(again.out_dir)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].equals(b[name]), name  # type: ignore[attr-defined]
    assert len(list((tmp_path / "events" / "login").glob("*.parquet"))) > 1


def test_different_seed_gives_different_events(first: SimulationSummary, tmp_path: Path) -> None:
    other = simulate_world(replace(CONFIG, seed=12), tmp_path)
    a = pq.read_table(first.out_dir / "events" / "transaction")
    b = pq.read_table(other.out_dir / "events" / "transaction")
    assert not a.equals(b)


def test_progress_is_reported_per_day(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    simulate_world(WorldConfig(customers=50, days=3, seed=1), tmp_path, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
