from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.errors import QueryError
from finrisk.events import EventTypeRegistry
from finrisk.features._offline_sql import plan_sql
from finrisk.features.offline import build_features, compile_sql
from finrisk.features.spec import FeatureSet, parse_features

REG = EventTypeRegistry.builtin()
T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = pa.timestamp("us", tz="UTC")


def features(body: str) -> FeatureSet:
    return parse_features(parse_yaml("features:\n" + body, "features.yaml"), REG)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def table(rows: list[dict[str, Any]], **types: pa.DataType) -> pa.Table:
    names: list[str] = []
    for r in rows:
        names += [k for k in r if k not in names]
    cols = {}
    for n in names:
        t = US if n in ("event_time", "ref_time") else types.get(n)
        cols[n] = pa.array([r.get(n) for r in rows], type=t)
    return pa.table(cols)


def txn(eid: str, sec: float, **fields: Any) -> dict[str, Any]:
    return {"event_id": eid, "event_type": "transaction", "event_time": at(sec), **fields}


def values(out: pa.Table, name: str) -> dict[str, Any]:
    return dict(zip(out.column("event_id").to_pylist(), out.column(name).to_pylist(), strict=True))


ALL_AGGS = """\
  n: {key: customer_id, events: transaction, agg: count, window: 1h}
  s: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1h}
  m: {key: customer_id, events: transaction, agg: mean, field: amount, window: 1h}
  lo: {key: customer_id, events: transaction, agg: min, field: amount, window: 1h}
  hi: {key: customer_id, events: transaction, agg: max, field: amount, window: 1h}
  sd: {key: customer_id, events: transaction, agg: std, field: amount, window: 1h}
  cd: {key: customer_id, events: transaction, agg: count_distinct, field: city, window: 1h}
  la: {key: customer_id, events: transaction, agg: last, field: city, window: 1h}
  tl: {key: customer_id, events: transaction, agg: time_since_last, window: 1h}
  fs: {key: customer_id, events: transaction, agg: first_seen}
"""


def test_every_aggregation_with_ties_and_the_half_open_window() -> None:
    rows = [
        txn("b", 0, customer_id="c", amount=2.0, city="x"),
        txn("a", 0, customer_id="c", amount=1.0, city="y"),  # same microsecond: 'a' comes before 'b'
        txn("c", 1800, customer_id="c", amount=None, city=None),
        txn("d", 3600, customer_id="c", amount=4.0, city="x"),  # t - 1h = 0 exactly: a and b drop out
        txn("e", 3600.000001, customer_id="c", amount=8.0, city="z"),
    ]
    out = build_features(features(ALL_AGGS), table(rows))
    assert out.column("event_id").to_pylist() == ["a", "b", "c", "d", "e"]
    assert values(out, "n") == {"a": 0, "b": 1, "c": 2, "d": 1, "e": 2}
    assert values(out, "s") == {"a": 0.0, "b": 1.0, "c": 3.0, "d": 0.0, "e": 4.0}
    assert values(out, "m") == {"a": None, "b": 1.0, "c": 1.5, "d": None, "e": 4.0}
    assert values(out, "lo") == {"a": None, "b": 1.0, "c": 1.0, "d": None, "e": 4.0}
    assert values(out, "hi") == {"a": None, "b": 1.0, "c": 2.0, "d": None, "e": 4.0}
    sd = values(out, "sd")
    assert sd["a"] is None and sd["b"] is None and sd["d"] is None and sd["e"] is None
    assert sd["c"] == pytest.approx(math.sqrt(0.5), rel=1e-12)
    assert values(out, "cd") == {"a": 0, "b": 1, "c": 2, "d": 0, "e": 1}
    assert values(out, "la") == {"a": None, "b": "y", "c": "x", "d": None, "e": "x"}  # latest non-null
    assert values(out, "tl") == {"a": None, "b": 0.0, "c": 1800.0, "d": 1800.0, "e": pytest.approx(0.000001)}
    assert values(out, "fs") == {"a": None, "b": 0.0, "c": 1800.0, "d": 3600.0, "e": pytest.approx(3600.000001)}
    types = {f.name: f.type for f in out.schema}
    assert types["n"] == pa.int64() and types["cd"] == pa.int64()
    assert all(types[n] == pa.float64() for n in ("s", "m", "lo", "hi", "sd", "tl", "fs"))
    assert types["la"] == pa.string()


