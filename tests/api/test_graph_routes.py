"""``/v1/graph``: neighbourhood pages (capped, paginated, pseudonymised), stored alerts, roles and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finrisk.api import Role
from finrisk.api.routes.graph import GraphState
from finrisk.graph import build_transfer_graph, find_loops
from finrisk.graph.alert_store import GraphAlertStore
from finrisk.graph.serving import CachedGraph, Pseudonymiser, frames_loader
from finrisk.store.relational import Database

PHONE = "13800138000"
PAYEES = 120


def _frames() -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    src = ["a", "b", "c", "a"] + ["hub"] * PAYEES
    dst = ["b", "c", "a", "hub"] + [f"p{i:03d}" for i in range(PAYEES)]
    transfers = pd.DataFrame({"account_id": src, "counterparty_account": dst,
                              "amount": [100.0, 99.0, 98.0, 5.0] + [1.0] * PAYEES,
                              "event_time": [10, 20, 30, 40] + list(range(100, 100 + PAYEES))})
    identity = pd.DataFrame({"account_id": ["a", "d"], "phone": [PHONE, PHONE], "device_id": ["DEV1", "DEV1"],
                             "event_time": [1, 2]})
    return transfers, [identity]


@pytest.fixture
def graph_app(app: FastAPI, db: Database) -> FastAPI:
    transfers, identity = _frames()
    alerts = GraphAlertStore(db)
    g = build_transfer_graph(transfers["account_id"], transfers["counterparty_account"], transfers["amount"],
                             transfers["event_time"])
    alerts.save(find_loops(g), transfers=g, scan_from="1970-01-01", scan_to="1970-01-02")
    app.state.graph = GraphState(CachedGraph(frames_loader(transfers, identity, {"c"}), Pseudonymiser(b"k" * 32)),
                                 alerts)
    return app


@pytest.fixture
def gclient(graph_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(graph_app, raise_server_exceptions=False) as c:
        yield c


def _get(client: TestClient, key: str, path: str, **params: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.get(path, params=params, headers={"X-API-Key": key})
    return response.status_code, response.json()


def test_roles_no_key_401_service_403_analyst_and_admin_200(gclient: TestClient, role_keys: dict[Role, str]) -> None:
    assert gclient.get("/v1/graph/account/a").status_code == 401
    status, body = _get(gclient, role_keys[Role.SERVICE], "/v1/graph/account/a")
    assert status == 403 and "analyst" in body["detail"]
    for role in (Role.ANALYST, Role.ADMIN):
        assert _get(gclient, role_keys[role], "/v1/graph/account/a")[0] == 200


def test_neighbourhood_has_edges_risk_alerts_and_pseudonymised_phones(
    gclient: TestClient, role_keys: dict[Role, str]
) -> None:
    response = gclient.get("/v1/graph/account/a", params={"hops": 2},
                           headers={"X-API-Key": role_keys[Role.ANALYST]})
    assert response.status_code == 200
    assert PHONE not in response.text  # the personal identifier never leaves in clear
    body = response.json()
    nodes = {(n["type"], n["id"]): n for n in body["nodes"]}
    phone = [n for (t, _), n in nodes.items() if t == "phone"]
    assert len(phone) == 1 and phone[0]["id"].startswith("ps_") and phone[0]["hops"] == 1
    assert ("device_id", "DEV1") in nodes  # devices are not personal data: shown as they are
    assert nodes[("account", "d")]["hops"] == 2 and nodes[("account", "hub")]["hops"] == 1
    assert nodes[("account", "c")]["risk"] > nodes[("account", "a")]["risk"] > 0  # c is the known-bad one
    assert {"kind": "transfer", "source": "a", "target": "b", "count": 1, "amount": 100.0} in body["edges"]
    assert [a["typology"] for a in body["alerts"]] == ["loop"]
    assert set(body["alerts"][0]["nodes"]) == {"a", "b", "c"}
    # walk on from the pseudonym the response gave (and the raw value is accepted as well)
    for ident in (phone[0]["id"], PHONE):
        status, page = _get(gclient, role_keys[Role.ANALYST], f"/v1/graph/phone/{ident}", hops=1)
        assert status == 200 and {n["id"] for n in page["nodes"]} == {phone[0]["id"], "a", "d"}


def test_pages_walk_every_capped_neighbour_of_a_hub_exactly_once(
    gclient: TestClient, role_keys: dict[Role, str]
) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"hops": 1, "limit": 7}
        if cursor:
            params["cursor"] = cursor
        status, page = _get(gclient, role_keys[Role.ANALYST], "/v1/graph/account/hub", **params)
        assert status == 200 and len(page["nodes"]) <= 7 and page["truncated"]
        seen += [n["id"] for n in page["nodes"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # the hub, its payer a, and at most 50 of its 120 payees per node: capped, each once
    assert len(seen) == len(set(seen)) == 51 and seen[0] == "hub" and pages == 8
    assert "a" in seen


def test_stored_alert_shows_its_evidence(gclient: TestClient, role_keys: dict[Role, str]) -> None:
    status, alert = _get(gclient, role_keys[Role.ANALYST], "/v1/graph/alerts/1")
    assert status == 200 and alert["typology"] == "loop"
    assert [(e["source"], e["target"], e["amount"]) for e in alert["evidence"]] == [
        ("a", "b", 100.0), ("b", "c", 99.0), ("c", "a", 98.0)]
    status, problem = _get(gclient, role_keys[Role.ANALYST], "/v1/graph/alerts/999")
    assert status == 404 and "no alert" in problem["detail"]


@pytest.mark.parametrize(("path", "params", "status", "names"), [
    ("/v1/graph/account/nobody", {}, 404, "account"),
    ("/v1/graph/account/a", {"hops": 0}, 400, "'hops'"),
    ("/v1/graph/account/a", {"hops": 5}, 400, "'hops'"),
    ("/v1/graph/account/a", {"limit": 0}, 400, "'limit'"),
    ("/v1/graph/account/a", {"limit": 10**6}, 400, "'limit'"),
    ("/v1/graph/account/a", {"cursor": "nonsense"}, 400, "'cursor'"),
    ("/v1/graph/account/a", {"cursor": "99.0"}, 400, "older build"),
    ("/v1/graph/planet/earth", {}, 400, "'entity_type'"),
])
def test_bad_requests_name_the_parameter(gclient: TestClient, role_keys: dict[Role, str], path: str,
                                         params: dict[str, object], status: int, names: str) -> None:
    got, problem = _get(gclient, role_keys[Role.ANALYST], path, **params)
    assert got == status and names in problem["detail"]


def test_a_service_without_a_workspace_answers_503(client: TestClient, role_keys: dict[Role, str]) -> None:
    assert _get(client, role_keys[Role.ANALYST], "/v1/graph/account/a")[0] == 503


def test_a_graph_still_building_answers_503_with_retry_after(app: FastAPI, db: Database,
                                                             role_keys: dict[Role, str]) -> None:
    import threading

    gate = threading.Event()
    transfers, identity = _frames()
    inner = frames_loader(transfers, identity, {"c"})

    def slow() -> Any:
        gate.wait(10)
        return inner()

    app.state.graph = GraphState(CachedGraph(slow, Pseudonymiser(b"k" * 32), wait_seconds=0.05), None)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/graph/account/a", headers={"X-API-Key": role_keys[Role.ANALYST]})
        gate.set()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "GraphNotReadyError" and "being built" in response.json()["detail"]
