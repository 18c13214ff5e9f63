"""The live decision service: durable, idempotent, explainable, and reloadable without a restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from finrisk.config import Workspace, init_workspace, load_workspace
from finrisk.decisions.service import SNAPSHOT_FILE, DecisionService
from finrisk.errors import EventConflictError, EventValidationError, UnknownEventTypeError

FEATURES = """\
features:
  cust_txn_1h: {key: customer_id, events: transaction, agg: count, window: 1h}
  cust_amount_sum_24h: {key: customer_id, events: transaction, agg: sum, field: amount, window: 24h}
  cpty_senders_1h: {key: counterparty_account, events: transaction, agg: count_distinct, field: account_id,
                    window: 1h}
"""

RULES = """\
name: payments
description: Test rules.
policy: strongest
rules:
  - name: big_amount
    description: A large amount.
    events: [transaction]
    when: event.amount > 1000
    action: review
    score: 50
    reason: "Amount {event.amount} is above 1000"
  - name: burst
    description: Many transactions in an hour.
    events: [transaction]
    when: features.cust_txn_1h >= 2
    action: challenge
    method: sms_otp
    score: 30
    reason: "{features.cust_txn_1h} transactions in the last hour"
  - name: blocked_device
    description: A device on the blacklist.
    when: lists.bad_devices.contains(event.device_id)
    action: reject
    score: 100
    reason: Device is blacklisted
"""


LISTS = """\
lists:
  bad_devices: {kind: black, field: device_id, description: Devices seen in confirmed fraud.}
