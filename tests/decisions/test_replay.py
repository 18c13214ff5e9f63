"""Replay: history through a candidate rule set, with the live code, scored against labels."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app
from finrisk.config import Workspace, init_workspace, load_workspace
from finrisk.decisions.engine import ActiveRuleSet, DecisionEngine
from finrisk.decisions.model import Decision
from finrisk.decisions.replay import replay, warehouse_events
from finrisk.decisions.replay_report import render_html
from finrisk.features.online import OnlineFeatureEngine
from finrisk.rules import parse_ruleset
from finrisk.simulate import WorldConfig, simulate_world
from finrisk.store.ingest import load_path
from finrisk.store.warehouse import Warehouse

FEATURES = """\
features:
  cust_txn_1h: {key: customer_id, events: transaction, agg: count, window: 1h}
  payee_senders_1h: {key: counterparty_account, events: transaction, agg: count_distinct, field: account_id,
                     window: 1h}
  card_cities_1h: {key: card_id, events: transaction, filter: "txn_type == 'payment'", agg: count_distinct,
                   field: city, window: 1h}
"""

CANDIDATE = """\
name: payments
policy: strongest
rules:
  - name: busy_payee
    description: Many senders to one account.
    events: [transaction]
    when: features.payee_senders_1h >= 3
    action: review
    score: 50
    reason: "{features.payee_senders_1h} senders in an hour"
  - name: two_cities
    description: Card used in two cities within an hour.
    events: [transaction]
    when: features.card_cities_1h >= 2
    action: challenge
    method: sms_otp
    score: 30
    reason: Card used in several cities within an hour
"""

START, END = datetime(2026, 1, 4, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("replay")
    init_workspace(root / "ws")
    (root / "ws" / "features.yaml").write_text(FEATURES)
    world = root / "world"
    simulate_world(WorldConfig(customers=300, days=8, seed=5), out_dir=world, fmt="parquet")
    ws = load_workspace(root / "ws")
    load_path(ws, world / "events")
    with Warehouse.open(ws) as wh:
        wh.flush(all=True)
    return ws


def test_history_comes_back_in_feature_order_with_labels(workspace: Workspace) -> None:
    with Warehouse.open(workspace) as wh:
        events = list(warehouse_events(wh, end=END, batch=997))
        total = sum(int(wh.sql(f"SELECT count(*) AS n FROM events_{t} WHERE event_time < TIMESTAMPTZ "
                               f"'{END.isoformat()}'").column(0)[0].as_py()) for t in wh.registry.names)
    assert len(events) == total > 1000
    keys = [(e["event_time"], e["event_id"]) for e in events]
    assert keys == sorted(keys)
    assert {"label_is_fraud", "label_pattern"} <= set(events[0])


def test_replay_counts_agree_with_a_recount_of_its_own_decisions(workspace: Workspace) -> None:
    candidate = parse_ruleset(CANDIDATE, file="candidate.yaml")
    baseline = parse_ruleset(CANDIDATE.replace(">= 3", ">= 5"), file="published.yaml")
    thresholds = gc.get_threshold()
    report = replay(workspace, candidate, start=START, end=END, baseline=("payments@1", baseline))
    assert gc.get_threshold() == thresholds  # replay collects less often only while it runs

    # recount independently: the same engine, event by event
    feats = OnlineFeatureEngine(workspace.features, allowed_lateness_us=3_600_000_000)
    engine = DecisionEngine(feats, ActiveRuleSet("c", candidate.compile()),
                            shadows=[ActiveRuleSet("payments@1", baseline.compile())])
    flagged_fraud = flagged = fraud = hits = 0
    decisions: dict[str, Decision] = {}
    with Warehouse.open(workspace) as wh:
        for e in warehouse_events(wh, end=END):
            label = e.pop("label_is_fraud")
            e.pop("label_pattern")
            if e["event_time"] < START or e["event_type"] != "transaction":
                feats.update(e)
                continue
            d = decisions[e["event_id"]] = engine.decide(e)
            hits += any(h["rule"] == "busy_payee" for h in d.rule_hits)
            if label is None:
                continue
            fraud += bool(label)
            if d.action != "pass":
                flagged += 1
                flagged_fraud += bool(label)
    out = report.to_dict()
    assert report.in_scope > 0 and report.fraud == fraud > 0
    assert out["candidate"]["flagged"] == flagged
    assert out["candidate"]["recall"] == pytest.approx(flagged_fraud / fraud)
    assert report.rules["busy_payee"].hits == hits
    # the published set is stricter on busy_payee: it flags no more than the candidate
    assert out["published"]["flagged"] <= out["candidate"]["flagged"]
    assert report.changed >= out["candidate"]["flagged"] - out["published"]["flagged"]
    assert all(x["published"] != x["candidate"] for x in report.changed_examples)
    # replay counts the engine's evaluation without building decision records: the examples it
    # shows read exactly what the live records say
    assert report.changed_examples
    for x in report.changed_examples:
        d = decisions[x["event_id"]]
        assert (x["event_type"], x["event_time"], x["candidate"], x["published"]) == \
            (d.event_type, d.event_time, d.action, d.shadow[0].action)
        assert x["candidate_rules"] == sorted(h["rule"] for h in d.rule_hits)
        assert x["published_rules"] == sorted(h["rule"] for h in d.shadow[0].rule_hits)
    assert report.changed == sum(d.action != d.shadow[0].action for d in decisions.values())
    html = render_html(report)
    assert "<h2>Per rule</h2>" in html and "busy_payee" in html and "<script" not in html


def test_cli_replay_writes_html_and_json(workspace: Workspace, tmp_path: Path) -> None:
    rules = tmp_path / "candidate.yaml"
    rules.write_text(CANDIDATE)
    out_html, out_json = tmp_path / "r.html", tmp_path / "r.json"
    result = CliRunner().invoke(app, ["replay", "--rules", str(rules), "--from", "2026-01-04", "--to", "2026-01-08",
                                      "--html", str(out_html), "--json", str(out_json), "-w", str(workspace.root)])
    assert result.exit_code == 0, result.output
    assert "Per rule" in result.output
    figures = orjson.loads(out_json.read_bytes())
    assert figures["events"] > 0 and figures["end"].startswith("2026-01-09")
    assert out_html.read_text().startswith("<!doctype html>")


def test_cli_replay_bad_dates_are_one_line(workspace: Workspace, tmp_path: Path) -> None:
    rules = tmp_path / "candidate.yaml"
    rules.write_text(CANDIDATE)
    result = CliRunner().invoke(app, ["replay", "--rules", str(rules), "--from", "2026-13-01", "--to", "2026-01-08",
                                      "-w", str(workspace.root)])
    assert result.exit_code == 1 and "--from: expected a date" in result.output


def test_batch_conversion_equals_row_by_row() -> None:
    """The column-wise conversion gives exactly the dicts the row-by-row one gave: per type, its own
    fields in their order, nulls kept, other types' columns dropped, rows in batch order."""
    import pyarrow as pa

    from finrisk.decisions.replay import _batch_events

    t = [datetime(2026, 1, 1, 0, 0, i, tzinfo=UTC) for i in range(6)]
    batch = pa.RecordBatch.from_pydict({
        "event_id": ["a", "b", "c", "d", "e", "f"],
        "event_type": ["login", "transaction", "login", "login", "transaction", "transaction"],
        "event_time": t,
        "amount": [None, 10.5, None, None, None, 3.0],
        "device_id": ["D1", None, None, "D4", None, None],
        "label_is_fraud": [None, True, False, None, False, None],
        "ref_time": pa.array([None, 1_767_225_600_123_456, None, None, -1, None], pa.timestamp("us", tz="Etc/UTC")),
    })
    fields = {"login": ("event_id", "event_type", "event_time", "device_id", "label_is_fraud"),
              "transaction": ("event_id", "event_type", "event_time", "amount", "ref_time", "label_is_fraud")}
    expected = [{k: row[k] for k in fields[row["event_type"]]} for row in batch.to_pylist()]
    got = list(_batch_events(batch, fields))
    assert got == expected
    assert [list(e) for e in got] == [list(e) for e in expected]  # same key order too
    # timestamps: the same instants, in UTC, nulls kept (the fast path converts integer microseconds)
    assert got[1]["ref_time"] == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert got[4]["ref_time"] == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) and got[5]["ref_time"] is None
    assert all(e["event_time"].utcoffset() == timedelta(0) for e in got)
    single = batch.filter(pa.array([x == "login" for x in batch.column("event_type").to_pylist()]))
    assert list(_batch_events(single, fields)) == [e for e in expected if e["event_type"] == "login"]


