"""The online engine's state: bounded memory, snapshot/restore, rebuild from the event log, and
agreement with the brute-force reference on random streams that arrive out of order."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.events import EventTypeRegistry, EventValidator
from finrisk.features._online_native import KERNEL
from finrisk.features.derived import compute_derived
from finrisk.features.online import OnlineFeatureEngine, SnapshotError
from finrisk.features.reference import reference_values
from finrisk.features.spec import FeatureSet, parse_features
from finrisk.store import EmbeddedEventLog

REGISTRY = EventTypeRegistry.builtin()
#: the type of a written integer aggregate: a list, or the compiled kernel's Exact
WRITTEN: type = list if KERNEL is None else KERNEL.Exact
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def features(yaml_body: str) -> FeatureSet:
    return parse_features(parse_yaml("features:\n" + yaml_body, "features.yaml"), REGISTRY)


FS = features("""\
  n10: {key: customer_id, events: transaction, agg: count, window: 10m}
  s1h: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1h}
  sd1h: {key: customer_id, events: transaction, agg: std, field: amount, window: 1h}
  mx1h: {key: customer_id, events: transaction, agg: max, field: amount, window: 1h}
  mn1h: {key: customer_id, events: transaction, agg: min, field: amount, window: 1h}
  cd1h: {key: customer_id, events: transaction, agg: count_distinct, field: merchant_id, window: 1h}
  last_city: {key: customer_id, events: transaction, agg: last, field: city, window: 1h}
  since: {key: customer_id, events: [transaction, login], agg: time_since_last, window: 1h}
  incl: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: sum, field: amount,
         window: 30m, include_current: true}
  lagged: {key: customer_id, events: transaction, agg: count, window: 30m, lag: 30m}
  dev: {key: [customer_id, device_id], events: [login, transaction], agg: count, window: 20m}
  dev_first: {key: [customer_id, device_id], events: [login, transaction], agg: first_seen}
  cb: {key: merchant_id, events: chargeback, agg: count, window: 2h, lag: 10m, time_field: ref_time}
  cb_sum: {key: merchant_id, events: chargeback, agg: sum, field: amount, window: 2h, lag: 10m, time_field: ref_time}
  m_txn: {key: merchant_id, events: transaction, agg: count, window: 2h, lag: 10m}
  cb_rate: {derive: ratio, inputs: [cb, m_txn]}
  new_city: {derive: not_equal, inputs: [city, last_city]}
""")


def random_stream(seed: int, n: int, *, span_s: int = 4 * 3600, customers: int = 4) -> list[dict[str, Any]]:
    """Normalised events in (event_time, event_id) order; amounts are multiples of 1/4, so sums are exact."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i in range(n):
        t = T0 + timedelta(seconds=rng.randrange(span_s) if rng.random() < 0.9 else rng.choice([0, 600]))
        kind = rng.choice(["transaction"] * 5 + ["login", "chargeback"])
        body: dict[str, Any] = {"event_id": f"e{rng.randrange(1000):03d}-{i}", "event_type": kind, "event_time": t}
        if kind == "transaction":
            body.update(txn_type=rng.choice(["payment", "transfer"]), account_id="a",
                        customer_id=rng.choice([f"c{k}" for k in range(customers)]),
                        amount=rng.randrange(0, 400) / 4, merchant_id=rng.choice(["m1", "m2", None]),
                        city=rng.choice(["x", "y", None]), device_id=rng.choice(["d1", "d2", None]))
        elif kind == "login":
            body.update(customer_id=rng.choice([f"c{k}" for k in range(customers)]), success=True,
                        device_id=rng.choice(["d1", None]))
        else:
            body.update(ref_event_id="r", ref_time=t - timedelta(seconds=rng.randrange(3 * 3600)),
                        merchant_id=rng.choice(["m1", "m2"]), amount=rng.choice([None, 2.5, 10.0]))
        events.append(EventValidator(REGISTRY).validate(body))
    events.sort(key=lambda e: (e["event_time"], e["event_id"]))
    return events


