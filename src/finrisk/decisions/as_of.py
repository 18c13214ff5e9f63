"""``replay --as-of-then``: reproduce every logged decision as it was made, then decide it again as of now.

The event log holds each event and the decision the service stored for it. Events are fed in the
order the live feature state took them in (events logged before the first decision, typically a
bulk load, in event-time order as the service's start-up rebuild does; then arrival order), so each
decision's features come from the same earlier events, through the live
:class:`~finrisk.decisions.engine.DecisionEngine`, twice per decided event:

* **then**: with the rule set published (and the shadows set) at the decision's ``decided_at``,
  the lists as the audit trail says they were at that moment (:mod:`finrisk.rules.lists_history`;
  expiry judged against the event time, as live) and the models the registry had deployed then
  (:mod:`finrisk.decisions.as_of_models`). The reproduction must equal the stored decision in
  every field but its id, its time of making and its latency; any difference is a **mismatch**
  (the audit proof fails for that decision) and is reported with the fields that differ.
* **now**: with today's published version of the same rule set, today's lists (an entry that has
  expired by now no longer counts) and today's models, on the same features. A decision is
  **changed** when the now-action or the set of hit rules differs from the reproduced one.

Events without a stored decision (bulk ingestion) only join the feature state. Credit scorecards
are registered models, so their deployments are reproduced like any model's.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson

from finrisk.config import Workspace
from finrisk.decisions.as_of_models import ModelsAsOf
from finrisk.decisions.as_of_rules import RuleSetHistory
from finrisk.decisions.deployed_models import DeployedModels
from finrisk.decisions.engine import DecisionEngine, workspace_rule_names
from finrisk.decisions.model import Decision
from finrisk.decisions.profiles import ProfileStore
from finrisk.errors import WorkspaceError
from finrisk.events.validate import parse_timestamp
from finrisk.features.online import OnlineFeatureEngine
from finrisk.rules.lists import ListStore
from finrisk.rules.lists_history import ListHistory
from finrisk.rules.versions import RuleSetRepository
from finrisk.scoring.registered import migrate_legacy_scorecards
from finrisk.store.embedded_log import EmbeddedEventLog, open_log, time_to_us
from finrisk.store.relational import now_us, open_database

__all__ = ["AS_OF_FIELDS", "AsOfReport", "replay_as_of_then"]

Progress = Callable[[int], None]

#: The decision fields a reproduction must match (everything but id, time of making, latency).
AS_OF_FIELDS = ("action", "challenge_method", "risk_level", "score", "reasons", "rule_hits", "model_scores",
                "model_reasons", "features", "versions", "shadow")
_CORE = ("action", "score", "rule_hits")


@dataclass
class AsOfReport:
    """What ``--as-of-then`` found: the audit proof (mismatches) and what would change now."""

    start: datetime | None
    end: datetime | None
    now_at: datetime
    events: int = 0
    decisions: int = 0
    reproduced: int = 0
    mismatch_count: int = 0
    changed_count: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    rules: dict[str, Counter[str]] = field(default_factory=dict)
    changed: list[dict[str, Any]] = field(default_factory=list)
    then_versions: Counter[str] = field(default_factory=Counter)
    now_versions: Counter[str] = field(default_factory=Counter)
    caveats: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every stored decision was reproduced exactly."""
        return self.mismatch_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": "as-of-then",
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "now": self.now_at.isoformat(),
            "events": self.events,
            "decisions": self.decisions,
            "reproduced_exactly": self.reproduced,
            "mismatches": self.mismatch_count,
            "mismatched_decisions": self.mismatches,
            "transitions": [{"then": a, "now": b, "decisions": n} for (a, b), n in sorted(self.transitions.items())],
            "rules": [{"rule": name, **{k: c[k] for k in ("then_hits", "now_hits", "gained", "lost")}}
                      for name, c in sorted(self.rules.items())],
            "changed": self.changed_count,
            "changed_decisions": self.changed,
            "then_versions": dict(sorted(self.then_versions.items())),
            "now_versions": dict(sorted(self.now_versions.items())),
            "caveats": self.caveats,
            "seconds": round(self.seconds, 3),
        }


