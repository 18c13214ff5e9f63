"""Decisions and events over HTTP, against the real DecisionService on a small workspace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finrisk.api import ApiKeyStore, Role, create_app
from finrisk.decisions.service import DecisionService
from finrisk.store.relational import open_database

from ._fuzz import STORE_ROUTES, fuzz_for_server_errors
from ._workspace import make_workspace, txn


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[Role, str], DecisionService]]:
    ws = make_workspace(Path(tmp_path_factory.mktemp("live")) / "ws")
    service = DecisionService.open(ws)
    keys = ApiKeyStore(open_database(ws.database_url))
    role_keys = {role: keys.create(name=f"test {role.value}", role=role)[1] for role in Role}
    try:
        yield create_app(service, keys), role_keys, service
    finally:
        service.close()


@pytest.fixture(scope="module")
def client(live: tuple[FastAPI, dict[Role, str], DecisionService]) -> Iterator[TestClient]:
    with TestClient(live[0], raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def service_key(live: tuple[FastAPI, dict[Role, str], DecisionService]) -> dict[str, str]:
    return {"X-API-Key": live[1][Role.SERVICE]}


def test_a_decision_explains_itself_and_can_be_read_back(client: TestClient, service_key: dict[str, str]) -> None:
    response = client.post("/v1/decisions", json=txn("d-1", amount=5000), headers=service_key)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["action"] == "review"
    assert decision["rule_hits"] == [{"rule": "big_amount", "action": "review", "score": 50.0,
                                      "reason": "Amount 5000 is above 1000"}]
    assert decision["reasons"] == ["Amount 5000 is above 1000"]
    assert decision["versions"]["ruleset"] == "payments@1"
    assert decision["model_scores"] == {}
    assert decision["latency_ms"] > 0
    assert decision["idempotent"] is False
    stored = client.get(f"/v1/decisions/{decision['decision_id']}", headers=service_key).json()
    assert stored == decision
    missing = client.get("/v1/decisions/d_nothing", headers=service_key)
    assert missing.status_code == 404
    assert missing.json()["error"] == "NotFoundError"


def test_a_retry_returns_the_stored_decision_and_a_changed_body_conflicts(
    client: TestClient, service_key: dict[str, str]
) -> None:
    first = client.post("/v1/decisions", json=txn("d-2", amount=20), headers=service_key).json()
    again = client.post("/v1/decisions", json=txn("d-2", amount=20), headers=service_key).json()
    assert again["decision_id"] == first["decision_id"]
    assert again["idempotent"] is True
    conflict = client.post("/v1/decisions", json=txn("d-2", amount=21), headers=service_key)
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "EventConflictError"


def test_concurrent_retries_get_one_decision(client: TestClient, service_key: dict[str, str]) -> None:
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        r = client.post("/v1/decisions", json=txn("d-concurrent", amount=3000), headers=service_key)
        assert r.status_code == 200, r.text
        ids.append(r.json()["decision_id"])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 8
    assert len(set(ids)) == 1


def test_event_problems_name_each_field(client: TestClient, service_key: dict[str, str]) -> None:
    bad = client.post("/v1/decisions", json=txn("d-3", amount="lots", currency=7), headers=service_key)
    assert bad.status_code == 422
    fields = {p["field"] for p in bad.json()["problems"]}
    assert fields == {"amount", "currency"}
    unknown = client.post("/v1/decisions", json={**txn("d-4"), "event_type": "teleport"}, headers=service_key)
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "UnknownEventTypeError"
    assert unknown.json()["detail"].startswith("event_type: expected one of ")
    pii = client.post("/v1/decisions", json={"event_id": "d-5", "event_type": "registration",
                                             "event_time": "2026-01-05T09:00:00Z", "customer_id": "C9",
                                             "account_id": "A9", "id_number": 110101199003077777},
                      headers=service_key)
    assert pii.status_code == 422
    assert "110101199003077777" not in pii.text  # personal data is described, never echoed


def test_bulk_events_are_accepted_deduplicated_and_rejected_one_by_one(
    client: TestClient, service_key: dict[str, str]
) -> None:
    events = [txn("b-1"), txn("b-2"), txn("b-1"), {**txn("b-3"), "amount": -5}]
    response = client.post("/v1/events", json=events, headers=service_key)
    assert response.status_code == 202, response.text
    result = response.json()
    assert result["accepted"] == 2
    assert result["duplicates"] == 1
    assert [(r["index"], r["event_id"]) for r in result["rejected"]] == [(3, "b-3")]
    assert client.post("/v1/events", json=events[:2], headers=service_key).json()["duplicates"] == 2


def test_health_and_metrics_reflect_the_live_service(client: TestClient, service_key: dict[str, str]) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["ready"] is True
    assert health.json()["ruleset"] == "payments@1"
    client.post("/v1/decisions", json=txn("d-6", amount=4000), headers=service_key)
    metrics = client.get("/metrics", headers=service_key).text
    assert 'finrisk_decisions_total{action="review"}' in metrics
    assert 'finrisk_rule_hits_total{rule="big_amount"}' in metrics
    assert 'finrisk_events_ingested_total{outcome="accepted"}' in metrics


def test_a_published_list_change_takes_effect_on_the_next_decision(
    client: TestClient, live: tuple[FastAPI, dict[Role, str], DecisionService]
) -> None:
    admin = {"X-API-Key": live[1][Role.ADMIN]}
    before = client.post("/v1/decisions", json=txn("d-7", device_id="DEV-X"), headers=admin).json()
    assert before["action"] == "pass"
    added = client.post("/v1/lists/bad_devices/entries", json={"value": "DEV-X", "reason": "fraud ring"},
                        headers=admin)
    assert added.status_code == 201, added.text
    after = client.post("/v1/decisions", json=txn("d-8", device_id="DEV-X"), headers=admin).json()
    assert after["action"] == "reject"
    assert after["reasons"] == ["Device is blacklisted"]


@pytest.mark.slow
def test_fuzzing_decisions_and_events_finds_no_server_errors(
    live: tuple[FastAPI, dict[Role, str], DecisionService]
) -> None:
    app, role_keys, _ = live
    sent, failures = fuzz_for_server_errors(app, role_keys[Role.ADMIN], max_examples=15,
                                            keep=lambda path: not path.startswith(STORE_ROUTES))
    assert sent >= 60
    assert failures == []
