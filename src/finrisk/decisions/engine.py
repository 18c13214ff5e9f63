"""One event in, one decision out: features -> model scores -> rules -> action.

This is the computation only, with no I/O: the live service wraps it with validation, the durable
log and idempotency, and replay drives the very same object over history, so a backtest measures
exactly what production would have done.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from finrisk.config import Workspace
from finrisk.decisions.deployed_models import DeployedModels, reason_texts
from finrisk.decisions.model import Decision, ShadowVerdict, new_decision_id
from finrisk.decisions.profiles import ProfileStore
from finrisk.events.validate import format_timestamp
from finrisk.features.online import OnlineFeatureEngine, fingerprint
from finrisk.rules import CompiledRuleSet, ListLookup, RuleNames
from finrisk.store.embedded_log import time_to_us

__all__ = ["ActiveRuleSet", "DecisionEngine", "ModelScorer", "workspace_rule_names"]


def workspace_rule_names(workspace: Workspace, *, lists: frozenset[str] | None,
                         profiles: ProfileStore) -> RuleNames:
    """The names rules may use in ``workspace``: its event types' fields, its features, the given
    lists and profile fields (models stay open: they come and go with deployments)."""
    return RuleNames.from_registry(workspace.event_types, features=workspace.features.names, models=None,
                                   lists=lists, profile_fields=profiles.fields or None)


class ModelScorer(Protocol):
    """A deployed model: its name and version, and a score for one event and its features."""

    name: str
    version: str

    def score(self, event: Mapping[str, Any], features: Mapping[str, Any]) -> float | None: ...


@dataclass(frozen=True)
class ActiveRuleSet:
    """A compiled rule set with the label decisions record for it (``name@version``)."""

    label: str
    compiled: CompiledRuleSet


class DecisionEngine:
    """Decides events against live feature state, a rule set, optional shadow sets and models."""

    def __init__(
        self,
        features: OnlineFeatureEngine,
        rules: ActiveRuleSet,
        *,
        shadows: Sequence[ActiveRuleSet] = (),
        lists: ListLookup | None = None,
        profiles: ProfileStore | None = None,
        scorers: Sequence[ModelScorer] = (),
        deployed: DeployedModels | None = None,
    ) -> None:
        self.features = features
        self.rules = rules
        self.shadows = tuple(shadows)
        self.lists = lists
        self.profiles = profiles or ProfileStore()
        self.scorers = tuple(scorers)
        self._scorer_versions = {s.name: s.version for s in self.scorers}
        self.deployed = deployed
        self.feature_version = fingerprint(features.feature_set)[:12]

    def decide(self, event: Mapping[str, Any], *, update: bool = True, started_ns: int | None = None,
               decided_at: datetime | None = None) -> Decision:
        """The decision for a validated event; with ``update`` the event then joins the feature state.

        ``update=False`` reads the features without adding the event (for an event already counted).
        ``decided_at`` defaults to now; replay passes the event time so records are reproducible.
        """
        t0 = time.perf_counter_ns() if started_ns is None else started_ns
        values = self.features.process(event) if update else self.features.get(event)
        models: dict[str, float] = {}
        model_versions = self._scorer_versions
        scored_only: dict[str, float] = {}
        explain = None
        if self.deployed:
            models, deciding_versions, scored_only, deciding = self.deployed.score(event, values)
            model_versions = {**model_versions, **deciding_versions}
            if deciding:
                explain = reason_texts(deciding, event, values)
        for scorer in self.scorers:
            s = scorer.score(event, values)
            if s is not None:
                models[scorer.name] = s
        profile = self.profiles.get(event.get("customer_id"))
        at_us = time_to_us(event["event_time"])
        result = self.rules.compiled.evaluate(event, values, models, profile, self.lists, at_us)
        shadow = tuple(
            ShadowVerdict(
                ruleset=s.label,
                action=r.action.value,
                risk_level=r.risk_level,
                score=r.score,
                rule_hits=tuple(h.to_dict() for h in r.hits),
            )
            for s in self.shadows
            for r in (s.compiled.evaluate(event, values, models, profile, self.lists, at_us),)
        )
        when = decided_at or datetime.now(UTC)
        latency_ms = (time.perf_counter_ns() - t0) / 1e6
        return Decision(
            decision_id=new_decision_id(None if decided_at is None else at_us * 1000),
            event_id=str(event["event_id"]),
            event_type=str(event["event_type"]),
            event_time=format_timestamp(event["event_time"]),
            decided_at=format_timestamp(when),
            action=result.action.value,
            challenge_method=result.challenge_method,
            risk_level=result.risk_level,
            score=result.score,
            reasons=result.reasons,
            rule_hits=tuple(h.to_dict() for h in result.hits),
            model_scores={**models, **scored_only} if scored_only else models,
            features=values,
            versions={
                "ruleset": self.rules.label,
                "features": self.feature_version,
                "models": model_versions,
            },
            latency_ms=round(latency_ms, 4),
            shadow=shadow,
            # the deciding models' top inputs, for events the rules did not simply pass (~60 µs each)
            model_reasons=tuple(explain()) if explain is not None and result.action.value != "pass" else (),
        )

