"""``OnlineFeatureEngine.add``: adding an event without computing its values leaves the state the full
step would: the per-key state is equal field by field and every later event gets the same values
(random streams, in and out of order, and the demo feature set over a simulated world)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finrisk._yamlfile import load_yaml, parse_yaml
from finrisk.features._online_group import WindowGroup
from finrisk.features._online_state import rebuild_extremes
from finrisk.features.online import OnlineFeatureEngine
from finrisk.features.spec import FeatureSet, parse_features
from finrisk.simulate import WorldConfig, simulate_world

from ._streams import REGISTRY, in_order, load_world, normalise, table_to_events
from .test_properties import SETTINGS, feature_sets, streams

DEMO = Path(__file__).resolve().parents[2] / "src" / "finrisk" / "features" / "demo_features.yaml"


def canonical(engine: OnlineFeatureEngine) -> dict[Any, Any]:
    """Every group's per-key state, field by field (entries, window bounds, ``now``, ``due``, running
    aggregates, min/max deques), the deques rebuilt first where an insertion marked them ``dirty`` (as
    the next read of a min or max does)."""
    out: dict[Any, Any] = {}
    for n, group in enumerate(engine._groups):
        for key, ks in group.states.items():
            if not isinstance(group, WindowGroup):
                out[n, key] = ks
                continue
            row = []
            for win, sub in zip(group.windows, (*ks.sibs, ks), strict=True):
                if sub.dirty:
                    rebuild_extremes(win.columns, sub)
                row.append((sub.ents, sub.ws, sub.we, sub.now, sub.due, sub.nn, sub.s1, sub.s2, sub.dist,
                            [list(d) if d is not None else None for d in (*sub.mins, *sub.maxs)]))
            out[n, key] = row
    return out


def _pair(fs: FeatureSet, lateness: int) -> tuple[OnlineFeatureEngine, OnlineFeatureEngine]:
    return OnlineFeatureEngine(fs, allowed_lateness_us=lateness), OnlineFeatureEngine(fs, allowed_lateness_us=lateness)


@SETTINGS
@given(fs=feature_sets(), events=streams(), ordered=st.booleans(), adds=st.lists(st.booleans(), min_size=28))
def test_add_leaves_the_state_values_would(fs: FeatureSet, events: list[dict[str, Any]], ordered: bool,
                                           adds: list[bool]) -> None:
    """Random events are added (not evaluated) by one engine; the other evaluates all of them."""
    stream = in_order(events) if ordered else events
    full, warm = _pair(fs, 86_400_000_000)
    for e, only_add in zip(stream, adds, strict=False):
        expected = full.values(dict(e))
        if only_add:
            warm.add(dict(e))
        else:
            assert warm.values(dict(e)) == expected, e
    assert (warm.lateness.late, warm.lateness.too_late) == (full.lateness.late, full.lateness.too_late)
    assert canonical(warm) == canonical(full)


def test_add_on_a_late_event_stores_it_and_counts_it_late() -> None:
    fs = parse_features(parse_yaml("features:\n  n: {key: customer_id, events: login, agg: count, window: 1h}\n",
                                   "f.yaml"), REGISTRY)
    engine = OnlineFeatureEngine(fs, allowed_lateness_us=600_000_000)
    base = {"event_type": "login", "customer_id": "c", "success": True}
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    engine.add({**base, "event_id": "b", "event_time": t0 + timedelta(minutes=5)})
    engine.add({**base, "event_id": "a", "event_time": t0})  # 5 minutes late: stored in order
    assert engine.lateness.late == 1
    assert engine.process({**base, "event_id": "c", "event_time": t0 + timedelta(minutes=10)}) == {"n": 2}


@pytest.mark.slow
def test_demo_features_after_add_warm_up_equal_the_full_step(tmp_path: Path) -> None:
    """The replay case: the first two thirds of a simulated world only warm the state up."""
    fs = parse_features(load_yaml(DEMO), REGISTRY)
    simulate_world(WorldConfig(customers=100, days=15, seed=3), out_dir=tmp_path, fmt="parquet")
    events = [normalise(e) for e in in_order(table_to_events(load_world(tmp_path)))]
    cut = 2 * len(events) // 3
    full, warm = _pair(fs, 0)
    for e in events[:cut]:
        full.values(e)
        warm.add(e)
    assert canonical(warm) == canonical(full)
    for e in events[cut:]:
        assert warm.values(e) == full.values(e), e["event_id"]
