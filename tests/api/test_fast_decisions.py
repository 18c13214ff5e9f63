"""The plain-ASGI fast path of POST /v1/decisions answers exactly as the documented FastAPI route does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from finrisk.api import ApiKeyStore, Role, create_app
from finrisk.decisions.service import DecisionService
from finrisk.store.relational import open_database

from ._workspace import make_workspace, txn


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[bool, TestClient], dict[Role, str]]]:
    ws = make_workspace(Path(tmp_path_factory.mktemp("fast")) / "ws")
    service = DecisionService.open(ws)
    keys = ApiKeyStore(open_database(ws.database_url))
    role_keys = {role: keys.create(name=f"test {role.value}", role=role)[1] for role in Role}
    try:
        with TestClient(create_app(service, keys, fast_decisions=True), raise_server_exceptions=False) as fast, \
                TestClient(create_app(service, keys, fast_decisions=False), raise_server_exceptions=False) as slow:
            yield {True: fast, False: slow}, role_keys
    finally:
        service.close()


def _both(clients: dict[bool, TestClient], make: Any, **kwargs: Any) -> tuple[Any, Any]:
    return tuple(clients[fast].post("/v1/decisions", **make(fast), **kwargs) for fast in (True, False))


CASES: dict[str, tuple[int, Any]] = {
    "no key": (401, lambda role_keys, fast: {"json": txn(f"n-{fast}")}),
    "role without decide": (403, lambda role_keys, fast: {"json": txn(f"r-{fast}"),
                                                          "headers": {"X-API-Key": role_keys[Role.ANALYST]}}),
    "bad json": (422, lambda role_keys, fast: {"content": b'{"event_id": ', "headers": {
        "X-API-Key": role_keys[Role.SERVICE], "content-type": "application/json"}}),
    "array": (422, lambda role_keys, fast: {"json": [1, 2], "headers": {"X-API-Key": role_keys[Role.SERVICE]}}),
    "wrong types": (422, lambda role_keys, fast: {"json": {"event_id": 13800138000, "event_type": "login"},
                                                  "headers": {"X-API-Key": role_keys[Role.SERVICE]}}),
    "bad event field": (422, lambda role_keys, fast: {"json": txn(f"f-{fast}", amount="lots"),
                                                      "headers": {"X-API-Key": role_keys[Role.SERVICE]}}),
    "form body": (415, lambda role_keys, fast: {"content": b"event_id=e1", "headers": {
        "X-API-Key": role_keys[Role.SERVICE], "content-type": "application/x-www-form-urlencoded"}}),
    "no content type": (415, lambda role_keys, fast: {"content": b'{"event_id": "e1"}', "headers": {
        "X-API-Key": role_keys[Role.SERVICE]}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_errors_match_the_fastapi_route(clients: tuple[dict[bool, TestClient], dict[Role, str]], case: str) -> None:
    by_path, role_keys = clients
    status, make = CASES[case]
    fast, slow = (by_path[f].post("/v1/decisions", **make(role_keys, f)) for f in (True, False))
    assert fast.status_code == slow.status_code == status, (fast.text, slow.text)
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/problem+json"
    f, s = fast.json(), slow.json()
    assert (f["error"], f["detail"], f.get("problems")) == (s["error"], s["detail"], s.get("problems"))
    assert "13800138000" not in fast.text  # a value in the wrong field is described, not echoed


def test_unsupported_media_type_names_the_header(clients: tuple[dict[bool, TestClient], dict[Role, str]]) -> None:
    by_path, role_keys = clients
    response = by_path[True].post("/v1/decisions", content=b"x", headers={
        "X-API-Key": role_keys[Role.SERVICE], "content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"] == "UnsupportedMediaTypeError"
    assert response.json()["detail"].startswith("Content-Type: expected application/json, got 'text/plain'")
    # Other JSON routes answer the same way (FastAPI's own body reading, mapped by the error handler).
    bulk = by_path[True].post("/v1/events", content=b"x", headers={
        "X-API-Key": role_keys[Role.SERVICE], "content-type": "text/plain"})
    assert bulk.status_code == 415
    assert bulk.json()["error"] == "UnsupportedMediaTypeError"
    charset = by_path[True].post("/v1/decisions", content=b'{"event_id": "cs-1"}', headers={
        "X-API-Key": role_keys[Role.SERVICE], "content-type": "application/json; charset=utf-8"})
    assert charset.status_code == 422  # a JSON type with parameters is accepted (then the fields are checked)


def test_decisions_and_retries_match(clients: tuple[dict[bool, TestClient], dict[Role, str]]) -> None:
    by_path, role_keys = clients
    headers = {"X-API-Key": role_keys[Role.SERVICE]}
    answers = {}
    for fast in (True, False):
        first = by_path[fast].post("/v1/decisions", json=txn(f"ok-{fast}", amount=5000), headers=headers)
        assert first.status_code == 200, first.text
        assert first.headers["content-type"] == "application/json"
        # A retry on the other path gets the stored decision.
        retry = by_path[not fast].post("/v1/decisions", json=txn(f"ok-{fast}", amount=5000), headers=headers)
        assert retry.json()["decision_id"] == first.json()["decision_id"]
        assert retry.json()["idempotent"] is True
        conflict = by_path[fast].post("/v1/decisions", json=txn(f"ok-{fast}", amount=6000), headers=headers)
        assert conflict.status_code == 409
        answers[fast] = first.json()
    keep = ("action", "risk_level", "score", "reasons", "rule_hits", "idempotent")
    assert {k: answers[True][k] for k in keep} == {k: answers[False][k] for k in keep}
    assert answers[True]["action"] == "review"


def test_the_fast_answer_is_the_logged_decision_and_is_counted(
        clients: tuple[dict[bool, TestClient], dict[Role, str]]) -> None:
    by_path, role_keys = clients
    headers = {"X-API-Key": role_keys[Role.SERVICE]}
    first = by_path[True].post("/v1/decisions", json=txn("bytes-1", amount=5000), headers=headers)
    assert first.status_code == 200, first.text
    stored = by_path[True].get(f"/v1/decisions/{first.json()['decision_id']}", headers=headers)
    assert stored.status_code == 200 and stored.content == first.content  # the bytes the log holds
    metrics = by_path[True].get("/metrics", headers=headers).text
    # Dispatched before FastAPI's layers, yet the access metrics still see it, under the route template.
    assert 'finrisk_http_requests_total{method="POST",route="/v1/decisions",status="200"}' in metrics
    big = by_path[True].post("/v1/decisions", content=b'{"event_id": "' + b"x" * (2 << 20) + b'"}',
                             headers={**headers, "content-type": "application/json"})
    assert big.status_code == 413 and big.json()["error"] == "PayloadTooLargeError"


def test_chunked_bodies_are_limited_and_read_whole(clients: tuple[dict[bool, TestClient], dict[Role, str]]) -> None:
    by_path, role_keys = clients
    headers = {"X-API-Key": role_keys[Role.SERVICE], "content-type": "application/json"}

    def pieces(body: bytes, size: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(body), size):
            yield body[start:start + size]

    for fast in (True, False):
        big = by_path[fast].post("/v1/decisions", content=pieces(b" " * (2 << 20), 1 << 16),
                                 headers={"X-API-Key": "not even a key", "content-type": "application/json"})
        assert big.status_code == 413, fast  # refused by size before the key is looked at, as a declared one
        body = orjson.dumps(txn(f"chunked-{fast}", amount=12.5))
        answer = by_path[fast].post("/v1/decisions", content=pieces(body, 7), headers=headers)
        assert answer.status_code == 200, answer.text
        stored = by_path[fast].get(f"/v1/decisions/{answer.json()['decision_id']}", headers=headers)
        assert stored.status_code == 200 and stored.content == answer.content


def test_the_fast_path_writes_one_access_line(clients: tuple[dict[bool, TestClient], dict[Role, str]],
                                              caplog: pytest.LogCaptureFixture) -> None:
    by_path, role_keys = clients
    with caplog.at_level(logging.INFO, logger="finrisk.api.access"):
        ok = by_path[True].post("/v1/decisions", json=txn("logged-1", customer="Private-Person-9"),
                                headers={"X-API-Key": role_keys[Role.SERVICE]})
        refused = by_path[True].post("/v1/decisions", json=txn("logged-2"),
                                     headers={"X-API-Key": role_keys[Role.ANALYST]})
    lines = [r.fields for r in caplog.records if r.name == "finrisk.api.access"]  # type: ignore[attr-defined]
    assert len(lines) == 2
    assert lines[0]["status"] == 200 and lines[0]["route"] == "/v1/decisions" and lines[0]["method"] == "POST"
    assert lines[0]["decision_id"] == ok.json()["decision_id"] and lines[0]["action"] == ok.json()["action"]
    assert lines[0]["key_id"] == role_keys[Role.SERVICE].split("_")[1] and lines[0]["latency_ms"] >= 0
    assert lines[1]["status"] == refused.status_code == 403 and "action" not in lines[1]
    assert "Private-Person-9" not in str(lines) and "amount" not in str(lines)  # no event data
