"""Every route but /health needs a key (401 without), and a key's role decides what it may call (403)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finrisk.api import PERMISSIONS, ApiKeyStore, Permission, Role
from finrisk.api.auth import roles_with

from .conftest import ADMIN_ENV_KEY

OPEN_ROUTES = {("get", "/health")}


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    spec = app.openapi()
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "delete", "patch"}
    ]


def _concrete(path: str) -> str:
    # Valid-looking parameters: the route must refuse for lack of a key, not for a bad id.
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0) == "{version}" else "abc", path)


def _call(client: TestClient, method: str, path: str, key: str | None) -> Any:
    headers = {"X-API-Key": key} if key is not None else {}
    body = {} if method in {"post", "put"} else None
    return client.request(method.upper(), _concrete(path), headers=headers, json=body)


def test_the_spec_lists_the_expected_endpoints(app: FastAPI) -> None:
    paths = {p for _, p, _ in _operations(app)}
    for expected in ["/v1/decisions", "/v1/decisions/{decision_id}", "/v1/events", "/v1/lists",
                     "/v1/lists/{name}/entries", "/v1/rulesets", "/v1/rulesets/{name}/versions",
                     "/v1/rulesets/{name}/versions/{version}", "/v1/rulesets/{name}/draft",
                     "/v1/rulesets/{name}/publish", "/v1/rulesets/{name}/rollback", "/v1/rulesets/{name}/shadow",
                     "/v1/rulesets/{name}/diff", "/health", "/metrics", "/v1/keys"]:
        assert expected in paths


def test_every_route_but_health_answers_401_without_a_key(app: FastAPI, client: TestClient) -> None:
    operations = _operations(app)
    assert len(operations) >= 25
    for method, path, _ in operations:
        if (method, path) in OPEN_ROUTES:
            continue
        response = _call(client, method, path, None)
        assert response.status_code == 401, (method, path, response.text)
        body = response.json()
        assert body["error"] == "AuthenticationError"
        assert "X-API-Key" in body["detail"]
        assert response.headers["content-type"] == "application/problem+json"


def test_an_unknown_key_is_refused_everywhere(app: FastAPI, client: TestClient) -> None:
    for method, path, _ in _operations(app):
        if (method, path) in OPEN_ROUTES:
            continue
        response = _call(client, method, path, "frk_000000000000_not-a-real-secret")
        assert response.status_code == 401, (method, path)
        assert "unknown or revoked" in response.json()["detail"]


def test_401_comes_before_the_service_is_ready(key_store: ApiKeyStore) -> None:
    from finrisk.api import create_app

    with TestClient(create_app(None, key_store)) as client:
        assert client.post("/v1/decisions", json={}).status_code == 401
        assert client.get("/health").status_code == 503


@pytest.mark.parametrize("role", list(Role))
def test_a_role_gets_403_exactly_where_the_permission_table_says(
    app: FastAPI, client: TestClient, role_keys: dict[Role, str], role: Role
) -> None:
    checked = 0
    for method, path, op in _operations(app):
        if (method, path) in OPEN_ROUTES:
            continue
        (requirement,) = op["security"]
        documented = requirement["ApiKey"]
        assert documented, (method, path)
        response = _call(client, method, path, role_keys[role])
        if role.value in documented:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            body = response.json()
            assert body["error"] == "PermissionDeniedError"
            assert f"role '{role.value}' may not " in body["detail"]
            assert f"(needs a key of role {' or '.join(documented)})" in body["detail"]
        checked += 1
    assert checked >= 25


def test_the_spec_documents_the_roles_of_each_permission(app: FastAPI) -> None:
    ops = {(m, p): op for m, p, op in _operations(app)}
    assert ops[("post", "/v1/decisions")]["security"] == [{"ApiKey": [r.value for r in roles_with(Permission.DECIDE)]}]
    assert ops[("post", "/v1/rulesets/{name}/publish")]["security"] == [{"ApiKey": ["admin"]}]
    assert ops[("get", "/health")]["security"] == []


def test_roles_grant_what_the_brief_asks() -> None:
    service, analyst, admin = PERMISSIONS[Role.SERVICE], PERMISSIONS[Role.ANALYST], PERMISSIONS[Role.ADMIN]
    assert {Permission.DECIDE, Permission.INGEST} <= service
    assert Permission.PUBLISH_RULESETS not in service | analyst
    assert {Permission.READ_DECISIONS, Permission.READ_LISTS, Permission.WRITE_LISTS, Permission.READ_RULESETS,
            Permission.WRITE_DRAFTS} <= analyst
    assert Permission.DECIDE not in analyst
    assert admin == frozenset(Permission)


def test_the_environment_admin_key_works_and_is_not_stored(client: TestClient, key_store: ApiKeyStore) -> None:
    response = client.get("/v1/keys", headers={"X-API-Key": ADMIN_ENV_KEY})
    assert response.status_code == 200
    assert all(k["name"] != "FINRISK_API_KEY" for k in response.json())
    assert client.get("/v1/keys", headers={"X-API-Key": ADMIN_ENV_KEY + "x"}).status_code == 401


def test_a_revoked_key_stops_working(client: TestClient, key_store: ApiKeyStore) -> None:
    record, key = key_store.create(name="gateway", role=Role.SERVICE)
    headers = {"X-API-Key": key}
    assert client.get("/metrics", headers=headers).status_code == 200
    key_store.revoke(record.key_id)
    assert client.get("/metrics", headers=headers).status_code == 401


def test_keys_are_managed_over_http_by_admins(client: TestClient, role_keys: dict[Role, str]) -> None:
    admin = {"X-API-Key": role_keys[Role.ADMIN]}
    made = client.post("/v1/keys", json={"name": "scraper", "role": "service"}, headers=admin)
    assert made.status_code == 201
    new_key = made.json()["key"]
    assert client.get("/metrics", headers={"X-API-Key": new_key}).status_code == 200
    listed = client.get("/v1/keys", headers=admin).json()
    assert "scraper" in [k["name"] for k in listed]
    assert all("key" not in k for k in listed)
    assert client.delete(f"/v1/keys/{made.json()['key_id']}", headers=admin).json()["revoked_at"] is not None
    assert client.get("/metrics", headers={"X-API-Key": new_key}).status_code == 401
    bad_role = client.post("/v1/keys", json={"name": "x", "role": "root"}, headers=admin)
    assert bad_role.status_code == 422
    assert bad_role.json()["problems"][0]["field"] == "role"
    assert client.delete("/v1/keys/nosuchkey", headers=admin).status_code == 404
