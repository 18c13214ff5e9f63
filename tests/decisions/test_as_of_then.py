"""replay --as-of-then: stored decisions reproduced exactly with the rules, lists and models of their
moment, and every decision that would now come out differently reported."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app
from finrisk.config import Workspace, load_workspace
from finrisk.decisions.as_of import replay_as_of_then
from finrisk.decisions.as_of_report import render_as_of_html
from finrisk.decisions.service import DecisionService
from finrisk.rules.lists import ListStore
from finrisk.rules.lists_history import ListHistory
from finrisk.store.embedded_log import LOG_FILE
from finrisk.store.relational import datetime_to_us, now_us, open_database

from .test_service import RULES, make_workspace, txn

EXPIRES = datetime(2026, 6, 1, tzinfo=UTC)  # after the events' time (January), before today


def _history(svc: DecisionService) -> dict[str, str]:
    """Decide events around a publish, a shadow, list adds, a remove and an expiry; returns event -> action."""
    out = {}

    def decide(eid: str, **kw: Any) -> None:
        out[eid] = svc.decide(txn(eid, **kw)).action

    decide("e0", minute=0, amount=800.0, customer="C0")            # v1: pass; v2 (now): review
    decide("e1", minute=1, amount=10.0, customer="C1")             # pass then and now
    svc.lists.add("bad_devices", "D7", "seen in a ring", added_by="ana")
    decide("e2", minute=2, customer="C2", device_id="D7")          # reject; D7 removed later -> now pass
    svc.lists.add("bad_devices", "D8", "chargeback", added_by="ana", expires_at=EXPIRES)
    decide("e3", minute=3, customer="C3", device_id="D8")          # reject; expired by now -> now pass
    decide("e6", minute=4, customer="C6", device_id="D6")          # pass; D6 added later -> now reject
    svc.rulesets.publish("payments", author="ana", message="lower the threshold",
                         text=RULES.replace("event.amount > 1000", "event.amount > 500"))
    svc.rulesets.set_shadow("payments", 1, author="ana")
    svc.reload_rules()
    decide("e4", minute=5, amount=800.0, customer="C4")            # v2: review (shadow v1: pass), same now
    svc.lists.remove("bad_devices", "D7", removed_by="ana")
    decide("e5", minute=6, customer="C5", device_id="D7")          # pass then and now
    svc.lists.add("bad_devices", "D6", "confirmed fraud", added_by="bo")
    decide("e7", minute=7, customer="C1")                          # pass; its features count e1
    return out


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, str]]:
    ws = make_workspace(tmp_path_factory.mktemp("asof") / "ws")
    with DecisionService.open(ws) as svc:
        actions = _history(svc)
    return load_workspace(ws.root), actions


def test_live_history_is_what_the_scenario_says(decided: tuple[Workspace, dict[str, str]]) -> None:
    _, actions = decided
    assert actions == {"e0": "pass", "e1": "pass", "e2": "reject", "e3": "reject", "e6": "pass",
                       "e4": "review", "e5": "pass", "e7": "pass"}


def test_every_stored_decision_is_reproduced_exactly(decided: tuple[Workspace, dict[str, str]]) -> None:
    ws, _ = decided
    report = replay_as_of_then(ws)
    assert report.decisions == report.reproduced == 8
    assert report.mismatch_count == 0 and report.ok, report.mismatches
    assert report.then_versions == {"payments@1": 5, "payments@2": 3}
    assert report.now_versions == {"payments@2": 8}


def test_exactly_the_decisions_that_would_now_differ_are_reported(
        decided: tuple[Workspace, dict[str, str]]) -> None:
    ws, _ = decided
    report = replay_as_of_then(ws)
    changed = {c["event_id"]: (c["then_action"], c["now_action"], c["rules_then_only"], c["rules_now_only"])
               for c in report.changed}
    assert changed == {
        "e0": ("pass", "review", [], ["big_amount"]),           # the publish
        "e2": ("reject", "pass", ["blocked_device"], []),      # the remove
        "e3": ("reject", "pass", ["blocked_device"], []),      # the expiry
        "e6": ("pass", "reject", [], ["blocked_device"]),      # the later add
    }
    assert report.changed_count == 4
    assert report.transitions == {("pass", "review"): 1, ("pass", "pass"): 3, ("reject", "pass"): 2,
                                  ("pass", "reject"): 1, ("review", "review"): 1}
    rules = {r["rule"]: r for r in report.to_dict()["rules"]}
    assert rules["blocked_device"] == {"rule": "blocked_device", "then_hits": 2, "now_hits": 1, "gained": 1,
                                       "lost": 2}
    assert rules["big_amount"]["gained"] == 1 and rules["big_amount"]["lost"] == 0


def test_the_window_limits_what_is_decided_but_not_the_features(
        decided: tuple[Workspace, dict[str, str]]) -> None:
    ws, _ = decided
    report = replay_as_of_then(ws, start=datetime(2026, 1, 5, 9, 5, tzinfo=UTC),
                               end=datetime(2026, 1, 5, 9, 8, tzinfo=UTC))
    assert report.decisions == report.reproduced == 3  # e4, e5, e7 (e7's count includes e1, outside)
    assert {c["event_id"] for c in report.changed} == set()


def test_lists_as_of_a_moment_come_from_the_audit_trail(decided: tuple[Workspace, dict[str, str]]) -> None:
    ws, _ = decided
    with open_database(ws.database_url) as db:
        history = ListHistory.load(db)
        store = ListStore(db, check_interval_ms=None)
        added = {e.value: datetime_to_us(e.created_at) for e in store.entries("bad_devices", include_expired=True)}
    assert set(history.entries_at("bad_devices", now_us())) == {"D8", "D6"} == set(added)
    before_d6 = added["D6"] - 1
    at = history.entries_at("bad_devices", before_d6)
    assert set(at) == {"D8"} and at["D8"].expires_us == datetime_to_us(EXPIRES)  # D7 removed, D6 not yet
    assert history.entries_at("bad_devices", added["D8"] - 1).keys() == {"D7"}
    assert history.entry_at("bad_devices", "D7", added["D8"]).reason == "seen in a ring"  # type: ignore[union-attr]
    assert history.gaps == 0


def test_a_tampered_stored_decision_is_a_mismatch(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    with DecisionService.open(ws) as svc:
        _history(svc)
    log = sqlite3.connect(ws.root / ws.settings.store.log_dir / LOG_FILE)
    body = orjson.loads(log.execute("SELECT body FROM decisions WHERE event_id = 'e2'").fetchone()[0])
    body["action"], body["risk_level"] = "pass", "low"
    with log:
        log.execute("UPDATE decisions SET body = ? WHERE event_id = 'e2'", (orjson.dumps(body),))
    log.close()
    report = replay_as_of_then(load_workspace(ws.root))
    assert report.mismatch_count == 1 and report.reproduced == 7 and not report.ok
    (m,) = report.mismatches
    assert m["event_id"] == "e2" and m["core"] and m["fields"] == ["action", "risk_level"]
    assert m["stored"]["action"] == "pass" and m["reproduced"]["action"] == "reject"
    assert report.caveats == []
    html = render_as_of_html(report)
    assert "MISMATCH" in html and "e2" in html


def test_cli_prints_writes_html_and_json_and_fails_on_a_mismatch(
        decided: tuple[Workspace, dict[str, str]], tmp_path: Path) -> None:
    ws, _ = decided
    out_html, out_json = tmp_path / "r.html", tmp_path / "r.json"
    result = CliRunner().invoke(app, ["replay", "--as-of-then", "--workspace", str(ws.root), "--html",
                                      str(out_html), "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    assert "0 mismatches" in result.output and "reject -> pass" in result.output
    figures = orjson.loads(out_json.read_bytes())
    assert figures["mismatches"] == 0 and figures["changed"] == 4 and figures["decisions"] == 8
    assert "e6" in out_html.read_text() and "<script" not in out_html.read_text()


def test_cli_refuses_rules_with_as_of_then(decided: tuple[Workspace, dict[str, str]]) -> None:
    ws, _ = decided
    result = CliRunner().invoke(app, ["replay", "--as-of-then", "--rules", "x.yaml", "--workspace", str(ws.root)])
    assert result.exit_code != 0 and "--rules" in result.output


@pytest.mark.parametrize("kind", ["lightgbm", "blend"])
def test_models_are_those_deployed_at_the_decision_time(tmp_path: Path, kind: str) -> None:
    from finrisk.models.registry import ModelRegistry
    from finrisk.models.train import TrainParams, train_model

    ws = make_workspace(tmp_path / "ws")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 2)) * [1.0, 2000.0] + [0.0, 1000.0]
    y = (x[:, 1] > 2500).astype(int)
    params = TrainParams(kind=kind, trees=20, leaves=4, min_child_samples=5)  # type: ignore[arg-type]
    model = train_model(x, y, inputs=["cust_txn_1h", "event.amount"], params=params)
    inverted = train_model(x, 1 - y, inputs=["cust_txn_1h", "event.amount"], params=params)
    registry = ModelRegistry(ws)
    v1 = registry.register("fraud", model, {"event_type": "transaction"})
    v2 = registry.register("fraud", inverted, {"event_type": "transaction"})
    registry.deploy("fraud", v1)
    (ws.root / "rules.yaml").write_text(RULES + """\
  - name: model_says_fraud
    description: The fraud model is confident.
    events: [transaction]
    when: models.fraud > 0.5
    action: review
    score: 60
    reason: "Fraud model score {models.fraud}"
