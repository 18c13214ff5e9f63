"""Lists over HTTP: analysts manage them, every change is audited under the key's name."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from finrisk.api import Role

from .conftest import StoresOnlyService


@pytest.fixture
def analyst(role_keys: dict[Role, str]) -> dict[str, str]:
    return {"X-API-Key": role_keys[Role.ANALYST]}


def test_create_add_read_remove_delete(client: TestClient, analyst: dict[str, str],
                                       stores_service: StoresOnlyService) -> None:
    made = client.post("/v1/lists", json={"name": "device_black", "kind": "black", "field": "device_id",
                                          "description": "emulators"}, headers=analyst)
    assert made.status_code == 201, made.text
    assert made.json()["created_by"].startswith("test analyst (")
    assert client.post("/v1/lists", json={"name": "device_black", "kind": "black", "field": "device_id"},
                       headers=analyst).status_code == 409

    added = client.post("/v1/lists/device_black/entries", json={"value": "DEV-1", "reason": "emulator farm"},
                        headers=analyst)
    assert added.status_code == 201, added.text
    assert added.json()["expires_at"] is None
    ttl = client.post("/v1/lists/device_black/entries", json={"value": "DEV-2", "reason": "watch", "ttl_seconds": 60},
                      headers=analyst)
    assert ttl.json()["expires_at"] is not None

    now_us = time.time_ns() // 1000
    assert stores_service.lists.contains("device_black", "DEV-1", now_us)  # the live index sees the change

    entries = client.get("/v1/lists/device_black/entries", headers=analyst).json()
    assert [e["value"] for e in entries] == ["DEV-1", "DEV-2"]
    assert client.get("/v1/lists/device_black", headers=analyst).json()["entries"] == 2
    assert client.get("/v1/lists/device_black/entries/DEV-1", headers=analyst).json()["reason"] == "emulator farm"

    assert client.delete("/v1/lists/device_black/entries/DEV-1", headers=analyst).status_code == 204
    missing = client.get("/v1/lists/device_black/entries/DEV-1", headers=analyst)
    assert missing.status_code == 404
    assert "DEV-1" not in missing.text  # entry values may be personal data: never echoed
    assert not stores_service.lists.contains("device_black", "DEV-1", now_us)

    audit = client.get("/v1/lists/device_black/audit", headers=analyst).json()
    assert sorted(a["action"] for a in audit) == ["add", "add", "create_list", "remove"]
    assert all(a["actor"].startswith("test analyst (") for a in audit)

    assert client.delete("/v1/lists/device_black", headers=analyst).status_code == 204
    assert client.get("/v1/lists", headers=analyst).json() == []


def test_entry_expiry_must_be_one_way_and_aware(client: TestClient, analyst: dict[str, str]) -> None:
    client.post("/v1/lists", json={"name": "grey", "kind": "grey", "field": "ip"}, headers=analyst)
    both = client.post("/v1/lists/grey/entries", json={"value": "1.2.3.4", "reason": "r", "ttl_seconds": 5,
                                                       "expires_at": "2030-01-01T00:00:00Z"}, headers=analyst)
    assert both.status_code == 422
    assert "not both" in both.json()["detail"]
    naive = client.post("/v1/lists/grey/entries", json={"value": "1.2.3.4", "reason": "r",
                                                        "expires_at": "2030-01-01T00:00:00"}, headers=analyst)
    assert naive.status_code == 422
    assert naive.json()["problems"][0]["field"] == "expires_at"


def test_an_unknown_kind_names_the_allowed_ones(client: TestClient, analyst: dict[str, str]) -> None:
    response = client.post("/v1/lists", json={"name": "x", "kind": "purple", "field": "ip"}, headers=analyst)
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert problem["field"] == "kind"
    assert "'black', 'white' or 'grey'" in problem["expected"]
