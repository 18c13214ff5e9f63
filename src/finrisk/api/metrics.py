"""Prometheus metrics of the HTTP service, in a registry of its own (one per app, so tests do not collide).

Exposed at ``GET /metrics`` (text format) to keys with the ``read metrics`` permission (service and
admin roles): rule names and decision rates are business information, so the endpoint is not public.
Point Prometheus at it with an ``X-API-Key`` header (``http_headers`` in the scrape config).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from finrisk.decisions.model import Decision, IngestResult

__all__ = ["ApiMetrics"]

# Fine at the low end: the decision path's target is a p99 under 10 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ApiMetrics:
    """Request counts and latency per route template and status; decisions by action; rule hits by rule."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._children: dict[tuple[int, str], Any] = {}
        r = self.registry
        self.requests = Counter("finrisk_http_requests", "HTTP requests answered, by route template and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("finrisk_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.decisions = Counter("finrisk_decisions", "Decisions made (retries answered from the log excluded)",
                                 ["action"], registry=r)
        self.rule_hits = Counter("finrisk_rule_hits", "Rules that hit in live decisions", ["rule"], registry=r)
        self.shadow_rule_hits = Counter("finrisk_shadow_rule_hits", "Rules that hit in shadow rule sets",
                                        ["ruleset", "rule"], registry=r)
        self.events_ingested = Counter("finrisk_events_ingested", "Events sent to POST /v1/events, by outcome",
                                       ["outcome"], registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # ``labels()`` builds and looks up a key on every call; the children are kept per key instead.
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (self.requests.labels(method, route, str(status)),
                                                       self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def observe_decision(self, decision: Decision) -> None:
        if decision.idempotent:  # the first answer was counted already
            return
        self._child(self.decisions, decision.action).inc()
        for hit in decision.rule_hits:
            self._child(self.rule_hits, str(hit.get("rule", "?"))).inc()
        for verdict in decision.shadow:
            for hit in verdict.rule_hits:
                self.shadow_rule_hits.labels(verdict.ruleset, str(hit.get("rule", "?"))).inc()

    def _child(self, metric: Counter, label: str) -> Any:
        key = (id(metric), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(label)
        return child

    def observe_ingest(self, result: IngestResult) -> None:
        self.events_ingested.labels("accepted").inc(result.accepted)
        self.events_ingested.labels("duplicate").inc(result.duplicates)
        self.events_ingested.labels("rejected").inc(len(result.rejected))

    def render(self) -> bytes:
        return generate_latest(self.registry)