def test_features_read_by_rules_have_the_values_of_the_whole_set(workspace: Workspace, tmp_path: Path) -> None:
    """Replay computes only the features its rules read (and their inputs): over the same events
    those features take exactly the values the whole declared set gives them."""
    from finrisk.decisions.replay import features_read_by
    from finrisk.rules import load_ruleset

    init_workspace(tmp_path / "demo")
    whole = load_workspace(tmp_path / "demo").features  # the demo's 47 features, derived ones included
    demo_rules = Path(__file__).resolve().parents[2] / "src" / "finrisk" / "rules" / "demo_rules.yaml"
    compiled = load_ruleset(demo_rules).compile()
    subset = features_read_by([compiled], whole)
    read = compiled.references["features"]
    assert read <= set(subset.names) < set(whole.names)
    assert "card_last_payment_lat" in subset.names and "card_last_payment_lat" not in read  # a derived input
    assert subset.names == [n for n in whole.names if n in set(subset.names)]  # dependency order kept
    full_engine, part_engine = OnlineFeatureEngine(whole), OnlineFeatureEngine(subset)
    compared = 0
    with Warehouse.open(workspace) as wh:
        for e in warehouse_events(wh, end=END):
            e.pop("label_is_fraud")
            e.pop("label_pattern")
            full, part = full_engine.process(e), part_engine.process(e)
            assert part == {k: full[k] for k in part}, e["event_id"]
            compared += 1
    assert compared > 1000


def test_replay_of_handbook_data_whose_labels_carry_no_pattern(tmp_path: Path) -> None:
    """The handbook loader's labels have a fraud scenario, not a pattern: replay must still read them."""
    csv = tmp_path / "handbook.csv"
    rows = ["TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,TX_FRAUD_SCENARIO"]
    for i in range(6):
        fraud = int(i == 5)
        amount = 480.0 if fraud else 20.0 + i
        rows.append(f"{i},2018-04-0{1 + i} 10:00:00,C{i % 2},T{i % 3},{amount},{fraud},{fraud}")
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ws = init_workspace(tmp_path / "ws", features="handbook")
    load_path(ws, csv, fraud_known_after=None)
    ws = load_workspace(ws.root)
    with Warehouse.open(ws) as wh:
        events = list(warehouse_events(wh, end=datetime(2018, 5, 1, tzinfo=UTC)))
    assert [e["label_is_fraud"] for e in events] == [0, 0, 0, 0, 0, 1]
    assert {e["label_pattern"] for e in events} == {None}
    result = CliRunner().invoke(app, ["replay", "-w", str(ws.root), "--rules", str(ws.root / "rules.yaml"),
                                       "--from", "2018-04-01", "--to", "2018-04-30"])
    assert result.exit_code == 0, result.output
    assert "large_amount" in result.output and "Traceback" not in result.output
