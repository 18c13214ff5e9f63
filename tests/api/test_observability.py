"""Access log lines (JSON, route templates, no personal data) and Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finrisk.api import Role
from finrisk.api.logging import BufferedStreamHandler, configure_logging, log_fields
from finrisk.api.metrics import ApiMetrics
from finrisk.decisions.model import Decision, ShadowVerdict


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging(stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger("finrisk").removeHandler(handler)


@pytest.fixture
def serve_logging() -> Iterator[Callable[[float], tuple[io.StringIO, logging.Logger]]]:
    """``finrisk serve``'s logging set-up (buffered access lines) into a string; undone afterwards."""
    saved = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    access = logging.getLogger("finrisk.api.access")
    handlers: list[logging.Handler] = []

    def configure(buffer_access_s: float) -> tuple[io.StringIO, logging.Logger]:
        stream = io.StringIO()
        handlers.append(configure_logging(stream=stream, buffer_access_s=buffer_access_s))
        return stream, access

    try:
        yield configure
    finally:
        for handler in handlers:
            logging.getLogger("finrisk").removeHandler(handler)
        for h in list(access.handlers):
            access.removeHandler(h)
            h.close()
        access.propagate = True
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved


def test_one_json_line_per_request_with_the_route_template(
    client: TestClient, role_keys: dict[Role, str], log_lines: io.StringIO
) -> None:
    headers = {"X-API-Key": role_keys[Role.ANALYST]}
    client.post("/v1/lists", json={"name": "phones", "kind": "black", "field": "phone"}, headers=headers)
    client.post("/v1/lists/phones/entries", json={"value": "13800138000", "reason": "reported scam"}, headers=headers)
    client.get("/v1/lists/phones/entries/13800138000", headers=headers)
    client.get("/v1/lists/phones/entries/13800138000")  # no key: 401
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "finrisk.api.access"]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("POST", "/v1/lists", 201),
        ("POST", "/v1/lists/{name}/entries", 201),
        ("GET", "/v1/lists/{name}/entries/{value}", 200),
        ("GET", "/v1/lists/{name}/entries/{value}", 401),
    ]
    assert all(a["latency_ms"] >= 0 for a in access)
    assert access[0]["key_id"] == role_keys[Role.ANALYST].split("_")[1]
    assert "13800138000" not in log_lines.getvalue()
    assert "reported scam" not in log_lines.getvalue()