""")
    with DecisionService.open(load_workspace(ws.root)) as svc:
        high = svc.decide(txn("t1", amount=9000.0, customer="C9"))
        registry.deploy("fraud", v2)
        svc.engine.deployed.refresh(force=True)  # type: ignore[union-attr]
        later = svc.decide(txn("t2", minute=1, amount=9000.0, customer="C8"))
    assert high.versions["models"]["fraud"] == v1 and later.versions["models"]["fraud"] == v2
    assert high.action == "review"
    report = replay_as_of_then(load_workspace(ws.root))
    assert report.mismatch_count == 0 and report.reproduced == 2, report.mismatches
    changed = {c["event_id"]: c["rules_then_only"] for c in report.changed}
    assert changed == {"t1": ["model_says_fraud"]}  # v2 (deployed now) no longer flags it
    assert not any("models" in c for c in report.caveats)
    registry.rollback("fraud")  # a rollback is logged with its time too, and never popped from the log
    assert [c["after"]["champion"] for c in registry.deployment_log("fraud")] == [v1, v2, v1]
    assert all(a["at_us"] <= b["at_us"] for a, b in itertools.pairwise(registry.deployment_log("fraud")))


def test_imported_entries_are_placed_at_their_import(tmp_path: Path) -> None:
    db = open_database("sqlite://")
    store = ListStore(db, check_interval_ms=None)
    store.create_list("bad_cards", "black", "card_id", created_by="ana")
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("value,reason,expires_at\nK1,ring,\nK2,ring,\n")
    second.write_text("value,reason,expires_at\nK2,ring again,\nK3,new,\n")
    store.import_csv("bad_cards", first, added_by="ana")
    t1 = now_us()
    store.add("bad_cards", "K1", "confirmed", added_by="bo")       # the audit keeps K1's imported state as 'old'
    t2 = now_us()
    store.import_csv("bad_cards", second, added_by="ana")
    store.remove("bad_cards", "K3", removed_by="bo")
    history = ListHistory.load(db)
    view = history.view()
    assert {v: s.reason for v, s in history.entries_at("bad_cards", t1).items()} == {"K1": "ring", "K2": "ring again"}
    assert {v: s.reason for v, s in history.entries_at("bad_cards", t2).items()} == {"K1": "confirmed",
                                                                                    "K2": "ring again"}
    assert set(history.entries_at("bad_cards", now_us())) == {"K1", "K2"}
    view.as_of_us = t1
    assert view.contains("bad_cards", "K2", t1) and not view.contains("bad_cards", "K3", t1)
    assert history.gaps == 1  # K2 between the imports: its first imported state is not in the trail
    db.close()


def test_a_bulk_loaded_history_is_taken_in_as_the_service_took_it(tmp_path: Path) -> None:
    from finrisk.events.validate import EventValidator
    from finrisk.store.embedded_log import open_log

    ws = make_workspace(tmp_path / "ws")
    v = EventValidator(ws.event_types)
    with open_log(ws) as log:  # a bulk load out of time order, before the service's first start
        log.append([v.validate(txn("a", minute=0, customer="C7"))])
        log.append([v.validate(txn("late", minute=50, customer="C7") | {"event_time": "2026-01-05T23:00:00Z"})])
        log.append([v.validate(txn("b", minute=30, customer="C7"))])
    with DecisionService.open(load_workspace(ws.root)) as svc:
        d = svc.decide(txn("now", minute=45, customer="C7"))
    assert d.features["cust_txn_1h"] == 2 and d.action == "challenge"
    report = replay_as_of_then(load_workspace(ws.root))
    assert report.events == 4 and report.decisions == report.reproduced == 1, report.mismatches


def test_changed_feature_declarations_are_named_as_the_cause(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    with DecisionService.open(ws) as svc:
        svc.decide(txn("t1", minute=1))
        svc.decide(txn("t2", minute=2))
    features = ws.root / "features.yaml"
    features.write_text(features.read_text().replace("window: 1h}", "window: 2h}", 1))
    report = replay_as_of_then(load_workspace(ws.root))
    assert report.mismatch_count == 2 and all("versions" in m["fields"] for m in report.mismatches)
    assert any(c.startswith("features: 2 decisions") for c in report.caveats)
