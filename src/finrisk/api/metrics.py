"""Prometheus metrics of the HTTP service, in a registry of its own (one per app, so tests do not collide).

Exposed at ``GET /metrics`` (text format) to keys with the ``read metrics`` permission (service and
admin roles): rule names and decision rates are business information, so the endpoint is not public.
Point Prometheus at it with an ``X-API-Key`` header (``http_headers`` in the scrape config).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from finrisk.decisions.model import Decision, IngestResult

__all__ = ["ApiMetrics"]

# Fine at the low end: the decision path's target is a p99 under 10 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class _RequestCounts(Collector):
    """``finrisk_http_requests_total`` and ``finrisk_http_request_duration_seconds`` from plain numbers.

    Every answered request adds to them; with prometheus_client's ``Counter`` and ``Histogram`` that
    took a lock per value and a walk over the buckets in Python (about 1.5% of the event loop's
    time at 2,000 decisions/s, py-spy). Here a request adds to a list of integers; the families
    are built when scraped. Requests are counted on the event loop's thread (the ASGI layers and the
    fast path run there), so the numbers need no lock.
    """

    def __init__(self) -> None:
        # (method, route, status) -> [count, sum of seconds, count per bucket (+Inf last)]
        self.by_key: dict[tuple[str, str, int], list[Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        stats = self.by_key.get(key)
        if stats is None:
            stats = self.by_key[key] = [0, 0.0, [0] * (len(LATENCY_BUCKETS) + 1)]
        stats[0] += 1
        stats[1] += seconds
        stats[2][bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: a value on a bound counts in its bucket

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("finrisk_http_requests", "HTTP requests answered, by route template and "
                                       "status", labels=["method", "route", "status"])
        latency = HistogramMetricFamily("finrisk_http_request_duration_seconds", "Time to answer an HTTP request",
                                        labels=["method", "route"])
        merged: dict[tuple[str, str], tuple[list[int], float]] = {}
        for (method, route, status), (count, total, buckets) in list(self.by_key.items()):
            requests.add_metric([method, route, str(status)], count)
            counts, seconds = merged.get((method, route), ([0] * len(buckets), 0.0))
            merged[(method, route)] = ([a + b for a, b in zip(counts, buckets, strict=True)], seconds + total)
        for (method, route), (counts, seconds) in merged.items():
            cumulative, running = [], 0
            for bound, n in zip((*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf"), counts, strict=True):
                running += n
                cumulative.append((bound, running))
            latency.add_metric([method, route], cumulative, seconds)
        yield requests
        yield latency


class _LabelCounts(Collector):
    """A counter family by label values, kept as plain numbers and made into a family when scraped.

    A decision adds to two to four counters (its action, each rule that hit); with prometheus_client's
    ``Counter.labels(...).inc()`` each was four Python calls and a lock on the event loop's thread,
    which in ``finrisk serve`` under load cost several times what it does in a tight loop. Here one
    lock per decision (:meth:`ApiMetrics.observe_decision`) and a dict update per value.
    """

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.counts: dict[tuple[str, ...], int] = {}

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=list(self.labels))
        for values, count in list(self.counts.items()):
            family.add_metric(list(values), count)
        yield family


class ApiMetrics:
    """Request counts and latency per route template and status; decisions by action; rule hits by rule."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._requests = _RequestCounts()
        r.register(self._requests)
        # Count an answered request and its time (on the event loop's thread; see :class:`_RequestCounts`):
        # the collector's own method, not a wrapper (a Python call fewer per request on the hot route).
        self.observe_request: Callable[[str, str, int, float], None] = self._requests.observe
        self._decision_lock = threading.Lock()
        self.decisions = _LabelCounts("finrisk_decisions", "Decisions made (retries answered from the log excluded)",
                                      ("action",))
        self.rule_hits = _LabelCounts("finrisk_rule_hits", "Rules that hit in live decisions", ("rule",))
        self.shadow_rule_hits = _LabelCounts("finrisk_shadow_rule_hits", "Rules that hit in shadow rule sets",
                                             ("ruleset", "rule"))
        for family in (self.decisions, self.rule_hits, self.shadow_rule_hits):
            r.register(family)
        self.events_ingested = Counter("finrisk_events_ingested", "Events sent to POST /v1/events, by outcome",
                                       ["outcome"], registry=r)

    def observe_decision(self, decision: Decision) -> None:
        if decision.idempotent:  # the first answer was counted already
            return
        with self._decision_lock:  # the credit route counts from FastAPI's thread pool
            counts = self.decisions.counts
            key: tuple[str, ...] = (decision.action,)
            counts[key] = counts.get(key, 0) + 1
            counts = self.rule_hits.counts
            for hit in decision.rule_hits:
                key = (str(hit.get("rule", "?")),)
                counts[key] = counts.get(key, 0) + 1
            counts = self.shadow_rule_hits.counts
            for verdict in decision.shadow:
                for hit in verdict.rule_hits:
                    key = (verdict.ruleset, str(hit.get("rule", "?")))
                    counts[key] = counts.get(key, 0) + 1

    def observe_ingest(self, result: IngestResult) -> None:
        self.events_ingested.labels("accepted").inc(result.accepted)
        self.events_ingested.labels("duplicate").inc(result.duplicates)
        self.events_ingested.labels("rejected").inc(len(result.rejected))

    def render(self) -> bytes:
        return generate_latest(self.registry)