"""


def txn(eid: str, *, minute: int = 0, amount: float = 10.0, customer: str = "C1", **extra: Any) -> dict[str, Any]:
    return {"event_id": eid, "event_type": "transaction", "event_time": f"2026-01-05T09:{minute:02d}:00Z",
            "customer_id": customer, "account_id": "A1", "card_id": "K1", "amount": amount,
            "currency": "CNY", "txn_type": "payment", "device_id": "D1", **extra}


def make_workspace(root: Path) -> Workspace:
    ws = init_workspace(root)
    (root / "features.yaml").write_text(FEATURES, encoding="utf-8")
    (root / "rules.yaml").write_text(RULES, encoding="utf-8")
    (root / "lists.yaml").write_text(LISTS, encoding="utf-8")
    ws = load_workspace(root)
    return ws


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DecisionService]:
    ws = make_workspace(tmp_path / "ws")
    svc = DecisionService.open(ws)
    yield svc
    svc.close()


def test_decision_is_explained_and_logged(service: DecisionService) -> None:
    d = service.decide(txn("t1", amount=5000.0))
    assert d.action == "review" and d.event_id == "t1"
    assert [h["rule"] for h in d.rule_hits] == ["big_amount"]
    assert d.reasons == ("Amount 5000 is above 1000",)
    assert set(d.features) == {"cust_txn_1h", "cust_amount_sum_24h", "cpty_senders_1h"}
    assert d.features["cust_txn_1h"] == 0
    assert d.versions["ruleset"] == "payments@1" and d.latency_ms >= 0
    assert service.get_decision(d.decision_id) == d
    assert service.log.count() == 1 and service.log.count_decisions() == 1


def test_features_count_earlier_events_and_rules_see_them(service: DecisionService) -> None:
    service.decide(txn("t1", minute=1))
    service.decide(txn("t2", minute=2))
    d = service.decide(txn("t3", minute=3))
    assert d.features["cust_txn_1h"] == 2
    assert d.action == "challenge" and d.challenge_method == "sms_otp"


def test_retry_returns_the_stored_decision_and_counts_once(service: DecisionService) -> None:
    first = service.decide(txn("t1", minute=1))
    again = service.decide(txn("t1", minute=1))
    assert again.idempotent and not first.idempotent
    assert again.decision_id == first.decision_id and again == first
    nxt = service.decide(txn("t2", minute=2))
    assert nxt.features["cust_txn_1h"] == 1  # t1 counted once
    assert service.log.count() == 2


def test_same_id_different_body_is_a_conflict(service: DecisionService) -> None:
    service.decide(txn("t1", amount=1.0))
    with pytest.raises(EventConflictError, match="t1"):
        service.decide(txn("t1", amount=2.0))


def test_concurrent_retries_get_one_decision(service: DecisionService) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        d = service.decide(txn("same", minute=5))
        with lock:
            results.append(d.decision_id)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert service.log.count() == 1 and service.log.count_decisions() == 1


def test_bad_input_is_refused_and_nothing_is_logged(service: DecisionService) -> None:
    with pytest.raises(EventValidationError, match="amount"):
        service.decide(txn("t1", amount="lots"))
    with pytest.raises(UnknownEventTypeError):
        service.decide({"event_id": "x", "event_type": "nope", "event_time": "2026-01-05T09:00:00Z"})
    assert service.log.count() == 0


def test_lists_take_effect_at_once(service: DecisionService) -> None:
    service.lists.add("bad_devices", "D9", reason="seen in a fraud ring", added_by="analyst")
    d = service.decide(txn("t1", device_id="D9"))
    assert d.action == "reject" and "Device is blacklisted" in d.reasons


def test_ingest_counts_good_events_and_lists_bad_ones(service: DecisionService) -> None:
    bodies: list[Any] = [txn("a", minute=1), {"event_type": "transaction"}, txn("b", minute=2), txn("a", minute=1)]
    result = service.ingest(bodies)
    assert result.accepted == 2 and result.duplicates == 1
    assert [r["index"] for r in result.rejected] == [1]
    assert {p["field"] for p in result.rejected[0]["problems"]} >= {"event_id", "event_time"}
    d = service.decide(txn("c", minute=3))
    assert d.features["cust_txn_1h"] == 2
    # an ingested event can still be decided once, without being counted again
    da = service.decide(txn("a", minute=1))
    assert da.features["cust_txn_1h"] == 0 and not da.idempotent


def test_restart_restores_state_and_decisions(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    with DecisionService.open(ws) as svc:
        first = svc.decide(txn("t1", minute=1))
        svc.decide(txn("t2", minute=2))
    assert (ws.root / SNAPSHOT_FILE).is_file()
    with DecisionService.open(load_workspace(ws.root)) as svc:
        assert svc.get_decision(first.decision_id) == first
        assert svc.decide(txn("t3", minute=3)).features["cust_txn_1h"] == 2
    (ws.root / SNAPSHOT_FILE).unlink()  # no snapshot: rebuilt from the log, same state
    with DecisionService.open(load_workspace(ws.root)) as svc:
        assert svc.decide(txn("t4", minute=4)).features["cust_txn_1h"] == 3


def test_an_unreadable_snapshot_is_rebuilt_from_the_log_and_said(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    ws = make_workspace(tmp_path / "ws")
    with DecisionService.open(ws) as svc:
        svc.decide(txn("t1", minute=1))
    (ws.root / SNAPSHOT_FILE).write_bytes(b"an older format")
    with caplog.at_level("INFO", logger="finrisk.service"), DecisionService.open(load_workspace(ws.root)) as svc:
        assert svc.decide(txn("t2", minute=2)).features["cust_txn_1h"] == 1
    assert any("rebuilding the feature state" in r.getMessage() for r in caplog.records)


def test_publish_and_shadow_take_effect_without_restart(service: DecisionService) -> None:
    stricter = RULES.replace("event.amount > 1000", "event.amount > 100")
    service.rulesets.publish("payments", author="ana", message="lower the amount threshold", text=stricter)
    service.reload_rules()
    d = service.decide(txn("t1", amount=500.0))
    assert d.action == "review" and d.versions["ruleset"] == "payments@2"
    service.rulesets.set_shadow("payments", 1, author="ana")
    service.reload_rules()
    d2 = service.decide(txn("t2", minute=30, amount=500.0, customer="C2"))
    assert d2.action == "review"
    assert [(s.ruleset, s.action) for s in d2.shadow] == [("payments@1", "pass")]


def test_a_bulk_loaded_log_is_rebuilt_in_event_time_order(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    from finrisk.events.validate import EventValidator
    from finrisk.store.embedded_log import open_log

    v = EventValidator(ws.event_types)
    with open_log(ws) as log:  # arrival order: the newest first, as a bulk load of another folder would do
        log.append([v.validate(txn("late", minute=50, customer="C7") | {"event_time": "2026-01-05T13:00:00Z"})])
        log.append([v.validate(txn("a", minute=0, customer="C7")), v.validate(txn("b", minute=30, customer="C7"))])
    with DecisionService.open(load_workspace(ws.root)) as svc:
        d = svc.decide(txn("now", minute=45, customer="C7"))
    assert d.features["cust_txn_1h"] == 2  # 09:00 and 09:30, not lost as "too late" behind 13:00


def _train_small_card(ws: Workspace) -> None:
    """A small card on a loan-application field, saved where 'finrisk scoring train' puts it."""
    import pandas as pd

    from finrisk.scoring.scorecard import Scorecard

    tenure = [i % 97 for i in range(2000)]
    bad = [1 if (t < 20 and i % 3) else 0 for i, t in enumerate(tenure)]
    model = Scorecard(min_iv=0.0).fit(pd.DataFrame({"phone_tenure_months": tenure}), bad).model_
    (ws.root / "scorecards.yaml").write_text(
        "scorecards:\n  consumer_loan:\n    variables:\n      phone_tenure_months: {dimension: identity}\n")
    (ws.root / "scorecards").mkdir(exist_ok=True)
    (ws.root / "scorecards" / "consumer_loan.json").write_text(model.to_json())


def test_a_trained_scorecard_scores_loan_applications(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    _train_small_card(ws)
    app = {"event_id": "L1", "event_type": "loan_application", "event_time": "2026-01-05T09:00:00Z",
           "customer_id": "C1", "loan_id": "LN1", "amount": 5000.0, "phone_tenure_months": 2}
    with DecisionService.open(load_workspace(ws.root)) as svc:
        low = svc.decide(app)
        high = svc.decide(app | {"event_id": "L2", "phone_tenure_months": 80})
        txn_d = svc.decide(txn("t1"))
    assert 350 <= low.model_scores["consumer_loan"] < high.model_scores["consumer_loan"] <= 950
    assert "consumer_loan" in low.versions["models"] and "consumer_loan" not in txn_d.model_scores


def test_credit_application_adds_score_limit_and_verdict(tmp_path: Path) -> None:
    from finrisk.errors import ScorecardError

    ws = make_workspace(tmp_path / "ws")
    app = {"event_id": "L1", "event_type": "loan_application", "event_time": "2026-01-05T09:00:00Z",
           "customer_id": "C1", "loan_id": "LN1", "amount": 5000.0, "phone_tenure_months": 2}
    with DecisionService.open(load_workspace(ws.root)) as svc:
        with pytest.raises(ScorecardError, match="no trained a scorecard for loan_application"):
            svc.credit_application(app)
    _train_small_card(ws)
    with DecisionService.open(load_workspace(ws.root)) as svc:
        out = svc.credit_application(app | {"event_id": "L2"})
        again = svc.credit_application(app | {"event_id": "L2"})
    credit = out["credit"]
    assert credit["scorecard"] == "consumer_loan" and 350 <= credit["score"] <= 950
    assert credit["decision"] in {"approve", "refer", "decline"} and credit["reason_codes"] is not None
    assert "INCOME_UNKNOWN" in credit["reasons"] or credit["decision"] == "decline"
    assert again["decision"]["idempotent"] and again["credit"]["score"] == credit["score"]


def test_deployed_fraud_models_score_decide_and_explain(tmp_path: Path) -> None:
    import numpy as np

    from finrisk.models.registry import ModelRegistry
    from finrisk.models.train import TrainParams, train_model

    ws = make_workspace(tmp_path / "ws")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 2)) * [1.0, 2000.0] + [0.0, 1000.0]
    y = (x[:, 1] > 2500).astype(int)  # big amounts are fraud
    model = train_model(x, y, inputs=["cust_txn_1h", "event.amount"],
                        params=TrainParams(trees=20, leaves=4, min_child_samples=5))
    registry = ModelRegistry(ws)
    v1 = registry.register("fraud", model, {"event_type": "transaction"})
    registry.deploy("fraud", v1)
    (ws.root / "rules.yaml").write_text(RULES + """\
  - name: model_says_fraud
    description: The fraud model is confident.
    events: [transaction]
    when: models.fraud > 0.5
    action: review
    score: 60
    reason: "Fraud model score {models.fraud}"