class _NowLists:
    """Today's lists for the now-decision: an entry counts if it is on the list and not expired now."""

    def __init__(self, store: ListStore, at_us: int) -> None:
        self.store = store
        self.at_us = at_us

    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        return self.store.contains(list_name, value, self.at_us)


class _SameFeatures:
    """The now-engine's feature source: the values the reproduction has just computed for the event
    (so both verdicts rest on identical features, and the window scan is not paid twice)."""

    def __init__(self, engine: OnlineFeatureEngine) -> None:
        self.feature_set = engine.feature_set
        self.values: dict[str, Any] = {}

    def get(self, event: Any) -> dict[str, Any]:
        return self.values


def _normal(d: Decision) -> dict[str, Any]:
    """The comparable part of a decision, through JSON (as stored) so tuples and lists compare equal."""
    full: dict[str, Any] = orjson.loads(orjson.dumps(d.to_dict()))
    return {k: full.get(k) for k in AS_OF_FIELDS}


def replay_as_of_then(
    workspace: Workspace,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Progress | None = None,
    limit_listed: int = 1000,
) -> AsOfReport:
    """Reproduce the logged decisions with ``event_time`` in ``[start, end)`` and decide them again now."""
    at_now = now_us()
    report = AsOfReport(start, end, datetime.fromtimestamp(at_now / 1e6, tz=UTC))
    lo = None if start is None else time_to_us(start)
    hi = None if end is None else time_to_us(end)
    db = open_database(workspace.database_url)
    store = ListStore(db, check_interval_ms=None)
    log = open_log(workspace)
    try:
        history = ListHistory.load(db)
        profiles = ProfileStore.from_warehouse(workspace.warehouse_dir)
        names = workspace_rule_names(workspace, lists=frozenset(history.names | store.list_names()),
                                     profiles=profiles)
        rulesets = RuleSetHistory(RuleSetRepository(db), names)
        then_lists = history.view()
        migrate_legacy_scorecards(workspace)  # legacy card files join the registry before deployments are read
        then_models = ModelsAsOf(workspace)
        features = OnlineFeatureEngine(workspace.features,
                                       allowed_lateness_us=workspace.settings.features.allowed_lateness_seconds
                                       * 10**6)
        same = _SameFeatures(features)
        other_features = 0
        then = now = None
        t0 = time.perf_counter()
        for seq, event, first in _service_order(log):
            report.events += 1
            if progress is not None and report.events % 10_000 == 0:
                progress(report.events)
            raw = None if seq < first else log.decision_for_event(str(event["event_id"]))
            at = time_to_us(event["event_time"])
            if raw is None or (lo is not None and at < lo) or (hi is not None and at >= hi):
                features.update(event)
                continue
            stored = Decision.from_dict(orjson.loads(raw))
            name = str(stored.versions.get("ruleset", "")).rsplit("@", 1)[0]
            decided_at = parse_timestamp(stored.decided_at)
            as_of = time_to_us(decided_at)
            active = rulesets.published_at(name, as_of) or rulesets.current(name)
            current = rulesets.current(name)
            if active is None or current is None:
                raise WorkspaceError(f"replay --as-of-then: decision {stored.decision_id} names rule set "
                                     f"{name!r}, which has no published version")
            if then is None or now is None:
                then = DecisionEngine(features, active, lists=then_lists, profiles=profiles,
                                      deployed=then_models)
                now = DecisionEngine(cast(OnlineFeatureEngine, same), current, lists=_NowLists(store, at_now),
                                     profiles=profiles, deployed=DeployedModels(workspace))
            then.rules, then.shadows = active, rulesets.shadows_at(as_of)
            then_lists.as_of_us = as_of
            then_models.set_time(as_of)
            now.rules = current
            then_d = then.decide(event, decided_at=decided_at)
            same.values = then_d.features  # the now-decision reads the very same feature values
            now_d = now.decide(event, update=False, decided_at=decided_at)
            report.decisions += 1
            report.then_versions[then_d.versions["ruleset"]] += 1
            report.now_versions[now_d.versions["ruleset"]] += 1
            if stored.versions.get("features") != then_d.versions["features"]:
                other_features += 1
            _check(report, stored, then_d, limit_listed)
            _compare(report, then_d, now_d, limit_listed)
        report.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(report.events)
    finally:
        log.close()
        store.close()
        db.close()
    if other_features:
        report.caveats.append(f"features: {other_features} decisions were made with other feature declarations "
                              "than today's features.yaml; their features (and verdicts) cannot be reproduced")
    if history.gaps:
        report.caveats.append(f"lists: {history.gaps} entry state(s) could not be placed in time from the audit "
                              "trail (values changed by two imports with no single change between)")
    if then_models.untimed:
        report.caveats.append("models: " + ", ".join(then_models.untimed) + " were deployed before deployment "
                              "times were recorded; their current deployment was assumed for all of history")
    for what, n, listed in (("mismatched", report.mismatch_count, report.mismatches),
                            ("changed", report.changed_count, report.changed)):
        if n > len(listed):
            report.caveats.append(f"{n - len(listed)} {what} decisions not listed (over {limit_listed})")
    return report