def test_metrics_need_a_service_or_admin_key_and_count_requests(
    client: TestClient, role_keys: dict[Role, str]
) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": role_keys[Role.ANALYST]}).status_code == 403
    client.get("/v1/lists", headers={"X-API-Key": role_keys[Role.ADMIN]})
    response = client.get("/metrics", headers={"X-API-Key": role_keys[Role.SERVICE]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'finrisk_http_requests_total{method="GET",route="/v1/lists",status="200"} 1.0' in text
    assert 'finrisk_http_requests_total{method="GET",route="/metrics",status="401"} 1.0' in text
    assert 'finrisk_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/v1/lists"}' in text


def test_decisions_and_rule_hits_are_counted_once(app: FastAPI) -> None:
    metrics: ApiMetrics = app.state.metrics
    decision = Decision(
        decision_id="d_1", event_id="e1", event_type="transaction", event_time="2026-01-05T09:00:00Z",
        decided_at="2026-01-05T09:00:00Z", action="review", challenge_method=None, risk_level="high", score=80.0,
        reasons=("big amount",), rule_hits=({"rule": "big_amount", "action": "review", "score": 80, "reason": "r"},),
        model_scores={}, features={}, versions={}, latency_ms=0.4,
        shadow=(ShadowVerdict("payments@2", "reject", "high", 90.0, ({"rule": "night_owl"},)),),
    )
    metrics.observe_decision(decision)
    metrics.observe_decision(decision.as_retry())  # a retry is the same decision: not counted again
    text = metrics.render().decode()
    assert 'finrisk_decisions_total{action="review"} 1.0' in text
    assert 'finrisk_rule_hits_total{rule="big_amount"} 1.0' in text
    assert 'finrisk_shadow_rule_hits_total{rule="night_owl",ruleset="payments@2"} 1.0' in text


def test_an_unexpected_error_is_a_bare_500_logged_by_type_and_route(
    client: TestClient, role_keys: dict[Role, str], log_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finrisk.rules.lists import ListStore

    def broken(self: ListStore, list_name: str, value: object) -> None:
        raise RuntimeError(f"boom while reading {value}")

    monkeypatch.setattr(ListStore, "get", broken)
    response = client.get("/v1/lists/phones/entries/13800138000", headers={"X-API-Key": role_keys[Role.ADMIN]})
    assert response.status_code == 500
    assert response.json() == {"status": 500, "title": "Internal Server Error", "error": "InternalError",
                               "detail": "internal error; it has been logged"}
    logged = log_lines.getvalue()
    assert '"error":"RuntimeError","route":"/v1/lists/{name}/entries/{value}"' in logged
    assert "13800138000" not in logged


def test_served_access_lines_are_written_in_batches_and_none_is_lost(
        serve_logging: Callable[[float], tuple[io.StringIO, logging.Logger]]) -> None:
    stream, access = serve_logging(0.02)
    buffered = [h for h in access.handlers if isinstance(h, BufferedStreamHandler)]
    assert len(buffered) == 1 and not access.propagate  # not written twice
    for i in range(500):
        access.info("request", extra={"fields": {"status": 200, "n": i}})
    logging.getLogger("finrisk.other").warning("plain")  # other loggers: written at once
    assert '"msg":"plain"' in stream.getvalue()
    deadline = time.monotonic() + 5
    while stream.getvalue().count('"logger":"finrisk.api.access"') < 500 and time.monotonic() < deadline:
        time.sleep(0.01)  # the handler's own thread writes them
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["n"] for line in lines if line["logger"] == "finrisk.api.access"] == list(range(500))
    access.info("request", extra={"fields": {"status": 200, "n": "last"}})
    buffered[0].close()  # at shutdown (logging.shutdown) what is buffered is written
    assert stream.getvalue().splitlines()[-1].endswith('"n":"last"}')


def test_served_access_lines_skip_the_record_but_read_the_same(
        serve_logging: Callable[[float], tuple[io.StringIO, logging.Logger]]) -> None:
    stream, access = serve_logging(60)  # written only by close() below
    buffered = next(h for h in access.handlers if isinstance(h, BufferedStreamHandler))
    fields = {"method": "POST", "route": "/v1/decisions", "status": 200, "latency_ms": 1.25, "key_id": "k"}
    log_fields(access, "request", dict(fields))  # the fast way (no LogRecord)
    access.info("request", extra={"fields": dict(fields)})  # the ordinary way
    access.disabled = True  # `finrisk serve --no-access-log`
    log_fields(access, "request", {"n": "not written"})
    access.disabled = False
    buffered.close()
    fast, ordinary = (json.loads(line) for line in stream.getvalue().splitlines())
    assert abs(_seconds(fast["ts"]) - _seconds(ordinary["ts"])) < 1.0
    fast.pop("ts"), ordinary.pop("ts")
    assert fast == ordinary == {"level": "info", "logger": "finrisk.api.access", "msg": "request", **fields}
    access.removeHandler(buffered)  # serve's set-up gone: what follows is any other set-up
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    capture = Capture()
    access.addHandler(capture)  # any other set-up (a test's capture, a filter) gets the record itself
    try:
        log_fields(access, "request", {"status": 204})
    finally:
        access.removeHandler(capture)
    assert [r.fields for r in records] == [{"status": 204}]  # type: ignore[attr-defined]


def _seconds(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def test_request_counts_read_as_prometheus_clients_own_counter_and_histogram() -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    from finrisk.api.metrics import LATENCY_BUCKETS

    reference = CollectorRegistry()
    counter = Counter("finrisk_http_requests", "x", ["method", "route", "status"], registry=reference)
    histogram = Histogram("finrisk_http_request_duration_seconds", "x", ["method", "route"],
                          buckets=LATENCY_BUCKETS, registry=reference)
    ours = ApiMetrics()
    observed = [("POST", "/v1/decisions", 200, s) for s in (0.0001, 0.0005, 0.0007, 0.002, 0.0031, 0.5, 12.0)]
    observed += [("POST", "/v1/decisions", 422, 0.001), ("GET", "/v1/lists", 200, 0.01)]
    for method, route, status, seconds in observed:
        ours.observe_request(method, route, status, seconds)
        counter.labels(method, route, str(status)).inc()
        histogram.labels(method, route).observe(seconds)

    def samples(text: str) -> set[str]:  # bucket, count, sum and total lines (not the `_created` times)
        return {line for line in text.splitlines() if line.startswith("finrisk_http_request")
                and "_created" not in line}

    expected = samples(generate_latest(reference).decode())
    assert expected and samples(ours.render().decode()) == expected


def test_the_buffered_handler_flushes_while_shutdown_holds_its_lock() -> None:
    """``logging.shutdown`` flushes holding the handler's lock; the writer thread's flush must not hold
    the write lock while it waits for that lock (that order once hung ``finrisk serve``'s exit)."""
    import threading

    stream = io.StringIO()
    handler = BufferedStreamHandler(stream, interval_s=3600)
    handler.append("first")
    holding = threading.Event()

    def shutdown_like() -> None:
        handler.acquire()
        try:
            holding.set()
            time.sleep(0.3)  # meanwhile the other flush waits for the handler's lock
            handler.append("second")
            handler.flush()
        finally:
            handler.release()

    stopper = threading.Thread(target=shutdown_like, daemon=True)
    stopper.start()
    assert holding.wait(5)
    writer = threading.Thread(target=handler.flush, daemon=True)  # the access-log thread's flush
    writer.start()
    stopper.join(5)
    writer.join(5)
    assert not stopper.is_alive() and not writer.is_alive(), "the two flushes deadlocked"  # (left hanging)
    assert stream.getvalue() == "first\nsecond\n"  # every line, in order
    handler.close()


def test_decision_counts_read_as_prometheus_clients_own_counters() -> None:
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry, Counter, generate_latest

    reference = CollectorRegistry()
    decisions = Counter("finrisk_decisions", "Decisions made (retries answered from the log excluded)", ["action"],
                        registry=reference)
    hits = Counter("finrisk_rule_hits", "Rules that hit in live decisions", ["rule"], registry=reference)
    shadow = Counter("finrisk_shadow_rule_hits", "Rules that hit in shadow rule sets", ["ruleset", "rule"],
                     registry=reference)
    ours = ApiMetrics()

    def samples(text: str) -> set[str]:  # help, type and total lines (not the `_created` times)
        return {line for line in text.splitlines() if "rule_hits" in line or "finrisk_decisions" in line
                if "_created" not in line}

    assert samples(ours.render().decode()) == samples(generate_latest(reference).decode())  # nothing yet
    made = [("review", ["big_amount", "new_device"], [("demo", ["big_amount"])], False),
            ("pass", [], [], False), ("review", ["big_amount"], [], False),
            ("review", ["big_amount"], [("demo", ["x"])], True)]  # a retry: not counted again
    for action, rules, verdicts, idempotent in made:
        ours.observe_decision(SimpleNamespace(  # type: ignore[arg-type]  # what the counts read of a Decision
            action=action, idempotent=idempotent, rule_hits=[{"rule": r} for r in rules],
            shadow=[SimpleNamespace(ruleset=name, rule_hits=[{"rule": r} for r in shadow_rules])
                    for name, shadow_rules in verdicts]))
        if idempotent:
            continue
        decisions.labels(action).inc()
        for r in rules:
            hits.labels(r).inc()
        for name, shadow_rules in verdicts:
            for r in shadow_rules:
                shadow.labels(name, r).inc()
    expected = samples(generate_latest(reference).decode())
    assert 'finrisk_rule_hits_total{rule="big_amount"} 2.0' in expected
    assert samples(ours.render().decode()) == expected