def test_lag_window_and_include_current() -> None:
    fs = features("""\
  lagged: {key: customer_id, events: transaction, agg: count, window: 1h, lag: 1h}
  with_me: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1h, include_current: true}
""")
    rows = [txn("a", 0, customer_id="c", amount=1.0), txn("b", 3600, customer_id="c", amount=2.0),
            txn("c", 3601, customer_id="c", amount=4.0), txn("d", 7200, customer_id="c", amount=8.0)]
    out = build_features(fs, table(rows))
    # lag 1h, window 1h: (t - 2h, t - 1h]
    assert values(out, "lagged") == {"a": 0, "b": 1, "c": 1, "d": 1}
    assert values(out, "with_me") == {"a": 1.0, "b": 2.0, "c": 6.0, "d": 12.0}


def test_labels_count_at_their_placement_only_once_known() -> None:
    fs = features("""\
  cb: {key: merchant_id, events: chargeback, agg: count, window: 30d, lag: 1d, time_field: ref_time}
  cb_amount: {key: merchant_id, events: chargeback, agg: last, field: amount, window: 30d, lag: 1d,
              time_field: ref_time}
""")
    day = 86400
    rows = [
        txn("t1", 0, merchant_id="m", amount=10.0),
        {"event_id": "k1", "event_type": "chargeback", "event_time": at(10 * day), "ref_time": at(0),
         "merchant_id": "m", "amount": 10.0},
        txn("t2", 5 * day, merchant_id="m"),  # t1 is in the window but its chargeback is not known yet
        txn("t3", 10 * day, merchant_id="m"),  # same microsecond as k1 but 'k1' < 't3': known
        txn("t4", 31 * day, merchant_id="m"),  # ref_time 0 <= t - 1d - 30d: out of the window
        {"event_id": "k2", "event_type": "chargeback", "event_time": at(12 * day), "ref_time": at(11.5 * day),
         "merchant_id": "m", "amount": 3.0},  # placed inside the lag at t5: not counted
        txn("t5", 12 * day + 1, merchant_id="m"),
    ]
    out = build_features(fs, table(rows))
    got = values(out, "cb")
    assert got == {"t1": 0, "k1": 0, "t2": 0, "t3": 1, "k2": 1, "t5": 1, "t4": 1}
    assert values(out, "cb_amount")["t3"] == 10.0


def test_filters_follow_sql_null_logic_and_null_keys_give_null() -> None:
    fs = features("""\
  big: {key: customer_id, events: transaction, agg: count, window: 1d, filter: "amount > 5"}
  not_big: {key: customer_id, events: transaction, agg: count, window: 1d, filter: "not (amount > 5)"}
  pair: {key: [customer_id, device_id], events: transaction, agg: count, window: 1d}
""")
    rows = [txn("a", 0, customer_id="c", device_id="d1", amount=10.0),
            txn("b", 1, customer_id="c", device_id="d2", amount=None),
            txn("c", 2, customer_id="c", device_id="d1", amount=1.0),
            txn("d", 3, customer_id="c", device_id=None, amount=7.0),
            txn("e", 4, customer_id=None, device_id="d1", amount=7.0),
            txn("f", 5, customer_id="c", device_id="d1", amount=7.0)]
    out = build_features(fs, table(rows))
    assert values(out, "big") == {"a": 0, "b": 1, "c": 1, "d": 1, "e": None, "f": 2}
    assert values(out, "not_big") == {"a": 0, "b": 0, "c": 0, "d": 1, "e": None, "f": 1}
    assert values(out, "pair") == {"a": 0, "b": 0, "c": 1, "d": None, "e": None, "f": 2}


