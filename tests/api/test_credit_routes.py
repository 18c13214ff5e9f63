"""``POST /v1/credit/applications`` against the real DecisionService and a trained scorecard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from finrisk.api import ApiKeyStore, Role, create_app
from finrisk.decisions.service import DecisionService
from finrisk.scoring.scorecard import Scorecard
from finrisk.store.relational import open_database

from ._workspace import make_workspace


def application(eid: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": eid, "event_type": "loan_application", "event_time": "2026-01-05T09:00:00Z",
            "customer_id": "C1", "loan_id": f"LN-{eid}", "amount": 5000.0, "phone_tenure_months": 2, **extra}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    ws = make_workspace(Path(tmp_path_factory.mktemp("credit")) / "ws")
    tenure = [i % 97 for i in range(2000)]
    bad = [1 if (t < 20 and i % 3) else 0 for i, t in enumerate(tenure)]
    estimator = Scorecard(min_iv=0.0, dimensions={"phone_tenure_months": "identity"})
    card = estimator.fit(pd.DataFrame({"phone_tenure_months": tenure}), bad).model_
    (ws.root / "scorecards.yaml").write_text(
        "scorecards:\n  consumer_loan:\n    variables:\n      phone_tenure_months: {dimension: identity}\n")
    (ws.root / "scorecards").mkdir()
    (ws.root / "scorecards" / "consumer_loan.json").write_text(card.to_json())
    service = DecisionService.open(ws)
    keys = ApiKeyStore(open_database(ws.database_url))
    key = keys.create(name="svc", role=Role.SERVICE)[1]
    try:
        with TestClient(create_app(service, keys), raise_server_exceptions=False) as c:
            yield c, {"X-API-Key": key}
    finally:
        service.close()


def test_an_application_gets_score_subscores_reasons_and_a_verdict(client: tuple[TestClient, dict[str, str]]) -> None:
    c, key = client
    weak = c.post("/v1/credit/applications", json=application("a1"), headers=key)
    strong = c.post("/v1/credit/applications", json=application("a2", phone_tenure_months=90), headers=key)
    assert weak.status_code == 200 and strong.status_code == 200, weak.text
    w, s = weak.json(), strong.json()
    assert w["decision"]["event_id"] == "a1" and w["decision"]["model_scores"]["consumer_loan"] == w["credit"]["score"]
    assert 350 <= w["credit"]["score"] < s["credit"]["score"] <= 950
    assert set(w["credit"]["subscores"]) == {"identity"}
    assert w["credit"]["decision"] in {"approve", "refer", "decline"}
    assert w["credit"]["reasons"][0].startswith("SCORE_BAND_")
    again = c.post("/v1/credit/applications", json=application("a1"), headers=key)
    assert again.json()["decision"]["idempotent"] is True


def test_bad_requests_are_clear(client: tuple[TestClient, dict[str, str]]) -> None:
    c, key = client
    missing = c.post("/v1/credit/applications", json={"event_id": "x", "event_type": "loan_application",
                                                      "event_time": "2026-01-05T09:00:00Z"}, headers=key)
    assert missing.status_code == 422 and "customer_id" in missing.text
    unknown = c.post("/v1/credit/applications?scorecard=nope", json=application("a3"), headers=key)
    assert unknown.status_code == 400 and "no trained scorecard 'nope'" in unknown.text
    assert c.post("/v1/credit/applications", json=application("a4")).status_code == 401