""")
    with DecisionService.open(load_workspace(ws.root)) as svc:
        low = svc.decide(txn("t1", amount=100.0))
        high = svc.decide(txn("t2", minute=1, amount=9000.0, customer="C9"))
        registry.deploy("fraud", registry.register("fraud", model, {"event_type": "transaction"}), stage="shadow")
        svc.engine.deployed.refresh(force=True)  # (the service also checks on its own once a second)
        shadowed = svc.decide(txn("t3", minute=2, amount=50.0, customer="C8"))
    assert low.model_scores["fraud"] < 0.5 < high.model_scores["fraud"]
    assert low.versions["models"]["fraud"] == v1
    assert "model_says_fraud" in [h["rule"] for h in high.rule_hits] and high.model_reasons
    assert not low.model_reasons  # passed events do not pay for reasons
    assert set(shadowed.model_scores) == {"fraud", "fraud@2"}


def test_a_model_first_deployed_after_start_is_picked_up(tmp_path: Path) -> None:
    import numpy as np

    from finrisk.models.registry import ModelRegistry
    from finrisk.models.train import TrainParams, train_model

    ws = make_workspace(tmp_path / "ws")
    with DecisionService.open(load_workspace(ws.root)) as svc:
        before = svc.decide(txn("t1", amount=100.0))
        rng = np.random.default_rng(5)
        x = rng.normal(size=(400, 2)) * [1.0, 2000.0] + [0.0, 1000.0]
        model = train_model(x, (x[:, 1] > 2500).astype(int), inputs=["cust_txn_1h", "event.amount"],
                            params=TrainParams(trees=10, leaves=4, min_child_samples=5))
        registry = ModelRegistry(ws)
        v1 = registry.register("fraud", model, {"event_type": "transaction"})
        registry.deploy("fraud", v1)  # nothing was deployed when the service started
        assert svc.engine.deployed is not None
        svc.engine.deployed.refresh(force=True)  # (the service also checks on its own once a second)
        after = svc.decide(txn("t2", minute=1, amount=9000.0, customer="C9"))
    assert before.model_scores == {} and before.versions["models"] == {}
    assert after.model_scores["fraud"] > 0.5 and after.versions["models"] == {"fraud": v1}


def test_decide_json_soon_answers_after_the_commit_and_racing_retries_share_it(service: DecisionService) -> None:
    """The task-free path of the direct protocol: the same decision, retries and conflicts as the coroutine."""
    import asyncio

    async def run() -> list[Any]:
        loop = asyncio.get_running_loop()
        got: list[Any] = []
        done = asyncio.Event()

        def then(outcome: Any) -> None:
            got.append(outcome)
            if len(got) == 2:
                done.set()

        for _ in range(2):  # the second races the first's commit (or finds it over: answered at once)
            now = service.decide_json_soon(txn("soon-1", amount=5000.0), loop, then)
            if now is not None:
                then(now)
        with pytest.raises(EventConflictError):
            service.decide_json_soon(txn("soon-1", amount=1.0), loop, then)
        await asyncio.wait_for(done.wait(), 30)
        later = service.decide_json_soon(txn("soon-1", amount=5000.0), loop, then)  # stored: answered at once
        return [*got, later]

    (own, own_body), (retry, retry_body), stored = asyncio.run(run())
    assert own.action == "review" and not own.idempotent
    assert orjson.loads(own_body) == {**own.to_dict(), "idempotent": False}
    assert retry.decision_id == own.decision_id and retry.idempotent
    assert orjson.loads(retry_body)["idempotent"] is True
    assert stored is not None and stored[0].decision_id == own.decision_id and stored[0].idempotent
    assert service.get_decision(own.decision_id) == own  # durably logged before the answer
    assert service.decisions_made == 1


def test_the_event_time_text_is_the_same_whatever_the_sent_layout(service: DecisionService) -> None:
    """The service takes the decision's event time text from what the client sent when it is canonical;
    every layout of the same instant gives the same text, and the stored decision says it too."""
    sent = ["2026-01-05T09:07:00Z", "2026-01-05T09:07:00.000Z", "2026-01-05T09:07:00.000000Z",
            "2026-01-05T11:07:00+02:00", "2026-01-05T09:07:00"]
    made = [service.decide(txn(f"lay{i}", event_time=text)) for i, text in enumerate(sent)]
    assert {d.event_time for d in made} == {"2026-01-05T09:07:00.000000Z"}
    assert service.decide(txn("lay9", event_time="2026-01-05T09:07:00.5Z")).event_time == \
        "2026-01-05T09:07:00.500000Z"
    assert all(service.get_decision(d.decision_id) == d for d in made)