def shuffle_locally(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Arrival order: swap neighbours a few places apart (late by minutes, within the allowance)."""
    rng = random.Random(seed)
    out = list(events)
    for _ in range(len(out) // 4):
        i = rng.randrange(len(out))
        j = min(len(out) - 1, i + rng.randrange(1, 8))
        out[i], out[j] = out[j], out[i]
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b) and type(a) is type(b) or (a is None and b is None)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("arrival", [False, True])
def test_engine_equals_the_brute_force_reference(seed: int, arrival: bool) -> None:
    stream = random_stream(seed, 160)
    if arrival:
        stream = shuffle_locally(stream, seed)
    expected = reference_values(FS, stream, arrival_order=True)
    engine = OnlineFeatureEngine(FS, allowed_lateness_us=24 * 3_600_000_000)
    for i, (event, want) in enumerate(zip(stream, expected, strict=True)):
        got = engine.process(event)
        bad = {k: (got[k], want[k]) for k in FS.names if not same(got[k], want[k]) and not same(want[k], got[k])}
        assert not bad, f"event {i} {event['event_id']}: {bad}"


def test_memory_stops_growing_on_a_long_steady_stream() -> None:
    fs = features("""\
  n: {key: customer_id, events: transaction, agg: count, window: 10m}
  m: {key: customer_id, events: transaction, agg: max, field: amount, window: 1h}
  first: {key: customer_id, events: transaction, agg: first_seen}
""")
    engine = OnlineFeatureEngine(fs, allowed_lateness_us=600_000_000)
    sizes = []
    for i in range(24_000):  # one event every 6 s for 40 h; customers rotate every hour
        hour = i // 600
        engine.update({"event_id": f"e{i:06d}", "event_type": "transaction",
                       "event_time": T0 + timedelta(seconds=6 * i), "customer_id": f"c{hour}-{i % 20}",
                       "amount": float(i % 97)})
        if i % 6000 == 5999:
            sizes.append(engine.stats())
    windowed = [s["entries"] for s in sizes]
    assert max(windowed) <= 1.2 * min(windowed), windowed  # entries bounded by window + lateness
    assert windowed[-1] < 2_400  # about 2 h per group (window + lateness + sweep delay) of 600 events an hour
    keys = [s["group_keys"] for s in sizes]
    assert keys[-1] - keys[0] == 20 * 30  # only first_seen keeps one entry per key that ever showed up


def test_snapshot_and_restore_give_identical_subsequent_values() -> None:
    stream = shuffle_locally(random_stream(11, 300), 11)
    engine = OnlineFeatureEngine(FS)
    for event in stream[:150]:
        engine.process(event)
    restored = OnlineFeatureEngine.restore(FS, engine.snapshot())
    assert restored.lateness == engine.lateness
    for event in stream[150:]:
        assert restored.process(event) == engine.process(event)
    live, back = engine.stats(), restored.stats()
    assert (live["entities"], live["group_keys"], live["entries"]) == (back["entities"], back["group_keys"],
                                                                       back["entries"])


def test_restore_refuses_another_feature_set_or_foreign_bytes() -> None:
    snapshot = OnlineFeatureEngine(FS).snapshot()
    other = features("  n10: {key: customer_id, events: transaction, agg: count, window: 1h}\n")
    with pytest.raises(SnapshotError, match=r"'fingerprint' must match the feature set .*1 features.*Got .*"
                                            r"\(17 features\).*other declarations"):
        OnlineFeatureEngine.restore(other, snapshot)
    with pytest.raises(SnapshotError, match=r"must be an online-state snapshot .*Got b'PK"):
        OnlineFeatureEngine.restore(FS, b"PK\x03\x04 not a snapshot")
    with pytest.raises(SnapshotError, match=r"'format' must be 4\. Got 99 instead"):
        OnlineFeatureEngine.restore(FS, snapshot.replace(b'"format": 4', b'"format": 99', 1))


def test_rebuild_from_the_event_log_equals_processing_the_stream(tmp_path: Path) -> None:
    stream = shuffle_locally(random_stream(5, 400), 5)
    live = OnlineFeatureEngine(FS)
    for event in stream:
        live.process(event)
    with EmbeddedEventLog(tmp_path / "log.sqlite", durability="os") as log:
        log.append(stream)
        progress: list[tuple[int, int]] = []
        rebuilt = OnlineFeatureEngine.rebuild(FS, log, progress=lambda done, total: progress.append((done, total)),
                                              every=100)
        assert rebuilt.log_seq == log.last_seq()
    assert progress[-1] == (400, 400) and len(progress) == 5
    assert rebuilt.lateness == live.lateness
    probes = random_stream(99, 40, span_s=5 * 3600)
    for probe in probes:
        assert rebuilt.get(probe) == live.get(probe)
    for probe in probes:
        assert rebuilt.process(probe) == live.process(probe)


@pytest.mark.parametrize(
    ("kind", "inputs", "expected"),
    [("ratio", [1, 4], 0.25), ("ratio", [1, 0], None), ("ratio", [None, 2], None), ("difference", [5.5, 2], 3.5),
     ("zscore", [12.0, 10.0, 4.0], 0.5), ("zscore", [12.0, 10.0, 0.0], None),
     ("distance_km", [0.0, 0.0, 0.0, 1.0], 6371.0088 * math.pi / 180), ("distance_km", [1.0, 2.0, 1.0, 2.0], 0.0),
     ("speed_kmh", [10.0, 1800.0], 20.0), ("speed_kmh", [10.0, 0.0], None), ("not_equal", ["a", "b"], True),
     ("equal", ["a", "b"], False), ("equal", ["a", None], None)],
)
def test_derived_formulas(kind: str, inputs: list[Any], expected: Any) -> None:
    got = compute_derived(kind, inputs)
    assert got == (pytest.approx(expected, rel=1e-12) if isinstance(expected, float) else expected)


def test_derived_errors_name_the_parameter_and_value() -> None:
    with pytest.raises(ValueError, match=r"'kind' parameter of compute_derived must be one of ratio, .*Got 'median'"):
        compute_derived("median", [1, 2])
    with pytest.raises(ValueError, match=r"'inputs' .* must hold 3 values for zscore\. Got 2 instead"):
        compute_derived("zscore", [1, 2])


def _containers(ks: Any) -> list[tuple[str, type]]:
    return [(name, type(getattr(ks, name))) for name in ("nn", "s1", "s2", "mins", "maxs", "dist")]


def test_state_is_cheap_for_the_collector_and_alike_on_both_construction_paths() -> None:
    """Aggregates no column uses are immutable tuples (nothing for the garbage collector to walk), the
    ones written are lists (the kernel's ``Exact`` for the integer ones); the generated step and
    ``KeyState`` (late events, snapshots) build the same."""
    engine = OnlineFeatureEngine(FS)
    for e in random_stream(5, 200):
        engine.values(e)
    checked = 0
    for group in engine._groups:
        for ks in getattr(group, "states", {}).values():
            if not hasattr(ks, "sibs"):
                continue
            for sub, fresh, win in zip((*ks.sibs, ks), (*(g := group.new_state(0)).sibs, g), group.windows,
                                       strict=True):
                assert _containers(sub) == _containers(fresh)
                cols = win.columns
                # written: a list, or with the compiled kernel its Exact (machine integers in one object)
                assert (not isinstance(sub.s1, tuple)) == any(c[1] for c in cols)
                assert (not isinstance(sub.s2, tuple)) == any(c[2] for c in cols)
                assert (not isinstance(sub.nn, tuple)) == any(c[6] for c in cols)
                assert all(type(getattr(sub, f)) in (tuple, list, WRITTEN) for f in ("nn", "s1", "s2"))
                assert isinstance(sub.dist, tuple)
                checked += 1
    assert checked > 4
    # a count-only window keeps no list at all besides its entries
    count_only = OnlineFeatureEngine(features("  n: {key: customer_id, events: login, agg: count, window: 1h}\n"))
    count_only.values({"event_id": "e1", "event_type": "login", "customer_id": "c1", "event_time": T0})
    (ks,) = count_only._groups[0].states.values()
    assert all(t is tuple for _, t in _containers(ks))


#: features of one key and event type that differ only by filter: one group, a filter per column
BY_FILTER = features("""\
  n: {key: customer_id, events: transaction, agg: count, window: 1h}
  pay_n: {key: customer_id, events: transaction, filter: "txn_type == 'payment'", agg: count, window: 1h}
  pay_since: {key: customer_id, events: transaction, filter: "txn_type == 'payment'", agg: time_since_last,
              window: 2h}
  tr_sum: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: sum, field: amount,
           window: 1h}
  tr_max: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: max, field: amount,
           window: 2h}
  tr_city: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: last, field: city,
            window: 2h}
  big_cities: {key: customer_id, events: transaction, filter: "amount >= 50", agg: count_distinct, field: city,
               window: 2h}
  all_mean: {key: customer_id, events: transaction, agg: mean, field: amount, window: 2h}
