"""Online equals offline for the whole demo feature set on a simulated 30-day world, on every event.

In order first (event-time order, ties by event_id), then with out-of-order arrivals: events are
delayed at random, some beyond the allowed lateness; the engine must serve the in-allowance ones
exactly as the offline compiler computes them in ``arrival_column`` mode, and report the others.
"""

from __future__ import annotations

from importlib import resources
from importlib.util import find_spec
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from finrisk._yamlfile import load_yaml, parse_yaml
from finrisk.events import EventTypeRegistry
from finrisk.features.spec import FeatureSet, WindowFeature, parse_features
from finrisk.simulate import WorldConfig, simulate_world

from ._streams import (
    ARRIVAL,
    REGISTRY,
    compare,
    in_order,
    load_world,
    normalise,
    report,
    run_offline,
    run_online,
    table_to_events,
)

needs_engines = pytest.mark.skipif(
    find_spec("finrisk.features.online") is None or find_spec("finrisk.features.offline") is None,
    reason="the online engine and the offline compiler have not both landed yet")

CONFIG = WorldConfig(customers=400, days=30, seed=11)
LATENESS_US = 10 * 60_000_000
MINUTE_US = 60_000_000


def demo_features() -> FeatureSet:
    text = resources.files("finrisk.features").joinpath("demo_features.yaml").read_text("utf-8")
    return parse_features(parse_yaml(text, "demo_features.yaml"), REGISTRY)


def test_demo_feature_set_parses_and_explains_itself() -> None:
    with resources.as_file(resources.files("finrisk.features").joinpath("demo_features.yaml")) as path:
        fs = parse_features(load_yaml(path), EventTypeRegistry.builtin())
    assert 40 <= len(fs) <= 50 and len(fs.window_features) >= 35
    assert all(len(f.description) > 20 for f in fs), [f.name for f in fs if len(f.description) <= 20]
    assert {f.agg.value for f in fs.window_features} >= {"count", "sum", "mean", "std", "max", "count_distinct",
                                                        "last", "time_since_last", "first_seen"}
    assert {f.kind.value for f in fs.derived_features} >= {"ratio", "zscore", "distance_km", "speed_kmh",
                                                          "not_equal"}
    lagged = [f for f in fs.window_features if f.lag_us and f.time_field == "ref_time"]
    assert lagged, "the label feature (chargebacks placed at the transaction time, with a lag) is missing"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    out = tmp_path_factory.mktemp("parity-world")
    simulate_world(CONFIG, out_dir=out, fmt="parquet")
    return load_world(out)


@pytest.fixture(scope="module")
def offline(world: pa.Table) -> dict[str, dict[str, Any]]:
    return run_offline(demo_features(), world)


@needs_engines
@pytest.mark.slow
def test_demo_features_online_equal_offline_on_every_event(world: pa.Table,
                                                           offline: dict[str, dict[str, Any]]) -> None:
    fs = demo_features()
    events = [normalise(e) for e in in_order(table_to_events(world))]
    assert len(events) > 20_000 and {"chargeback", "case_disposition"} <= {e["event_type"] for e in events}
    online, engine = run_online(fs, events, allowed_lateness_us=0)
    assert engine.lateness.late == 0 and engine.lateness.too_late == 0
    assert len(offline) == len(events)
    bad = compare(fs, offline, online)
    assert not bad, report("online vs offline, in order", bad)


@needs_engines
@pytest.mark.slow
def test_demo_features_are_not_degenerate(offline: dict[str, dict[str, Any]]) -> None:
    """Every window feature takes a non-trivial value somewhere (a count above 0, a value not null)."""
    fs = demo_features()
    flat = [f.name for f in fs.window_features
            if not any(row[f.name] not in (None, 0, 0.0) for row in offline.values())]
    assert not flat, f"features that are null or 0 on every event of a 30-day world: {flat}"
    label = next(f for f in fs.window_features if f.name == "merchant_fraud_chargebacks_37d_7d")
    assert isinstance(label, WindowFeature) and label.time_field == "ref_time"


def _arrival(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Delay about one event in eight by up to 15 minutes (the allowance is 10) and sort by arrival."""
    rng = np.random.default_rng(seed)
    n = len(events)
    delay = np.where(rng.random(n) < 0.125, rng.integers(0, 15 * MINUTE_US, n), 0)
    times = np.array([e["event_time"].timestamp() * 1e6 for e in events]) + delay
    order = np.argsort(times, kind="stable")
    return [events[i] for i in order]


def _expected_lateness(events: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Late count and too-late ids by the documented rule: behind the newest seen by more than the allowance."""
    newest: tuple[Any, str] | None = None
    late, too_late = 0, []
    for e in events:
        key = (e["event_time"], str(e["event_id"]))
        if newest is None or key > newest:
            newest = key
            continue
        behind = (newest[0] - e["event_time"]).total_seconds() * 1e6
        if round(behind) > LATENESS_US:
            too_late.append(str(e["event_id"]))
        else:
            late += 1
    return late, too_late


@needs_engines
@pytest.mark.slow
def test_demo_features_out_of_order_online_equal_offline_arrival_mode(world: pa.Table) -> None:
    fs = demo_features()
    events = _arrival([normalise(e) for e in in_order(table_to_events(world))], seed=5)
    late, too_late = _expected_lateness(events)
    assert late > 100 and too_late, "the shuffle should produce both late and too-late events"
    online, engine = run_online(fs, events, allowed_lateness_us=LATENESS_US)
    report_ = engine.lateness
    assert (report_.late, report_.too_late) == (late, len(too_late))
    assert report_.too_late_ids == too_late[: len(report_.too_late_ids)] and report_.too_late_ids
    position = {str(e["event_id"]): i for i, e in enumerate(events)}
    ids = world.column("event_id").to_pylist()
    table = world.append_column(ARRIVAL, pa.array([position[i] for i in ids], type=pa.int64()))
    offline = run_offline(fs, table, arrival=True)
    served = [str(e["event_id"]) for e in events if str(e["event_id"]) not in set(too_late)]
    bad = compare(fs, offline, online, only=served)
    assert not bad, report("online vs offline arrival mode (events within the allowed lateness)", bad)
