"""Rule sets over HTTP: analysts write drafts, admins publish, roll back and shadow; the service reloads."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from finrisk.api import Role

from .conftest import StoresOnlyService

V1 = "rules:\n- name: big_amount\n  when: event.amount > 5000\n  action: review\n"
V2 = "rules:\n- name: big_amount\n  when: event.amount > 9000\n  action: review\n"


@pytest.fixture
def analyst(role_keys: dict[Role, str]) -> dict[str, str]:
    return {"X-API-Key": role_keys[Role.ANALYST]}


@pytest.fixture
def admin(role_keys: dict[Role, str]) -> dict[str, str]:
    return {"X-API-Key": role_keys[Role.ADMIN]}


def test_draft_publish_diff_rollback_shadow(client: TestClient, analyst: dict[str, str], admin: dict[str, str],
                                            stores_service: StoresOnlyService) -> None:
    saved = client.post("/v1/rulesets/payments/draft", json={"text": V1}, headers=analyst)
    assert saved.status_code == 200, saved.text
    assert client.get("/v1/rulesets/payments/draft", headers=analyst).json()["text"] == V1
    # Analysts may draft but not publish.
    refused = client.post("/v1/rulesets/payments/publish", json={"message": "go"}, headers=analyst)
    assert refused.status_code == 403
    assert "(needs a key of role admin)" in refused.json()["detail"]

    first = client.post("/v1/rulesets/payments/publish", json={"message": "first cut"}, headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1
    assert stores_service.reloads == 1
    same = client.post("/v1/rulesets/payments/publish", json={"message": "again", "text": V1}, headers=admin)
    assert same.status_code == 409
    second = client.post("/v1/rulesets/payments/publish", json={"message": "laxer", "text": V2}, headers=admin)
    assert second.json()["version"] == 2

    summary = client.get("/v1/rulesets", headers=analyst).json()
    assert summary == [{"name": "payments", "published": {**second.json()}, "shadow": None, "has_draft": False}]
    history = client.get("/v1/rulesets/payments/versions", headers=analyst).json()
    assert [v["version"] for v in history] == [2, 1]  # newest first
    assert "text" not in history[0]
    assert client.get("/v1/rulesets/payments/versions/1", headers=analyst).json()["text"] == V1

    diff = client.get("/v1/rulesets/payments/diff?a=1&b=2", headers=analyst).json()
    assert diff["changes"] == [{"rule": "big_amount", "change": "changed", "keys": ["when"]}]
    assert "-  when: event.amount > 5000" in diff["unified"]

    back = client.post("/v1/rulesets/payments/rollback", json={"to_version": 1, "message": "too lax"}, headers=admin)
    assert back.status_code == 201
    assert back.json()["version"] == 3
    assert client.get("/v1/rulesets/payments/versions/3", headers=analyst).json()["text"] == V1

    shadow = client.put("/v1/rulesets/payments/shadow", json={"version": 2}, headers=admin)
    assert shadow.status_code == 200
    assert client.get("/v1/rulesets", headers=analyst).json()[0]["shadow"] == 2
    assert client.put("/v1/rulesets/payments/shadow", json={"version": None}, headers=admin).json() is None
    assert stores_service.reloads == 5  # publish x2, rollback, shadow on, shadow off

    audit = client.get("/v1/rulesets/payments/audit", headers=analyst).json()
    assert len(audit) >= 5
    assert any(a["actor"].startswith("test admin (") for a in audit)


def test_missing_things_are_404(client: TestClient, analyst: dict[str, str]) -> None:
    for path in ["/v1/rulesets/nothing/versions", "/v1/rulesets/nothing/versions/1", "/v1/rulesets/nothing/draft",
                 "/v1/rulesets/nothing/diff?a=1&b=2"]:
        response = client.get(path, headers=analyst)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "RuleSetNotFoundError"


def test_diff_needs_both_versions(client: TestClient, analyst: dict[str, str]) -> None:
    response = client.get("/v1/rulesets/payments/diff?a=1", headers=analyst)
    assert response.status_code == 422
    assert response.json()["problems"] == [{"field": "b (query)", "expected": "Field required", "got": "nothing"}]
