"""One record per entity key across the online engine's state groups (``_online_entities``): groups
keyed by the same field share a record, composite keys nest in it, expiry drops a group's state and
then the record, and snapshots keep the per-group layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from finrisk._yamlfile import parse_yaml
from finrisk.events import EventTypeRegistry
from finrisk.features._online_entities import EntityTable
from finrisk.features.online import OnlineFeatureEngine
from finrisk.features.reference import reference_values
from finrisk.features.spec import FeatureSet, parse_features

REGISTRY = EventTypeRegistry.builtin()
T0 = datetime(2026, 3, 1, tzinfo=UTC)
FS = parse_features(parse_yaml("""\
features:
  logins_1h: {key: customer_id, events: login, agg: count, window: 1h}
  txns_10m: {key: customer_id, events: transaction, agg: count, window: 10m}
  devices_1h: {key: [customer_id, device_id], events: [login, transaction], agg: count, window: 1h}
  device_first: {key: [customer_id, device_id], events: [login, transaction], agg: first_seen}
  ip_logins_1h: {key: ip, events: login, agg: count, window: 1h}
""", "features.yaml"), REGISTRY)


def _event(i: int, etype: str, minutes: float, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"e{i:04d}", "event_type": etype, "event_time": T0 + timedelta(minutes=minutes), **fields}


def _values(fs: FeatureSet, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    engine = OnlineFeatureEngine(fs, allowed_lateness_us=0)
    return [engine.process(e) for e in events]


def test_groups_of_one_key_share_a_record_and_composite_keys_nest_in_it() -> None:
    engine = OnlineFeatureEngine(FS, allowed_lateness_us=0)
    engine.process(_event(1, "login", 0, customer_id="c1", device_id="d1", ip="1.1.1.1"))
    engine.process(_event(2, "transaction", 1, customer_id="c1", device_id="d2"))
    customers = engine._tables["customer_id"].records
    assert list(customers) == ["c1"] and list(engine._tables["ip"].records) == ["1.1.1.1"]
    rec = customers["c1"]
    assert len(rec) == 4  # logins, transactions, (customer, device) counts, (customer, device) first seen
    assert [type(s).__name__ for s in rec] == ["KeyState", "KeyState", "dict", "dict"]
    assert sorted(rec[2]) == ["d1", "d2"] and sorted(rec[3]) == ["d1", "d2"]
    # each group still reads as a dict by full key (snapshots, statistics)
    by_name = {g.features[0].name: g for g in engine._groups}
    assert sorted(by_name["device_first"].states) == [("c1", "d1"), ("c1", "d2")]
    assert engine.stats()["group_keys"] == 1 + 1 + 2 + 2 + 1


def test_a_missing_second_key_field_gives_nulls_and_leaves_the_record_alone() -> None:
    events = [_event(1, "login", 0, customer_id="c1", device_id="d1"),
              _event(2, "login", 1, customer_id="c1"),  # no device: the composite features are null
              _event(3, "login", 2, customer_id="c1", device_id="d1")]
    got = _values(FS, events)
    assert got[1]["devices_1h"] is None and got[1]["device_first"] is None and got[1]["logins_1h"] == 1
    assert got[2]["devices_1h"] == 1 and got[2]["device_first"] == 120.0 and got[2]["logins_1h"] == 2
    want = reference_values(FS, events)
    assert want == got


def test_expiry_drops_a_group_state_then_the_record_once_no_group_holds_anything() -> None:
    fs = parse_features(parse_yaml("""\
features:
  logins_10m: {key: customer_id, events: login, agg: count, window: 10m}
  txns_1h: {key: customer_id, events: transaction, agg: count, window: 1h}
""", "features.yaml"), REGISTRY)
    engine = OnlineFeatureEngine(fs, allowed_lateness_us=0)
    engine.process(_event(0, "login", 0, customer_id="old"))
    engine.process(_event(1, "transaction", 0.5, customer_id="old"))
    records = engine._tables["customer_id"].records
    # other customers' events drive the sweeps; the old customer's login state expires after 10 min,
    # its transaction state after an hour, and then the record goes
    seen_partial = False
    for i in range(2, 400):
        engine.process(_event(i, "login", 0.5 + i * 0.5, customer_id=f"c{i % 3}"))
        rec = records.get("old")
        if rec is not None and rec[0] is None and rec[1] is not None:
            seen_partial = True
    assert seen_partial
    assert "old" not in records
    assert engine.process(_event(999, "transaction", 300, customer_id="old"))["txns_1h"] == 0


def test_snapshot_restores_the_records() -> None:
    engine = OnlineFeatureEngine(FS, allowed_lateness_us=0)
    events = [_event(i, "login" if i % 2 else "transaction", i, customer_id=f"c{i % 3}", device_id=f"d{i % 4}",
                     ip=f"ip{i % 5}") for i in range(60)]
    for e in events[:40]:
        engine.process(e)
    restored = OnlineFeatureEngine.restore(FS, engine.snapshot())
    assert {k: len(r) for k, r in restored._tables["customer_id"].records.items()} == \
        {k: len(r) for k, r in engine._tables["customer_id"].records.items()}
    assert [restored.values(e) for e in events[40:]] == [engine.values(e) for e in events[40:]]


def test_entity_table_slots() -> None:
    table = EntityTable("customer_id")
    single, pair = table.slot(False), table.slot(True)
    single.put("c1", "s")
    pair.put(("c1", "d1"), "p")
    pair.put(("c2", "d1"), "q")
    assert table.records == {"c1": ["s", {"d1": "p"}], "c2": [None, {"d1": "q"}]}
    assert pair.get(("c1", "d1")) == "p" and pair.get(("c1", "d9")) is None and single.get("c2") is None
    assert sorted(pair.keys()) == [("c1", "d1"), ("c2", "d1")] and len(pair) == 2 and len(single) == 1
    pair.drop(("c2", "d1"))
    assert "c2" not in table.records
    single.drop("c1")
    assert table.records == {"c1": [None, {"d1": "p"}]}
    pair.clear()
    assert table.records == {}


def test_the_shorter_windows_of_a_group_sit_in_the_record_after_the_longest() -> None:
    fs = parse_features(parse_yaml("""\
features:
  n_10m: {key: customer_id, events: login, agg: count, window: 10m}
  n_1h: {key: customer_id, events: login, agg: count, window: 1h}
""", "features.yaml"), REGISTRY)
    engine = OnlineFeatureEngine(fs, allowed_lateness_us=0)
    late = OnlineFeatureEngine(fs, allowed_lateness_us=3_600_000_000)
    events = [_event(i, "login", 4 * i, customer_id="c1") for i in range(40)]
    for e in events:
        engine.process(e)
    for e in [events[1], events[0], *events[2:]]:  # the generic (late) path makes the state here
        late.process(e)
    for eng in (engine, late):
        (rec,) = eng._tables["customer_id"].records.values()
        assert len(rec) == 2 and rec[1] is rec[0].sibs[0] and rec[0] is not rec[1]
    engine.process(_event(99, "transaction", 400, customer_id="c2"))  # expiry drops both windows and the record
    for i in range(100, 400):
        engine.process(_event(i, "login", 400 + i, customer_id="c2"))
    assert list(engine._tables["customer_id"].records) == ["c2"]
