"""Rule-set changes made by another process reach a running service without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.decisions.test_service import RULES, make_workspace, txn

from finrisk.config import Workspace
from finrisk.decisions.model import Decision
from finrisk.decisions.service import DecisionService
from finrisk.errors import FinriskError
from finrisk.events.validate import EventValidator
from finrisk.rules import parse_ruleset
from finrisk.rules.lists import ListStore
from finrisk.rules.versions import RuleSetRepository
from finrisk.store.relational import open_database

STRICTER = RULES.replace("event.amount > 1000", "event.amount > 100")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def service(ws: Workspace) -> Iterator[DecisionService]:
    svc = DecisionService.open(ws)
    yield svc
    svc.close()


@pytest.fixture
def other(ws: Workspace) -> Iterator[RuleSetRepository]:
    """The repository as ``finrisk rules publish`` opens it: its own connection to the store."""
    with open_database(ws.database_url) as db:
        yield RuleSetRepository(db, validate=lambda text: parse_ruleset(text))


def until(predicate: Callable[[], bool], timeout_s: float = 3.0) -> float:
    """Seconds until ``predicate()`` held (fails the test after ``timeout_s``)."""
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout_s, "the service did not pick up the change"
        time.sleep(0.02)
    return time.monotonic() - t0


def test_a_publish_from_another_connection_goes_live_within_a_second(
        service: DecisionService, other: RuleSetRepository) -> None:
    before = service.decide(txn("t0", amount=500.0))
    assert before.action == "pass" and before.versions["ruleset"] == "payments@1"
    other.publish("payments", author="ana", message="lower the amount threshold", text=STRICTER)
    waited = until(lambda: service.status()["ruleset"] == "payments@2")
    assert waited < 1.5
    d = service.decide(txn("t1", minute=1, amount=500.0, customer="C2"))
    assert d.action == "review" and d.versions["ruleset"] == "payments@2"
    assert [h["rule"] for h in d.rule_hits] == ["big_amount"]


def test_rollback_and_shadow_from_another_connection(service: DecisionService, other: RuleSetRepository) -> None:
    other.publish("payments", author="ana", message="stricter", text=STRICTER)
    until(lambda: service.status()["ruleset"] == "payments@2")
    other.set_shadow("payments", 1, author="ana")
    until(lambda: service.status()["shadow"] == ["payments@1"])
    d = service.decide(txn("t1", amount=500.0))
    assert d.action == "review" and [(s.ruleset, s.action) for s in d.shadow] == [("payments@1", "pass")]
    other.rollback("payments", 1, author="bo", message="too strict")  # v3 = v1's text
    until(lambda: service.status()["ruleset"] == "payments@3")
    other.set_shadow("payments", None, author="bo")
    until(lambda: service.status()["shadow"] == [])
    d = service.decide(txn("t2", minute=1, amount=500.0, customer="C2"))
    assert d.action == "pass" and d.versions["ruleset"] == "payments@3" and d.shadow == ()


def test_a_version_that_does_not_compile_here_leaves_the_live_one(
        service: DecisionService, other: RuleSetRepository) -> None:
    broken = RULES.replace("lists.bad_devices.contains", "lists.no_such_list.contains")
    other.publish("payments", author="ana", message="names a list that does not exist", text=broken)
    time.sleep(1.2)  # two checks
    d = service.decide(txn("t1", amount=500.0))
    assert d.action == "pass" and d.versions["ruleset"] == "payments@1"
    ListStore(other.db).create_list("no_such_list", "black", "device_id", created_by="ana")
    until(lambda: service.status()["ruleset"] == "payments@2", timeout_s=8.0)  # retried (after 5 s): it compiles now
    other.publish("payments", author="ana", message="stricter", text=STRICTER)
    until(lambda: service.status()["ruleset"] == "payments@3")


def _consistent(d: Decision) -> bool:
    """An amount of 500 passes version 1 and is reviewed by version 2: the verdict must match the label."""
    return d.action == ("pass" if d.versions["ruleset"] == "payments@1" else "review")


def test_decisions_during_swaps_never_mix_two_rule_sets(service: DecisionService) -> None:
    v1 = service.engine.rules
    service.rulesets.publish("payments", author="ana", message="stricter", text=STRICTER)
    service.reload_rules()
    v2 = service.engine.rules
    assert (v1.label, v2.label) == ("payments@1", "payments@2")
    stop = threading.Event()
    swaps = 0

    def swapper() -> None:  # straight on the engine, without the service's lock: the engine alone is atomic
        nonlocal swaps
        while not stop.is_set():
            service.engine.swap_rules(v1 if swaps % 2 else v2, (v2,) if swaps % 2 else (v1,))
            swaps += 1

    events = [EventValidator(service.workspace.event_types).validate(
        txn(f"e{i}", minute=i % 60, amount=500.0, customer=f"C{i}")) for i in range(3000)]
    thread = threading.Thread(target=swapper)
    thread.start()
    try:
        decisions = [service.engine.decide(event) for event in events]
    finally:
        stop.set()
        thread.join()
    assert swaps > 10
    labels = {d.versions["ruleset"] for d in decisions}
    assert labels == {"payments@1", "payments@2"}
    assert all(_consistent(d) for d in decisions)
    assert all(len(d.shadow) == 1 and d.shadow[0].ruleset != d.versions["ruleset"] for d in decisions)


def test_the_services_own_publish_refuses_a_version_it_could_not_serve(service: DecisionService) -> None:
    broken = RULES.replace("lists.bad_devices.contains", "lists.no_such_list.contains")
    with pytest.raises(FinriskError) as caught:
        service.rulesets.publish("payments", author="ana", message="names a missing list", text=broken)
    assert caught.value.http_status == 422 and "no_such_list" in str(caught.value)
    assert service.rulesets.published("payments").version == 1
