"""The handbook feature set and the time-derived kinds: online equals offline equals the reference."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from importlib import resources
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from finrisk._yamlfile import parse_yaml
from finrisk.errors import WorkspaceError
from finrisk.features._offline_derived import derive
from finrisk.features._offline_sql import _derived_sql
from finrisk.features.derived import compute_derived
from finrisk.features.reference import reference_values
from finrisk.features.spec import DerivedFeature, DerivedKind, FeatureSet, parse_features
from finrisk.simulate.handbook import HandbookConfig, generate_handbook
from finrisk.store.handbook import _events

from ._streams import REGISTRY, compare, events_to_table, in_order, normalise, report, run_offline, run_online

TIME_KINDS = (DerivedKind.HOUR_OF_DAY, DerivedKind.IS_WEEKEND, DerivedKind.IS_NIGHT)
#: Edge times: midnight, the last second of the night, the first of the day, a weekend's edges, an offset.
STAMPS = [datetime(2018, 4, 1, 0, 0, tzinfo=UTC), datetime(2018, 4, 2, 6, 59, 59, 999_999, tzinfo=UTC),
          datetime(2018, 4, 2, 7, 0, tzinfo=UTC), datetime(2018, 4, 6, 23, 59, 59, tzinfo=UTC),
          datetime(2018, 4, 7, 0, 0, tzinfo=UTC), datetime(2018, 4, 8, 23, 0, tzinfo=UTC),
          datetime(2018, 4, 9, 1, 30, tzinfo=timezone(timedelta(hours=3))), datetime(1969, 12, 31, 23, 0, tzinfo=UTC)]


def handbook_features() -> FeatureSet:
    text = resources.files("finrisk.features").joinpath("handbook_features.yaml").read_text("utf-8")
    return parse_features(parse_yaml(text, "handbook_features.yaml"), REGISTRY)


def test_time_kinds_agree_on_edge_times_python_numpy_sql() -> None:
    col = pa.array(STAMPS, type=pa.timestamp("us", tz="UTC"))
    con = duckdb.connect()
    con.register("t", pa.table({"ts": col}))
    for kind in TIME_KINDS:
        d = DerivedFeature(name="x", kind=kind, inputs=("ts",))
        python = [compute_derived(kind, [s]) for s in STAMPS]
        numpy = derive(d, [col])
        assert numpy is not None
        sql = [r[0] for r in con.execute(f"SELECT {_derived_sql(d, {'ts': 'ts'})} FROM t").fetchall()]
        assert python == numpy.to_pylist() == sql, kind
    assert [compute_derived("hour_of_day", [s]) for s in STAMPS] == [0, 6, 7, 23, 0, 23, 22, 23]
    assert [compute_derived("is_weekend", [s]) for s in STAMPS] == [True, False, False, False, True, True, True,
                                                                    False]
    assert [compute_derived("is_night", [s]) for s in STAMPS] == [True, True, False, False, True, False, False,
                                                                  False]
    assert compute_derived("is_night", [None]) is None


def test_time_kinds_read_only_timestamps() -> None:
    text = "features:\n  h:\n    description: hour of a number\n    derive: hour_of_day\n    inputs: [amount]\n"
    with pytest.raises(WorkspaceError, match="hour_of_day reads a timestamp: event_time or a timestamp field, "
                                             "got 'amount'"):
        parse_features(parse_yaml(text, "f.yaml"), REGISTRY)
    ok = ("features:\n  h:\n    description: hour of the disputed payment\n    derive: is_night\n"
          "    inputs: [ref_time]\n")
    assert parse_features(parse_yaml(ok, "f.yaml"), REGISTRY).names == ["h"]


def handbook_events(config: HandbookConfig) -> list[dict[str, Any]]:
    """The loader's events for a simulated handbook period (labels dropped), in order."""
    tx, chargebacks = _events(generate_handbook(config), timedelta(days=7))
    bodies = [{k: v for k, v in e.items() if not k.startswith("label_")} for e, _ in tx + chargebacks]
    return in_order(normalise(e) for e in bodies)


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return handbook_events(HandbookConfig(customers=80, terminals=60, days=45, start=date(2018, 4, 1), seed=9))


def test_handbook_features_online_equal_offline_on_every_event(events: list[dict[str, Any]]) -> None:
    fs = handbook_features()
    assert len(events) > 4000 and sum(e["event_type"] == "chargeback" for e in events) > 50
    offline = run_offline(fs, events_to_table(events))
    online, engine = run_online(fs, events)
    assert engine.lateness.late == 0
    bad = compare(fs, offline, online)
    assert not bad, report("handbook features, online vs offline", bad)
    # not degenerate: the terminal fraud share and the amount ratios take real values
    tx = [offline[e["event_id"]] for e in events if e["event_type"] == "transaction"]
    assert any((r["terminal_fraud_share_30d_7d"] or 0) > 0.5 for r in tx)
    assert any((r["amount_vs_card_mean_30d"] or 0) > 4 for r in tx)
    assert {r["during_weekend"] for r in tx} == {True, False} and {r["during_night"] for r in tx} == {True, False}


def test_handbook_features_equal_the_reference_on_a_small_period() -> None:
    """The reference is quadratic: a few customers on few terminals (so chargebacks come early)."""
    fs = handbook_features()
    part = handbook_events(HandbookConfig(customers=6, terminals=5, days=22, radius=60, seed=1))
    assert 250 < len(part) < 600 and any(e["event_type"] == "chargeback" for e in part)
    offline = run_offline(fs, events_to_table(part))
    expected = {str(e["event_id"]): v for e, v in zip(part, reference_values(fs, part), strict=True)}
    bad = compare(fs, expected, offline)
    assert not bad, report("handbook features, reference vs offline", bad)
