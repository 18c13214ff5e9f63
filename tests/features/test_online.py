"""The online engine on hand-computed streams: every aggregation, ties, filters with nulls,
include_current, lag, labels counted only once known, late and too-late events, missing keys."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.events import EventTypeRegistry
from finrisk.features.online import OnlineFeatureEngine
from finrisk.features.spec import FeatureSet, parse_features

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def features(yaml_body: str) -> FeatureSet:
    return parse_features(parse_yaml("features:\n" + yaml_body, "features.yaml"), EventTypeRegistry.builtin())


def txn(eid: str, seconds: float, **fields: Any) -> dict[str, Any]:
    base = {"event_id": eid, "event_type": "transaction", "event_time": T0 + timedelta(seconds=seconds),
            "txn_type": "payment", "customer_id": "c1", "account_id": "a1", "amount": 1.0}
    return {**base, **fields}


def login(eid: str, seconds: float, **fields: Any) -> dict[str, Any]:
    base = {"event_id": eid, "event_type": "login", "event_time": T0 + timedelta(seconds=seconds),
            "customer_id": "c1", "success": True}
    return {**base, **fields}


ALL_AGGS = features("""\
  n: {key: customer_id, events: transaction, agg: count, window: 1h}
  s: {key: customer_id, events: transaction, agg: sum, field: amount, window: 1h}
  m: {key: customer_id, events: transaction, agg: mean, field: amount, window: 1h}
  sd: {key: customer_id, events: transaction, agg: std, field: amount, window: 1h}
  lo: {key: customer_id, events: transaction, agg: min, field: amount, window: 1h}
  hi: {key: customer_id, events: transaction, agg: max, field: amount, window: 1h}
  merchants: {key: customer_id, events: transaction, agg: count_distinct, field: merchant_id, window: 1h}
  city: {key: customer_id, events: transaction, agg: last, field: city, window: 1h}
  since: {key: customer_id, events: transaction, agg: time_since_last, window: 1h}
  first: {key: customer_id, events: transaction, agg: first_seen}
  z: {derive: zscore, inputs: [amount, m, sd]}
""")

STREAM = [
    txn("e1", 0, amount=10.0, merchant_id="m1", city="A"),
    txn("e2", 60, amount=20.0, merchant_id="m2", city=None),
    txn("e3", 60, amount=30.0, merchant_id="m1", city="B"),  # a tie with e2, after it by event_id
    txn("e4", 3600, amount=5.0, merchant_id="m1", city="C"),  # e1 (at exactly t - 1h) has left
    txn("e5", 3660, amount=7.0, merchant_id=None, city=None),  # e2 and e3 have left
]
SQRT50 = math.sqrt(50)
EXPECTED = [
    dict(n=0, s=0.0, m=None, sd=None, lo=None, hi=None, merchants=0, city=None, since=None, first=None, z=None),
    dict(n=1, s=10.0, m=10.0, sd=None, lo=10.0, hi=10.0, merchants=1, city="A", since=60.0, first=60.0, z=None),
    dict(n=2, s=30.0, m=15.0, sd=SQRT50, lo=10.0, hi=20.0, merchants=2, city="A", since=0.0, first=60.0,
         z=15 / SQRT50),
    dict(n=2, s=50.0, m=25.0, sd=SQRT50, lo=20.0, hi=30.0, merchants=2, city="B", since=3540.0, first=3600.0,
         z=-20 / SQRT50),
    dict(n=1, s=5.0, m=5.0, sd=None, lo=5.0, hi=5.0, merchants=1, city="C", since=60.0, first=3660.0, z=None),
]


def assert_values(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, want in expected.items():
        if isinstance(want, float):
            assert got[name] == pytest.approx(want, rel=1e-12), name
        else:
            assert got[name] == want, name


@pytest.mark.parametrize("index", range(len(STREAM)))
def test_every_aggregation_on_a_hand_computed_stream(index: int) -> None:
    engine = OnlineFeatureEngine(ALL_AGGS)
    for event in STREAM[:index]:
        engine.process(event)
    assert engine.get(STREAM[index]) == pytest.approx(engine.get(STREAM[index]))  # get is pure
    values = engine.process(STREAM[index])
    assert list(values) == ALL_AGGS.names
    assert_values(values, EXPECTED[index])


def test_values_is_process_as_a_list_in_names_order() -> None:
    as_dicts, as_lists = OnlineFeatureEngine(ALL_AGGS), OnlineFeatureEngine(ALL_AGGS)
    assert as_lists.names == ALL_AGGS.names
    for event in [*STREAM, txn("late", 30, amount=3.0)]:  # the last one is out of order
        assert as_lists.values(event) == list(as_dicts.process(event).values())


def test_value_types() -> None:
    engine = OnlineFeatureEngine(ALL_AGGS)
    for event in STREAM[:3]:
        values = engine.process(event)
    assert isinstance(values["n"], int) and isinstance(values["merchants"], int)
    assert all(isinstance(values[k], float) for k in ("s", "m", "sd", "lo", "hi", "since", "first"))


def test_std_of_equal_values_is_exactly_zero_however_long_the_stream() -> None:
    fs = features("  sd: {key: customer_id, events: transaction, agg: std, field: amount, window: 10m}\n")
    engine = OnlineFeatureEngine(fs)
    for i in range(500):  # values come and go; the last 10 minutes hold only 0.1s
        engine.process(txn(f"e{i:04d}", 60 * i, amount=0.1 if i > 300 else 1e6 * (i % 7)))
    assert engine.process(txn("z", 60 * 500, amount=0.1))["sd"] == 0.0


def test_key_missing_gives_null_and_the_event_does_not_count() -> None:
    fs = features("  n: {key: [customer_id, device_id], events: [login, transaction], agg: count, window: 1h}\n")
    engine = OnlineFeatureEngine(fs)
    assert engine.process(login("e1", 0, device_id=None))["n"] is None
    assert engine.process(login("e2", 1, device_id="d1"))["n"] == 0
    assert engine.process(txn("e3", 2, device_id="d1"))["n"] == 1
    assert engine.process(txn("e4", 3, device_id="d2"))["n"] == 0
    assert engine.process({"event_id": "e5", "event_type": "repayment", "event_time": T0, "customer_id": "c1"}) == \
        {"n": None}


def test_filters_use_three_valued_logic() -> None:
    fs = features("""\
  big_transfers: {key: customer_id, events: transaction, filter: "txn_type == 'transfer' and amount >= 100",
                  agg: count, window: 1h}
  not_failed: {key: customer_id, events: transaction, filter: "not (status == 'failed')", agg: count, window: 1h}