def test_derived_formulas_and_fields_of_the_current_event() -> None:
    fs = features("""\
  mean: {key: customer_id, events: transaction, agg: mean, field: amount, window: 1d}
  std: {key: customer_id, events: transaction, agg: std, field: amount, window: 1d}
  last_lat: {key: customer_id, events: transaction, agg: last, field: lat, window: 1d}
  last_lon: {key: customer_id, events: transaction, agg: last, field: lon, window: 1d}
  since: {key: customer_id, events: transaction, agg: time_since_last, window: 1d}
  ratio: {derive: ratio, inputs: [amount, mean]}
  diff: {derive: difference, inputs: [amount, mean]}
  z: {derive: zscore, inputs: [amount, mean, std]}
  km: {derive: distance_km, inputs: [lat, lon, last_lat, last_lon]}
  kmh: {derive: speed_kmh, inputs: [km, since]}
  moved: {derive: not_equal, inputs: [city, merchant_id]}
  same: {derive: equal, inputs: [city, merchant_id]}
""")
    rows = [txn("a", 0, customer_id="c", amount=0.0, lat=0.0, lon=0.0, city="x", merchant_id="x"),
            txn("b", 0, customer_id="c", amount=2.0, lat=0.0, lon=1.0, city="x", merchant_id="y"),
            txn("c", 3600, customer_id="c", amount=4.0, lat=0.0, lon=1.0, city=None, merchant_id="y")]
    out = build_features(fs, table(rows))
    r = {row["event_id"]: row for row in out.to_pylist()}
    assert r["a"]["ratio"] is None and r["a"]["z"] is None and r["a"]["km"] is None
    assert r["b"]["ratio"] is None  # mean 0: zero denominator
    assert r["b"]["diff"] == 2.0 and r["b"]["z"] is None  # one value: std null
    assert r["c"]["ratio"] == 4.0 and r["c"]["diff"] == 3.0
    assert r["c"]["z"] == pytest.approx((4.0 - 1.0) / math.sqrt(2.0), rel=1e-12)
    one_degree = 2 * 6371.0088 * math.asin(math.sin(math.radians(1) / 2))
    assert r["b"]["km"] == pytest.approx(one_degree, rel=1e-12)
    assert r["b"]["kmh"] is None  # zero seconds
    assert r["c"]["km"] == 0.0 and r["c"]["kmh"] == 0.0
    assert (r["a"]["moved"], r["a"]["same"]) == (False, True)
    assert (r["b"]["moved"], r["b"]["same"]) == (True, False)
    assert (r["c"]["moved"], r["c"]["same"]) == (None, None)
    assert out.schema.field("moved").type == pa.bool_()


def test_targets_subset_uses_the_whole_history() -> None:
    fs = features("  n: {key: customer_id, events: transaction, agg: count, window: 1d}\n")
    rows = [txn(f"e{i}", i, customer_id="c") for i in range(5)]
    out = build_features(fs, table(rows), targets=pa.table({"event_id": ["e3", "e1"]}))
    assert out.column("event_id").to_pylist() == ["e1", "e3"]
    assert out.column("n").to_pylist() == [1, 3]


def test_arrival_order_reproduces_what_was_served() -> None:
    fs = features("  s: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1d}\n")
    rows = [txn("a", 0, customer_id="c", amount=1.0, seq=1),
            txn("c", 20, customer_id="c", amount=4.0, seq=2),
            txn("b", 10, customer_id="c", amount=2.0, seq=3),  # arrived late
            txn("d", 30, customer_id="c", amount=8.0, seq=4)]
    events = table(rows)
    assert values(build_features(fs, events), "s") == {"a": 0.0, "b": 1.0, "c": 3.0, "d": 7.0}
    # as served: 'c' was computed before 'b' arrived
    assert values(build_features(fs, events, arrival_column="seq"), "s") == {"a": 0.0, "b": 1.0, "c": 1.0, "d": 7.0}