def _service_order(log: EmbeddedEventLog) -> Iterator[tuple[int, dict[str, Any], int]]:
    """The log in the order the service's feature state took it in: the events logged before the first
    decision in event-time order (a bulk load, rebuilt at start-up), the rest in arrival order.

    Yields ``(seq, event, first)``: events with ``seq < first`` have no decision (no lookup needed).
    """
    found = log.query("SELECT min(e.seq) FROM events e JOIN decisions d ON d.event_id = e.event_id")[0][0]
    if found is None:
        return
    first = int(found)
    for seq, event in log.read_in_time_order(before_seq=first):
        yield seq, event, first
    for seq, event in log.read(after_seq=first - 1):
        yield seq, event, first


def _check(report: AsOfReport, stored: Decision, then_d: Decision, limit: int) -> None:
    """Reproduced-then vs stored: every field of :data:`AS_OF_FIELDS` must be equal."""
    a, b = _normal(stored), _normal(then_d)
    differs = [k for k in AS_OF_FIELDS if a[k] != b[k]]
    if not differs:
        report.reproduced += 1
        return
    entry = {"event_id": stored.event_id, "decision_id": stored.decision_id, "event_time": stored.event_time,
             "fields": differs, "core": any(k in _CORE for k in differs),
             "stored": {k: a[k] for k in differs if k != "features"},
             "reproduced": {k: b[k] for k in differs if k != "features"}}
    if "features" in differs:
        entry["features"] = sorted(k for k in set(a["features"]) | set(b["features"])
                                   if a["features"].get(k) != b["features"].get(k))
    report.mismatch_count += 1
    if len(report.mismatches) < limit:
        report.mismatches.append(entry)


def _compare(report: AsOfReport, then_d: Decision, now_d: Decision, limit: int) -> None:
    """Reproduced-then vs now: the transition, per-rule hits, and the decision if it changed."""
    report.transitions[(then_d.action, now_d.action)] += 1
    then_hits = {h["rule"] for h in then_d.rule_hits}
    now_hits = {h["rule"] for h in now_d.rule_hits}
    for rule in then_hits | now_hits:
        c = report.rules.setdefault(rule, Counter())
        c["then_hits"] += rule in then_hits
        c["now_hits"] += rule in now_hits
        c["gained"] += rule in now_hits - then_hits
        c["lost"] += rule in then_hits - now_hits
    if then_d.action == now_d.action and then_hits == now_hits:
        return
    report.changed_count += 1
    if len(report.changed) < limit:
        report.changed.append(_changed(then_d, now_d, then_hits, now_hits))


def _changed(then_d: Decision, now_d: Decision, then_hits: set[str], now_hits: set[str]) -> dict[str, Any]:
    return {"event_id": then_d.event_id, "event_type": then_d.event_type, "event_time": then_d.event_time,
            "then_action": then_d.action, "now_action": now_d.action,
            "then_ruleset": then_d.versions["ruleset"], "now_ruleset": now_d.versions["ruleset"],
            "rules_now_only": sorted(now_hits - then_hits), "rules_then_only": sorted(then_hits - now_hits)}