""")
    engine = OnlineFeatureEngine(fs)
    stream = [txn("e1", 0, txn_type="transfer", amount=150.0, status=None),  # big; status unknown -> not counted
              txn("e2", 1, txn_type="transfer", amount=None, status="success"),  # amount unknown
              txn("e3", 2, txn_type="payment", amount=500.0, status="failed"),
              txn("e4", 3)]
    for event in stream:
        last = engine.process(event)
    assert last == {"big_transfers": 1, "not_failed": 1}


def test_include_current_counts_the_event_itself_only_when_it_qualifies() -> None:
    fs = features("""\
  n_incl: {key: customer_id, events: transaction, filter: "txn_type == 'transfer'", agg: count, window: 1h,
           include_current: true}
  max_incl: {key: customer_id, events: transaction, agg: max, field: amount, window: 1h, include_current: true}
""")
    engine = OnlineFeatureEngine(fs)
    assert engine.process(txn("e1", 0, txn_type="transfer", amount=3.0)) == {"n_incl": 1, "max_incl": 3.0}
    assert engine.get(txn("e2", 1, txn_type="transfer", amount=9.0)) == {"n_incl": 2, "max_incl": 9.0}
    assert engine.process(txn("e2", 1, txn_type="payment", amount=2.0)) == {"n_incl": 1, "max_incl": 3.0}
    assert engine.process(login("e3", 2)) == {"n_incl": 1, "max_incl": 3.0}


def test_lagged_window_ends_lag_before_the_event() -> None:
    fs = features("  n: {key: customer_id, events: transaction, agg: count, window: 1h, lag: 1h}\n")
    engine = OnlineFeatureEngine(fs)
    assert engine.process(txn("e0", 0))["n"] == 0
    assert engine.process(login("a", 3540))["n"] == 0  # window (-61m, -1m]
    assert engine.process(login("b", 3600))["n"] == 1  # window (-1h, 0]: e0 at its closed end
    assert engine.process(login("c", 7199))["n"] == 1
    assert engine.process(login("d", 7200))["n"] == 0  # (0, 1h]: e0 at the open end


def chargeback(eid: str, seconds: float, ref_seconds: float, **fields: Any) -> dict[str, Any]:
    return {"event_id": eid, "event_type": "chargeback", "event_time": T0 + timedelta(seconds=seconds),
            "ref_event_id": "x", "ref_time": T0 + timedelta(seconds=ref_seconds), "merchant_id": "m1",
            "amount": 4.0, **fields}


def test_labels_are_placed_at_ref_time_but_count_only_once_known() -> None:
    fs = features("""\
  cb: {key: merchant_id, events: chargeback, agg: count, window: 3h, time_field: ref_time}
  cb_max: {key: merchant_id, events: chargeback, agg: max, field: amount, window: 3h, time_field: ref_time}