""")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("arrival", [False, True])
def test_features_differing_by_filter_share_a_group_and_equal_the_reference(seed: int, arrival: bool) -> None:
    stream = random_stream(seed, 200)
    if arrival:
        stream = shuffle_locally(stream, seed)
    expected = reference_values(BY_FILTER, stream, arrival_order=True)
    engine = OnlineFeatureEngine(BY_FILTER, allowed_lateness_us=24 * 3_600_000_000)
    (group,) = engine._groups
    assert len(group.filters) == 3 and group.always
    for i, (event, want) in enumerate(zip(stream, expected, strict=True)):
        got = engine.process(event)
        bad = {k: (got[k], want[k]) for k in BY_FILTER.names if not same(got[k], want[k]) and not same(want[k], got[k])}
        assert not bad, f"event {i} {event['event_id']}: {bad}"
    restored = OnlineFeatureEngine.restore(BY_FILTER, engine.snapshot())
    later = random_stream(seed + 100, 20)
    later = [{**e, "event_time": e["event_time"] + timedelta(hours=5)} for e in later]
    assert [restored.values(e) for e in later] == [engine.values(e) for e in later]


def test_only_filtered_features_keep_only_matching_events() -> None:
    fs = features("""\
  pay_n: {key: customer_id, events: transaction, filter: "txn_type == 'payment'", agg: count, window: 1h}
  tr_n: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: count, window: 1h}
