"""Random small event streams: the brute-force reference, the online engine and the offline compiler agree.

Streams use a few keys, times on a coarse grid (many exact ties, broken by event_id in byte order,
which is deliberately not the list order), null keys and fields, and random declarations: every
aggregation, filters with nulls, windows, lags, ``include_current``, a label type placed at
``ref_time`` and derived features over them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from finrisk._yamlfile import parse_yaml
from finrisk.features.reference import reference_values
from finrisk.features.spec import FeatureSet, parse_features

from ._streams import REGISTRY, compare, events_to_table, in_order, normalise, report, run_offline, run_online

T0 = datetime(2026, 3, 1, tzinfo=UTC)
needs_online = pytest.mark.skipif(find_spec("finrisk.features.online") is None,
                                  reason="finrisk.features.online has not landed yet")
needs_offline = pytest.mark.skipif(find_spec("finrisk.features.offline") is None,
                                   reason="finrisk.features.offline has not landed yet")
# no "explain" phase: its line tracing makes a failing example take minutes on Python 3.11
SETTINGS = settings(max_examples=60, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

def _opt(values: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from([*values, None])


_IDS = st.text(alphabet="abcXYZ019-_", min_size=1, max_size=4)
_SECONDS = st.sampled_from([0, 0, 30, 59, 60, 61, 120, 300, 599, 600, 601, 900, 1800, 3599, 3600, 3601, 5400])


@st.composite
def _event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["transaction", "transaction", "login", "chargeback"]))
    t = T0 + timedelta(seconds=draw(_SECONDS) + n % 3 * 7200, microseconds=draw(st.sampled_from([0, 0, 1, 999])))
    e: dict[str, Any] = {"event_type": kind, "event_time": t, "customer_id": draw(_opt(["c1", "c2"])),
                         "device_id": draw(_opt(["d1", "d2", "d3"])), "merchant_id": draw(_opt(["m1", "m2"]))}
    if kind == "transaction":
        e.update(txn_type=draw(st.sampled_from(["payment", "transfer"])), account_id="a1",
                 amount=draw(st.sampled_from([0.0, 1.5, 5, 10.0, 99.99, 250.0, 1e6])),
                 city=draw(_opt(["Shanghai", "Beijing"])), status=draw(_opt(["success", "failed"])),
                 lat=draw(_opt([31.2, 39.9, -33.9])), lon=draw(_opt([121.5, 116.4, 151.2])))
    elif kind == "login":
        e.update(success=draw(_opt([True, False])), ip=draw(_opt(["i1", "i2"])),
                 ip_city=draw(_opt(["Shanghai", "Beijing"])), lat=draw(_opt([31.2, 39.9])), lon=draw(_opt([121.5])))
        e.pop("merchant_id")
    else:
        e.update(ref_event_id="x", ref_time=t - timedelta(seconds=draw(st.sampled_from([0, 60, 600, 3000, 7200]))),
                 reason=draw(_opt(["fraud", "not_received"])), amount=draw(_opt([3.0, 40.0])))
        e.pop("device_id")
    return {k: v for k, v in e.items() if v is not None}


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 28))
    events = [draw(_event(i)) for i in range(n)]
    ids = draw(st.lists(_IDS, min_size=n, max_size=n, unique=True))
    for e, eid in zip(events, ids, strict=True):
        e["event_id"] = eid
    return [normalise(e) for e in events]


# (key, events, filters that make sense for those events, numeric fields, distinct fields)
_SHAPES: list[tuple[list[str], list[str], list[str | None], list[str], list[str]]] = [
    (["customer_id"], ["transaction"], [None, "amount >= 10", "txn_type == 'payment' and status != 'failed'",
                                        "city in ['Shanghai']", "not (amount < 5 or city == 'Beijing')"],
     ["amount", "lat"], ["city", "device_id", "status"]),
    (["device_id"], ["transaction", "login"], [None, "lat > 35", "lat is None", "lat is not None or lon > 0"],
     ["lat", "lon"], ["customer_id", "lat"]),
    (["customer_id", "device_id"], ["login"], [None, "success", "not success", "ip_city != 'Beijing'"],
     ["lat"], ["ip", "ip_city"]),
    (["merchant_id"], ["chargeback"], [None, "reason == 'fraud'", "amount > 5"], ["amount"], ["reason"]),
]
_AGGS = ["count", "sum", "mean", "min", "max", "std", "count_distinct", "last", "time_since_last", "first_seen"]


@st.composite
def feature_sets(draw: st.DrawFn) -> FeatureSet:
    body: dict[str, dict[str, Any]] = {}
    numeric: list[str] = []
    for i in range(draw(st.integers(1, 4))):
        key, events, filters, numbers, distinct = draw(st.sampled_from(_SHAPES))
        agg = draw(st.sampled_from(_AGGS))
        f: dict[str, Any] = {"key": key, "events": events, "agg": agg}
        if agg == "count_distinct":
            f["field"] = draw(st.sampled_from(distinct))
        elif agg in ("sum", "mean", "min", "max", "std", "last"):
            f["field"] = draw(st.sampled_from(numbers))
        flt = draw(st.sampled_from(filters))
        if flt is not None:
            f["filter"] = flt
        labels = events == ["chargeback"]
        if labels and draw(st.booleans()):
            f["time_field"] = "ref_time"
        if agg != "first_seen":
            f["window"] = draw(st.sampled_from(["1m", "10m", "1h", "2h", "1d"]))
            if draw(st.booleans()):
                f["lag"] = draw(st.sampled_from(["0s", "30s", "10m", "1h"]))
        if "time_field" not in f and f.get("lag", "0s") == "0s" and draw(st.booleans()):
            f["include_current"] = True
        name = f"f{i}"
        body[name] = f
        numeric.append(name)
    second = numeric[-1] if len(numeric) > 1 else None
    if len(numeric) >= 2 and draw(st.booleans()):
        a, b = draw(st.permutations(numeric))[:2]
        body["r"] = {"derive": draw(st.sampled_from(["ratio", "difference"])), "inputs": [a, b]}
    if draw(st.booleans()):
        body["far"] = {"derive": "distance_km", "inputs": ["lat", "lon", numeric[0], second or "amount"]}
        if draw(st.booleans()):
            body["speed"] = {"derive": "speed_kmh", "inputs": ["far", numeric[-1]]}
    if draw(st.booleans()):
        body["z"] = {"derive": "zscore", "inputs": ["amount", numeric[0], second or "lat"]}
    if draw(st.booleans()):
        body["ne"] = {"derive": draw(st.sampled_from(["not_equal", "equal"])), "inputs": ["city", "ip_city"]}
    return parse_features(parse_yaml(yaml.safe_dump({"features": body}, sort_keys=False), "random.yaml"), REGISTRY)


def _reference(fs: FeatureSet, events: list[dict[str, Any]], *, arrival: bool = False) -> dict[str, dict[str, Any]]:
    values = reference_values(fs, events, arrival_order=arrival)
    return {e["event_id"]: v for e, v in zip(events, values, strict=True)}


def _describe(fs: FeatureSet, events: list[dict[str, Any]]) -> str:
    decl = "\n".join(f"  {f}" for f in fs)
    ev = "\n".join(f"  {e}" for e in events)
    return f"features:\n{decl}\nevents (list order):\n{ev}"


@needs_online
@SETTINGS
@given(fs=feature_sets(), events=streams())
def test_online_matches_reference_in_order(fs: FeatureSet, events: list[dict[str, Any]]) -> None:
    ordered = in_order(events)
    got, engine = run_online(fs, ordered)
    bad = compare(fs, _reference(fs, events), got)
    assert not bad, report("online vs reference", bad) + "\n" + _describe(fs, ordered)
    assert engine.lateness.late == 0 and engine.lateness.too_late == 0


@needs_offline
@SETTINGS
@given(fs=feature_sets(), events=streams())
def test_offline_matches_reference(fs: FeatureSet, events: list[dict[str, Any]]) -> None:
    got = run_offline(fs, events_to_table(events))
    bad = compare(fs, _reference(fs, events), got)
    assert not bad, report("offline vs reference", bad) + "\n" + _describe(fs, in_order(events))


@needs_online
@needs_offline
@SETTINGS
@given(fs=feature_sets(), events=streams())
def test_out_of_order_arrival_online_and_offline_match_reference(fs: FeatureSet,
                                                                  events: list[dict[str, Any]]) -> None:
    """List order is the arrival order; the lateness allowance covers every event (all served exactly)."""
    expected = _reference(fs, events, arrival=True)
    online, engine = run_online(fs, events, allowed_lateness_us=86_400_000_000)
    assert engine.lateness.too_late == 0
    bad = compare(fs, expected, online)
    assert not bad, report("online (arrival order) vs reference", bad) + "\n" + _describe(fs, events)
    offline = run_offline(fs, events_to_table(events, arrival=True), arrival=True)
    bad = compare(fs, expected, offline)
    assert not bad, report("offline (arrival_column) vs reference", bad) + "\n" + _describe(fs, events)


@needs_online
def test_online_serves_events_with_absent_optional_fields() -> None:
    """Events need not carry every optional field: two transactions with the same number of fields but
    different keys present must each get their own value (not the plan of the other)."""
    from finrisk.features.online import OnlineFeatureEngine

    fs = parse_features(parse_yaml("features:\n  n: {key: [customer_id, device_id], events: login, agg: count,"
                                   " window: 1h}\n", "f.yaml"), REGISTRY)
    engine = OnlineFeatureEngine(fs, allowed_lateness_us=0)
    base = {"event_type": "transaction", "txn_type": "payment", "account_id": "a", "amount": 1.0, "device_id": "d"}
    assert engine.process({**base, "event_id": "1", "event_time": T0, "status": "success"}) == {"n": None}
    later = T0 + timedelta(minutes=1)
    assert engine.process({**base, "event_id": "2", "event_time": later, "customer_id": "c"}) == {"n": 0}


def test_reference_ties_break_by_event_id_bytes_not_list_order() -> None:
    fs = parse_features(parse_yaml("features:\n  n: {key: customer_id, events: login, agg: count, window: 1h}\n"
                                   "  s: {key: customer_id, events: login, agg: time_since_last, window: 1h}\n",
                                   "f.yaml"), REGISTRY)
    same_time = [{"event_id": eid, "event_type": "login", "customer_id": "c", "success": True, "event_time": T0}
                 for eid in ("b", "a", "B")]  # byte order: "B" < "a" < "b"
    values = _reference(fs, same_time)
    assert [values[e]["n"] for e in ("B", "a", "b")] == [0, 1, 2]
    assert values["b"]["s"] == 0.0 and values["B"]["s"] is None


def test_reference_label_counts_only_once_known() -> None:
    text = ("features:\n  cb: {key: merchant_id, events: chargeback, agg: count, window: 30d, lag: 7d,"
            " time_field: ref_time}\n")
    fs = parse_features(parse_yaml(text, "f.yaml"), REGISTRY)
    day = timedelta(days=1)
    chargeback = {"event_id": "cb", "event_type": "chargeback", "merchant_id": "m", "ref_event_id": "tx",
                  "ref_time": T0, "event_time": T0 + 20 * day}
    probes = [{"event_id": f"p{d}", "event_type": "transaction", "merchant_id": "m", "txn_type": "payment",
               "account_id": "a", "amount": 1.0, "event_time": T0 + d * day} for d in (10, 19, 21, 37, 38)]
    values = _reference(fs, [chargeback, *probes])
    # placed at day 0, known at day 20: counts from day 20 while day 0 lies in (t - 37d, t - 7d]
    assert [values[f"p{d}"]["cb"] for d in (10, 19, 21, 37, 38)] == [0, 0, 1, 0, 0]
    assert _reference(fs, [chargeback, probes[2] | {"event_time": T0 + 36 * day}])["p21"]["cb"] == 1
