"""Every bad request gets a JSON problem naming the field; nothing answers 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from finrisk.api import ApiKeyStore, Role, create_app

from .conftest import StoresOnlyService


@pytest.fixture
def admin(role_keys: dict[Role, str]) -> dict[str, str]:
    return {"X-API-Key": role_keys[Role.ADMIN]}


def _problem(response: object) -> dict[str, object]:
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert {"status", "title", "error", "detail"} <= body.keys()
    assert body["status"] == response.status_code  # type: ignore[attr-defined]
    return body  # type: ignore[no-any-return]


def test_malformed_json_names_the_body_and_where(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/v1/decisions", content=b'{"event_id": "e1", "event_type": ', headers={
        **admin, "content-type": "application/json"})
    assert response.status_code == 422
    (problem,) = _problem(response)["problems"]  # type: ignore[misc]
    assert problem["field"] == "(body)"
    assert problem["expected"] == "valid JSON"
    assert "at character" in problem["got"]


def test_wrong_types_name_each_field_without_echoing_values(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/v1/decisions", json={"event_id": 13800138000, "event_type": "login"}, headers=admin)
    assert response.status_code == 422
    body = _problem(response)
    fields = {p["field"]: p for p in body["problems"]}  # type: ignore[attr-defined]
    assert set(fields) == {"event_id", "event_time"}
    assert fields["event_id"]["got"] == "a number"
    assert fields["event_time"]["got"] == "nothing"
    assert "13800138000" not in response.text  # a phone number sent in the wrong field is not echoed


def test_a_json_array_where_an_object_belongs(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/v1/decisions", json=[1, 2], headers=admin)
    assert response.status_code == 422
    assert _problem(response)["problems"][0]["field"] == "(body)"  # type: ignore[index]


def test_query_and_path_problems_say_where(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/v1/lists/x/entries?limit=-1", headers=admin)
    assert response.status_code == 422
    assert _problem(response)["problems"][0]["field"] == "limit (query)"  # type: ignore[index]
    response = client.get("/v1/rulesets/x/versions/zero", headers=admin)
    assert response.status_code == 422
    assert _problem(response)["problems"][0]["field"] == "version (path)"  # type: ignore[index]


def test_bulk_events_must_be_a_non_empty_array(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/v1/events", json=[], headers=admin)
    assert response.status_code == 422
    assert _problem(response)["problems"][0]["field"] == "(body)"  # type: ignore[index]
    response = client.post("/v1/events", json=[{"event_id": "e1", "event_type": "login"}], headers=admin)
    assert response.status_code == 422
    assert _problem(response)["problems"][0]["field"] == "[0].event_time"  # type: ignore[index]


def test_an_oversize_body_is_refused_with_413(stores_service: StoresOnlyService, key_store: ApiKeyStore,
                                             role_keys: dict[Role, str]) -> None:
    app = create_app(stores_service, key_store, max_body_bytes=1000, max_bulk_body_bytes=5000)
    headers = {"X-API-Key": role_keys[Role.ADMIN], "content-type": "application/json"}
    big = b'{"event_id": "' + b"x" * 2000 + b'"}'
    with TestClient(app) as client:
        response = client.post("/v1/decisions", content=big, headers=headers)
        assert response.status_code == 413
        assert "limit of 1000 bytes" in _problem(response)["detail"]  # type: ignore[operator]
        # The bulk endpoint has its own, larger limit.
        assert client.post("/v1/events", content=big, headers=headers).status_code != 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
            for _ in range(10):
                yield b" " * 600

        response = client.post("/v1/events", content=chunks(), headers=headers)
        assert response.status_code == 413
        assert "limit of 5000 bytes" in _problem(response)["detail"]  # type: ignore[operator]


def test_unknown_routes_and_methods_are_problems_too(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/v1/nothing-here", headers=admin)
    assert response.status_code == 404
    assert "/docs" in _problem(response)["detail"]  # type: ignore[operator]
    response = client.patch("/v1/decisions", headers=admin)
    assert response.status_code == 405
    assert "PATCH is not allowed" in _problem(response)["detail"]  # type: ignore[operator]


def test_a_service_that_is_not_ready_answers_503(key_store: ApiKeyStore, role_keys: dict[Role, str]) -> None:
    from finrisk.api import ServiceHolder

    holder = ServiceHolder()
    with TestClient(create_app(holder, key_store)) as client:
        headers = {"X-API-Key": role_keys[Role.ADMIN]}
        response = client.get("/v1/lists", headers=headers)
        assert response.status_code == 503
        assert "still loading" in _problem(response)["detail"]  # type: ignore[operator]
        assert client.get("/health").json() == {"ready": False, "status": "loading"}
        holder.fail("StoreError: disk full")
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["error"] == "StoreError: disk full"
        assert "failed to load" in client.get("/v1/lists", headers=headers).json()["detail"]


def test_domain_errors_keep_their_status(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/v1/lists/no_such_list", headers=admin)
    assert response.status_code == 404
    assert _problem(response)["error"] == "ListNotFoundError"
    response = client.post("/v1/lists", json={"name": "Bad Name", "kind": "black", "field": "device_id"},
                           headers=admin)
    assert response.status_code == 400
    assert _problem(response)["detail"].startswith("name:")  # type: ignore[union-attr]