def test_appending_future_events_changes_no_earlier_value() -> None:
    fs = features(ALL_AGGS + "  cb: {key: merchant_id, events: chargeback, agg: count, window: 7d, "
                  "time_field: ref_time}\n")
    rng = random.Random(7)
    rows = [txn(f"e{i:03d}", rng.randrange(0, 7200) // 60 * 60, customer_id=rng.choice("pq"),
                merchant_id="m", amount=rng.choice([None, 1.0, 2.5, 9.0]), city=rng.choice([None, "x", "y"]))
            for i in range(120)]
    before = build_features(fs, table(rows)).to_pylist()
    future = [txn(f"f{i:03d}", 7200 + i, customer_id=rng.choice("pq"), merchant_id="m", amount=100.0, city="z")
              for i in range(30)]
    future.append({"event_id": "k", "event_type": "chargeback", "event_time": at(7300), "ref_time": at(60),
                   "merchant_id": "m"})
    after = build_features(fs, table(rows + future), targets=pa.table({"event_id": [r["event_id"] for r in rows]}))
    assert after.to_pylist() == before


def test_fast_path_and_join_path_agree_on_random_ties() -> None:
    """The window-frame path and the range-join path (forced by an arrival order equal to the event
    order) are independent compilations of the same rules."""
    fs = features(ALL_AGGS.replace("1h", "10m") + """\
  lag_sum: {key: customer_id, events: transaction, agg: sum, field: amount, window: 10m, lag: 5m}
  f_max: {key: [customer_id, city], events: transaction, agg: max, field: amount, window: 30m, filter: "amount < 9"}
  cur_std: {key: customer_id, events: transaction, agg: std, field: amount, window: 20m, include_current: true}
""")
    rng = random.Random(3)
    rows = [txn(f"e{rng.randrange(10**6):06d}x{i}", rng.randrange(0, 3600) // 30 * 30,
                customer_id=rng.choice(["p", "q", None]), amount=rng.choice([None, 1.0, 2.5, 9.0, 4.25]),
                city=rng.choice([None, "x", "y"])) for i in range(400)]
    events = table(rows)
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["event_time"], rows[i]["event_id"]))
    seq = [0] * len(rows)
    for pos, i in enumerate(order):
        seq[i] = pos
    fast = build_features(fs, events).to_pylist()
    joined = build_features(fs, events.append_column("seq", pa.array(seq, pa.int64())), arrival_column="seq")
    assert_same_rows(fast, joined.to_pylist())


