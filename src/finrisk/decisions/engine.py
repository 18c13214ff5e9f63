"""One event in, one decision out: features -> model scores -> rules -> action.

This is the computation only, with no I/O: the live service wraps it with validation, the durable
log and idempotency, and replay drives the very same object over history, so a backtest measures
exactly what production would have done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from finrisk.config import Workspace
from finrisk.decisions.deployed_models import DeployedModels, reason_texts
from finrisk.decisions.model import Decision, ShadowVerdict, new_decision_id
from finrisk.decisions.profiles import ProfileStore
from finrisk.events.validate import format_timestamp, format_us
from finrisk.features.online import OnlineFeatureEngine, fingerprint
from finrisk.rules import CompiledRuleSet, ListLookup, RuleNames, RuleSetResult
from finrisk.store.embedded_log import time_to_us

__all__ = ["ActiveRuleSet", "DecisionEngine", "Evaluation", "ModelScorer", "workspace_rule_names"]


def workspace_rule_names(workspace: Workspace, *, lists: frozenset[str] | None,
                         profiles: ProfileStore) -> RuleNames:
    """The names rules may use in ``workspace``: its event types' fields, its features, the given
    lists and profile fields (models stay open: they come and go with deployments)."""
    return RuleNames.from_registry(workspace.event_types, features=workspace.features.names, models=None,
                                   lists=lists, profile_fields=profiles.fields or None)


class _TimestampText:
    """:func:`format_us` with the text of the last second kept, for the decision time: a busy
    service's decisions nearly always share the last second, and a hit is ~3x cheaper than
    formatting the whole timestamp (~0.35 against ~1.1 µs in a loop; a miss ~0.4 µs dearer, so
    event times, often history, are not cached; format_us was 3.5% of the serving loop thread's
    time, ``docs/api.md`` seventh round). One tuple, swapped whole: safe from any thread."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, "")

    def __call__(self, us: int) -> str:
        sec, frac = divmod(us, 1_000_000)
        last_sec, head = self._last
        if sec == last_sec:
            return f"{head}{frac:06d}Z"
        text = format_us(us)  # a miss costs format_us and a slice (replayed history misses every time)
        if len(text) == 27:  # years before 1000 or after 9999: no fixed layout to reuse
            self._last = (sec, text[:20])
        return text


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


