"""``POST /v1/credit/applications`` against the real DecisionService and registered scorecards.

The workspace starts with a card trained before the registry (``scorecards/consumer_loan.json``):
the service migrates it to the registry as version 1 and serves it; a second version deployed while
the service runs is picked up without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from finrisk.api import ApiKeyStore, Role, create_app
from finrisk.decisions.service import DecisionService
from finrisk.models.registry import ModelRegistry
from finrisk.scoring.registered import register_scorecard
from finrisk.scoring.scorecard import Scorecard
from finrisk.store.relational import open_database

from ._workspace import make_workspace

Client = tuple[TestClient, dict[str, str], Any]


def application(eid: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": eid, "event_type": "loan_application", "event_time": "2026-01-05T09:00:00Z",
            "customer_id": "C1", "loan_id": f"LN-{eid}", "amount": 5000.0, "phone_tenure_months": 2, **extra}


def _card(pdo: float) -> Any:
    tenure = [i % 97 for i in range(2000)]
    bad = [1 if (t < 20 and i % 3) else 0 for i, t in enumerate(tenure)]
    estimator = Scorecard(min_iv=0.0, pdo=pdo, dimensions={"phone_tenure_months": "identity"})
    return estimator.fit(pd.DataFrame({"phone_tenure_months": tenure}), bad).model_


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    ws = make_workspace(Path(tmp_path_factory.mktemp("credit")) / "ws")
    card = _card(50)
    (ws.root / "scorecards.yaml").write_text(
        "scorecards:\n  consumer_loan:\n    variables:\n      phone_tenure_months: {dimension: identity}\n")
    (ws.root / "scorecards").mkdir()
    (ws.root / "scorecards" / "consumer_loan.json").write_text(card.to_json())
    service = DecisionService.open(ws)
    keys = ApiKeyStore(open_database(ws.database_url))
    key = keys.create(name="svc", role=Role.SERVICE)[1]
    try:
        with TestClient(create_app(service, keys), raise_server_exceptions=False) as c:
            yield c, {"X-API-Key": key}, service
    finally:
        service.close()


def test_an_application_gets_score_subscores_reasons_and_a_verdict(client: Client) -> None:
    c, key, service = client
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
    # the legacy card was registered as version 1 (file kept) and is the version both parts report
    meta = ModelRegistry(service.workspace).meta("consumer_loan", "1")
    assert meta["kind"] == "scorecard" and meta["migrated_from"] == "scorecards/consumer_loan.json"
    assert (service.workspace.root / "scorecards" / "consumer_loan.json").is_file()
    assert w["decision"]["versions"]["models"]["consumer_loan"] == w["credit"]["scorecard_version"] == "1"


def test_bad_requests_are_clear(client: Client) -> None:
    c, key, _ = client
    missing = c.post("/v1/credit/applications", json={"event_id": "x", "event_type": "loan_application",
                                                      "event_time": "2026-01-05T09:00:00Z"}, headers=key)
    assert missing.status_code == 422 and "customer_id" in missing.text
    unknown = c.post("/v1/credit/applications?scorecard=nope", json=application("a3"), headers=key)
    assert unknown.status_code == 400 and "no trained scorecard 'nope'" in unknown.text
    assert c.post("/v1/credit/applications", json=application("a4")).status_code == 401


def test_a_new_version_deployed_while_serving_is_picked_up(client: Client) -> None:
    c, key, service = client
    ws = service.workspace
    card_v2 = _card(20)  # same bins, steeper points: the score of one record tells the versions apart
    version, champion = register_scorecard(ws, "consumer_loan", card_v2, {"event_type": "loan_application"})
    assert (version, champion) == ("2", False)
    before = c.post("/v1/credit/applications", json=application("b1"), headers=key).json()
    assert before["credit"]["scorecard_version"] == "1"
    ModelRegistry(ws).deploy("consumer_loan", "2")
    time.sleep(1.1)  # the service checks the registry's revision at most once a second
    after = c.post("/v1/credit/applications", json=application("b2"), headers=key).json()
    expected = card_v2.predict_one({"phone_tenure_months": 2})
    assert after["credit"]["scorecard_version"] == after["decision"]["versions"]["models"]["consumer_loan"] == "2"
    assert after["credit"]["score"] == expected.score == after["decision"]["model_scores"]["consumer_loan"]
    assert after["credit"]["score"] != before["credit"]["score"]
    assert after["credit"]["reason_codes"] == expected.reasons
    ModelRegistry(ws).rollback("consumer_loan")
    time.sleep(1.1)
    back = c.post("/v1/credit/applications", json=application("b3"), headers=key).json()
    assert back["credit"]["scorecard_version"] == "1" and back["credit"]["score"] == before["credit"]["score"]


def test_a_challengers_applications_are_answered_by_the_challenger(client: Client) -> None:
    c, key, service = client
    ModelRegistry(service.workspace).deploy("consumer_loan", "2", stage="challenger", traffic=0.5)
    time.sleep(1.1)
    seen = set()
    for i in range(24):
        out = c.post("/v1/credit/applications", json=application(f"ch{i}"), headers=key).json()
        version = out["decision"]["versions"]["models"]["consumer_loan"]
        assert out["credit"]["scorecard_version"] == version
        assert out["credit"]["score"] == out["decision"]["model_scores"]["consumer_loan"]
        seen.add(version)
    assert seen == {"1", "2"}  # 24 event ids split by hash: both versions decide some