""")
    engine = OnlineFeatureEngine(fs)
    assert engine.process(txn("t1", 5400, merchant_id="m1"))["cb"] == 0  # label not known yet
    engine.process(chargeback("cb1", 7200, ref_seconds=0, amount=9.0))  # known at 2h, placed at 0
    engine.process(chargeback("cb2", 7300, ref_seconds=3600, amount=2.0))  # placed later, arrives later
    engine.process(chargeback("cb0", 7400, ref_seconds=1800, amount=5.0))  # placed between the two
    assert engine.process(txn("t2", 9000, merchant_id="m1")) == {"cb": 3, "cb_max": 9.0}
    assert engine.process(txn("t3", 10800, merchant_id="m1")) == {"cb": 2, "cb_max": 5.0}  # p=0 left (0, 3h]
    assert engine.process(txn("t4", 16200, merchant_id="m1")) == {"cb": 0, "cb_max": None}


def test_a_label_and_an_event_at_the_same_time_are_ordered_by_event_id() -> None:
    fs = features("  cb: {key: merchant_id, events: chargeback, agg: count, window: 3h, time_field: ref_time}\n")
    engine = OnlineFeatureEngine(fs)
    engine.process(chargeback("m", 7200, ref_seconds=0))
    assert engine.process(txn("z", 7200, merchant_id="m1"))["cb"] == 1
    assert engine.process(txn("a", 7200, merchant_id="m1"))["cb"] == 0  # late by 0 s: before the label


def test_late_events_get_exact_values_and_are_inserted_in_order() -> None:
    engine = OnlineFeatureEngine(ALL_AGGS, allowed_lateness_us=3_600_000_000)
    in_order = [STREAM[0], STREAM[1], STREAM[3]]
    for event in in_order:
        engine.process(event)
    # e3 arrives after e4: it sees e1 and e2 (its tie before it), not e4
    assert_values(engine.process(STREAM[2]), EXPECTED[2])
    assert engine.lateness.late == 1 and engine.lateness.too_late == 0
    assert_values(engine.process(STREAM[4]), EXPECTED[4])  # e4 is before e5, inserted in order
    later = engine.process(txn("e6", 3661, amount=1.0))
    assert later["n"] == 2 and later["lo"] == 5.0 and later["hi"] == 7.0 and later["merchants"] == 1


def test_too_late_events_are_reported_and_still_processed() -> None:
    fs = features("  n: {key: customer_id, events: transaction, agg: count, window: 24h}\n")
    engine = OnlineFeatureEngine(fs, allowed_lateness_us=3_600_000_000)
    engine.process(txn("e1", 3 * 3600))
    assert engine.process(txn("late", 3600))["n"] == 0  # 2h late: best effort
    assert engine.process(txn("ok", 2.5 * 3600))["n"] == 1  # 30 min late: exact (sees "late")
    report = engine.lateness
    assert (report.late, report.too_late, report.too_late_ids) == (1, 1, ["late"])
    assert report.max_lateness_us == 2 * 3_600_000_000
    assert engine.process(txn("e2", 4 * 3600))["n"] == 3


def test_first_seen_of_a_late_event_sees_only_what_came_before_it() -> None:
    fs = features("  first: {key: customer_id, events: [login, transaction], agg: first_seen}\n")
    engine = OnlineFeatureEngine(fs)
    engine.process(login("b", 100))
    assert engine.process(login("a", 50))["first"] is None
    assert engine.process(login("c", 200))["first"] == 150.0


def test_bad_lateness_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'allowed_lateness_us' parameter of OnlineFeatureEngine must be an int "
                                         r">= 0\. Got -1 instead"):
        OnlineFeatureEngine(ALL_AGGS, allowed_lateness_us=-1)


@pytest.mark.parametrize(
    "text",
    ["success", "not success", "txn_type == 'transfer' and amount >= 100", "status != 'failed'",
     "txn_type in ['payment', 'transfer']", "txn_type not in ['payment']", "amount < -1.5", "city is None",
     "city is not None and amount > 3", "txn_type == 'transfer' or amount > 5", "not (status == 'failed')"],
)
def test_inlined_filters_agree_with_the_filter_on_nulls(text: str) -> None:
    from finrisk.features._online_codegen import filter_source
    from finrisk.features.expr import parse_filter

    flt = parse_filter(text)
    source = filter_source(flt)
    values: dict[str, list[Any]] = {"success": [True, False, None, 0, 1], "txn_type": ["transfer", "payment", None],
                                    "amount": [None, -2.0, 3.0, 150.0], "status": ["failed", "success", None],
                                    "city": [None, "x"]}
    rows = [{"success": s, "txn_type": t, "amount": a, "status": st, "city": c} for s in values["success"]
            for t in values["txn_type"] for a in values["amount"] for st in values["status"] for c in values["city"]]
    if source is None:  # not inlined: the engine calls Filter.matches
        assert " or " in text or text.startswith("not (")
        return
    for row in rows:
        assert eval(source, {}, {"event": row}) == flt.matches(row), (text, row)  # noqa: S307