class Evaluation(NamedTuple):
    """What :meth:`DecisionEngine.evaluate` found for one event (a decision before its record)."""

    features: dict[str, Any]
    models: dict[str, float]
    scored_only: dict[str, float] | None  # model versions scored for the log only (``name@version``)
    explain: Callable[[], list[str]] | None  # the deciding models' reasons, computed on demand
    versions: dict[str, Any]
    at_us: int  # the event time in µs since the epoch
    result: RuleSetResult
    shadows: tuple[ActiveRuleSet, ...]
    shadow_results: tuple[RuleSetResult, ...]


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
        self.feature_version = fingerprint(features.feature_set)[:12]
        self.lists = lists
        self.profiles = profiles or ProfileStore()
        self.scorers = tuple(scorers)
        self._scorer_versions = {s.name: s.version for s in self.scorers}
        # scorers that say which event type they score run only on it (the rest on every event)
        self._scorers_by_type: dict[Any, tuple[ModelScorer, ...]] = {}
        # the decision time only: event times (simulated or replayed history too) seldom share a second
        self._decided_text = _TimestampText()
        self.deployed = deployed
        self._live: tuple[ActiveRuleSet, tuple[ActiveRuleSet, ...], dict[str, Any]] = (rules, (), {})
        self.swap_rules(rules, shadows)

    def swap_rules(self, rules: ActiveRuleSet, shadows: Sequence[ActiveRuleSet]) -> None:
        """Make ``rules`` (and its shadows) live in one assignment.

        A decision reads the live set, its shadows and its versions from one tuple at its start, so
        a swap from another thread (a publish picked up while events are decided) never mixes two
        rule sets, or a rule set and another's label, in one decision.
        """
        # the versions of a decision no deployed model took part in: one shared (read-only) dict
        versions = {"ruleset": rules.label, "features": self.feature_version, "models": self._scorer_versions}
        self._live = (rules, tuple(shadows), versions)

    @property
    def rules(self) -> ActiveRuleSet:
        """The live rule set; setting it (a publish, a rollback) also renews the decisions' versions."""
        return self._live[0]

    @rules.setter
    def rules(self, active: ActiveRuleSet) -> None:
        self.swap_rules(active, self._live[1])

    @property
    def shadows(self) -> tuple[ActiveRuleSet, ...]:
        """The shadow rule sets: evaluated on every event, recorded, never deciding."""
        return self._live[1]

    @shadows.setter
    def shadows(self, shadows: Sequence[ActiveRuleSet]) -> None:
        self.swap_rules(self._live[0], shadows)

    def _scorers_for(self, event_type: Any) -> tuple[ModelScorer, ...]:
        found = self._scorers_by_type[event_type] = tuple(
            s for s in self.scorers if getattr(s, "event_type", event_type) == event_type)
        return found

    def evaluate(self, event: Mapping[str, Any], *, update: bool = True) -> Evaluation:
        """Everything a decision is made of, without the record: feature values, model scores, the
        live rule set's result and each shadow's.

        :meth:`decide` builds its record from this; replay counts it directly (its report reads no
        decision id, timestamp text or hit dicts), so both decide with the very same steps.
        ``update`` as in :meth:`decide`.
        """
        active, shadows, versions = self._live  # one read: a concurrent swap never mixes two rule sets
        values = self.features.process(event) if update else self.features.get(event)
        models: dict[str, float] = {}
        scored_only: dict[str, float] | None = None
        explain = None
        if self.deployed is not None:
            scored = self.deployed.score(event, values)  # None while nothing is deployed
            if scored is not None:
                models, deciding_versions, scored_only, deciding = scored
                versions = {**versions, "models": {**self._scorer_versions, **deciding_versions}}
                if deciding:
                    explain = reason_texts(deciding, event, values)
        if self.scorers:
            etype = event.get("event_type")
            for scorer in self._scorers_by_type.get(etype) or self._scorers_for(etype):
                s = scorer.score(event, values)
                if s is not None:
                    models[scorer.name] = s
        profile = self.profiles.get(event.get("customer_id"))
        at_us = time_to_us(event["event_time"])
        result = active.compiled.evaluate(event, values, models, profile, self.lists, at_us)
        shadow_results = tuple([s.compiled.evaluate(event, values, models, profile, self.lists, at_us)
                                for s in shadows]) if shadows else ()
        return Evaluation(values, models, scored_only, explain, versions, at_us, result, shadows, shadow_results)

    def decide(self, event: Mapping[str, Any], *, update: bool = True, started_ns: int | None = None,
               decided_at: datetime | None = None, event_text: str | None = None) -> Decision:
        """The decision for a validated event; with ``update`` the event then joins the feature state.

        ``update=False`` reads the features without adding the event (for an event already counted).
        ``decided_at`` defaults to now; replay passes the event time so records are reproducible.
        ``event_text``: the event time's canonical text when the caller already has it (the service
        takes it from what the client sent, :func:`~finrisk.events.validate.sent_time_text`).
        """
        t0 = time.perf_counter_ns() if started_ns is None else started_ns
        values, models, scored_only, explain, versions, at_us, result, shadows, shadow_results = \
            self.evaluate(event, update=update)
        shadow = tuple(
            ShadowVerdict(
                ruleset=s.label,
                action=r.action.value,
                risk_level=r.risk_level,
                score=r.score,
                rule_hits=tuple([h.to_dict() for h in r.hits]),
            )
            for s, r in zip(shadows, shadow_results, strict=True)
        ) if shadows else ()
        event_time = event["event_time"]
        if decided_at is None:
            now_us = time.time_ns() // 1000
            decided_text = self._decided_text(now_us)
            decision_id = new_decision_id(now_us * 1000)
        else:
            decided_text = format_timestamp(decided_at)
            decision_id = new_decision_id(at_us * 1000)
        # an aware event time (validated events carry UTC ones): its text from the µs already computed
        if event_text is None:
            event_text = (format_us(at_us) if isinstance(event_time, datetime) and event_time.utcoffset() is not None
                          else format_timestamp(event_time))
        action = result.action.value
        hits = result.hits
        latency_ms = (time.perf_counter_ns() - t0) / 1e6
        return Decision(  # positional, in field order (cheaper than keywords on the hot path)
            decision_id, str(event["event_id"]), str(event["event_type"]), event_text, decided_text,
            action, result.challenge_method, result.risk_level, result.score, result.reasons,
            tuple([h.to_dict() for h in hits]) if hits else (),
            {**models, **scored_only} if scored_only else models,
            values, versions, round(latency_ms, 4), shadow,
            # the deciding models' top inputs, for events the rules did not simply pass (~60 µs each)
            tuple(explain()) if explain is not None and action != "pass" else (),
        )