def assert_same_rows(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> None:
    """Equal rows; floats at 1e-9 relative (two summation orders differ in the last bits)."""
    for a, b in zip(left, right, strict=True):
        for k, v in a.items():
            w = b[k]
            same = v == w if not isinstance(v, float) else v == pytest.approx(w, rel=1e-9, abs=1e-9)
            assert same, (k, a, b)


def test_coarse_timestamps_with_thousands_of_ties() -> None:
    """Day-resolution data (thousands of events per timestamp) widens the tie bits and coarsens the unit."""
    fs = features("""\
  n: {key: customer_id, events: transaction, agg: count, window: 1d}
  s: {key: customer_id, events: transaction, agg: sum, field: amount, window: 2d, include_current: true}
""")
    rows = [txn(f"e{i:05d}", 86400 * (i // 2500), customer_id=f"c{i % 2}", amount=1.0) for i in range(7500)]
    out = build_features(fs, table(rows))
    n, s = values(out, "n"), values(out, "s")
    # day 0 is exactly t - 1d for day-1 events: outside the 1d window (t - 1d, t], inside the 2d one
    assert n["e00000"] == 0 and n["e00002"] == 1 and n["e02500"] == 0 and n["e02502"] == 1
    assert s["e02500"] == 1251.0 and s["e07498"] == 1250.0 + 1250.0


def test_the_join_only_plan_used_when_the_order_would_overflow_agrees() -> None:
    fs = features(ALL_AGGS)
    rng = random.Random(5)
    rows = [txn(f"e{i:03d}", rng.randrange(0, 5400) // 60 * 60, customer_id=rng.choice("pq"),
                amount=rng.choice([None, 1.0, 2.0]), city=rng.choice([None, "x", "y"])) for i in range(150)]
    events = table(rows)
    con = duckdb.connect()
    con.register("events", events)
    plan = plan_sql(fs, events="events", columns=events.column_names, targets=None, arrival_column=None,
                    frames=False)
    assert all("RANGE" not in step.sql for step in plan.steps)
    assert_same_rows(con.sql(plan.as_query()).to_arrow_table().to_pylist(), build_features(fs, events).to_pylist())


def test_compile_sql_is_inspectable_and_missing_columns_read_as_null() -> None:
    fs = features("  n: {key: customer_id, events: transaction, agg: count, window: 1h}\n")
    sql = compile_sql(fs, events="my_events")
    assert "FROM my_events" in sql and "RANGE BETWEEN" in sql and "ORDER BY _ord" in sql
    no_key = table([txn("a", 0)])
    assert values(build_features(fs, no_key), "n") == {"a": None}


def test_events_without_the_required_columns_are_refused() -> None:
    fs = features("  n: {key: customer_id, events: transaction, agg: count, window: 1h}\n")
    with pytest.raises(QueryError, match="events: missing the column 'event_time'"):
        build_features(fs, pa.table({"event_id": ["a"], "event_type": ["transaction"]}))
    with pytest.raises(QueryError, match="arrival_column: the events have no column 'seq'"):
        build_features(fs, table([txn("a", 0)]), arrival_column="seq")


def _exact_std(xs: list[float]) -> float | None:
    """The online engine's formula: integers trunc(v * 2**64), n*Σx² - (Σx)², one rounding at the end."""
    if len(xs) < 2:
        return None
    ints = [int(v * 2.0**64) for v in xs]
    n, s1 = len(ints), sum(ints)
    return math.sqrt((n * sum(v * v for v in ints) - s1 * s1) * 2.0**-128 / (n * (n - 1)))


def test_numpy_path_sums_and_std_keep_full_precision_next_to_huge_values() -> None:
    """Exact limb sums and the std's exact fallback: a narrow window after (and beside) huge values
    loses nothing, and equal values give exactly 0."""
    fs = features("""\
  s: {key: customer_id, events: transaction, agg: sum, field: amount, window: 10m}
  sd: {key: customer_id, events: transaction, agg: std, field: amount, window: 10m}
  m: {key: customer_id, events: transaction, agg: mean, field: amount, window: 10m}
""")
    amounts = [1e12, 3.0, 1e12, 1e6, 1e6 + 0.01, 1e6 + 0.01, 7.0, 7.0, 0.1, 0.2]
    rows = [txn(f"e{i:02d}", i * 250, customer_id="c", amount=a) for i, a in enumerate(amounts)]
    rows += [txn(f"x{i:02d}", i * 250 + 1, customer_id="other", amount=a * 1e-3) for i, a in enumerate(amounts)]
    out = build_features(fs, table(rows))
    s, sd, m = values(out, "s"), values(out, "sd"), values(out, "m")
    for i in range(1, len(amounts)):
        window = [amounts[j] for j in range(i) if i * 250 - 600 < j * 250]  # the two before
        assert s[f"e{i:02d}"] == pytest.approx(math.fsum(window), rel=1e-15, abs=0), i
        assert m[f"e{i:02d}"] == pytest.approx(math.fsum(window) / len(window), rel=1e-15), i
        want = _exact_std(window)
        got = sd[f"e{i:02d}"]
        assert (got is None) if want is None else got == pytest.approx(want, rel=1e-12, abs=0), (i, got, want)
    assert sd["e06"] == 0.0 and sd["e08"] == 0.0  # equal values: exactly 0


def test_values_beyond_the_exact_sum_range_take_the_sql_path() -> None:
    fs = features("  s: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1h}\n")
    rows = [txn("a", 0, customer_id="c", amount=1e300), txn("b", 1, customer_id="c", amount=2.0),
            txn("c", 2, customer_id="c", amount=1.0)]
    assert values(build_features(fs, table(rows)), "s") == {"a": 0.0, "b": 1e300, "c": 1e300 + 2.0}