""")
    engine = OnlineFeatureEngine(fs)
    base = {"event_type": "transaction", "customer_id": "c1", "account_id": "a", "amount": 1.0}
    for i, kind in enumerate(["payment", "withdrawal", "transfer", "withdrawal", "payment"]):
        engine.values({**base, "event_id": f"e{i}", "txn_type": kind, "event_time": T0 + timedelta(minutes=i)})
    (group,) = engine._groups
    assert not group.always
    assert len(group.states["c1"].ents) == 3  # the withdrawals matched no filter: not kept
    assert engine.values({**base, "event_id": "e9", "txn_type": "payment", "event_time": T0 + timedelta(minutes=9)}) \
        == [2, 1]


def test_filters_share_a_group_only_where_no_window_sees_more_entries() -> None:
    fs = features("""\
  all_24h: {key: customer_id, events: login, agg: count, window: 24h}
  failed_1h: {key: customer_id, events: login, filter: "not success", agg: count, window: 1h}
  ok_24h: {key: customer_id, events: login, filter: success, agg: count, window: 24h}
  pay_1h: {key: customer_id, events: transaction, filter: "txn_type == 'payment'", agg: count, window: 1h}
  pay_24h: {key: customer_id, events: transaction, filter: "txn_type == 'payment'", agg: count, window: 24h}
  tr_1h: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: count, window: 1h}
""")
    shapes = sorted(sorted(f.name for f in g.features) for g in OnlineFeatureEngine(fs)._groups)
    # a 1-hour window over every login, or a 24-hour one over transfers, would move on events it never saw
    assert shapes == [["all_24h", "ok_24h"], ["failed_1h"], ["pay_1h", "pay_24h"], ["tr_1h"]]


def test_event_times_in_any_time_zone_give_the_same_values() -> None:
    """The engine reads event times through a per-tzinfo epoch (see ``_online_group.EPOCHS``): zoneinfo's
    UTC (what pyarrow returns), fixed offsets either side of UTC and a zone with daylight saving time
    must all give the values of the same instants written in UTC."""
    from zoneinfo import ZoneInfo

    from finrisk.features._online_group import to_us

    stream = random_stream(3, 300)
    base = OnlineFeatureEngine(FS)
    expected = [base.process(e) for e in stream]
    zones = [ZoneInfo("UTC"), timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30)),
             ZoneInfo("Europe/Berlin")]
    for n, zone in enumerate(zones):
        engine = OnlineFeatureEngine(FS)
        moved = [{**e, "event_time": e["event_time"].astimezone(zones[(n + i) % len(zones)] if i % 3 else zone)}
                 for i, e in enumerate(stream)]
        got = [engine.process(e) for e in moved]
        assert got == expected, zone
        warm = OnlineFeatureEngine(FS)  # the update-only path reads times the same way
        for e in moved[:-1]:
            warm.add(e)
        assert warm.process(moved[-1]) == expected[-1]
    summer = datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    for when in (summer, summer.astimezone(timezone(timedelta(hours=-3))), summer.astimezone(ZoneInfo("Etc/UTC"))):
        assert to_us(when) == to_us(when) == (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    with pytest.raises(TypeError, match="naive"):
        to_us(datetime(2026, 1, 1))
