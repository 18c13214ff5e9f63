"""Fraud models deployed in the workspace's registry, scored in the decision flow.

Per model name the registry's deployment says which version decides for an event (the champion,
or a challenger for its share of ``event_id``s) and which are scored only for the log (other
serving versions and shadows). Rules read the deciding score as ``models.<name>`` (its version
goes in the decision's ``versions``); the versions scored only for the log appear in the
decision's ``model_scores`` as ``<name>@<version>``. A deploy, promote or rollback is picked up
without a restart: the registry's revision is checked at most once a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from finrisk.config import Workspace
from finrisk.models.registry import LiveDeployment, ModelRegistry
from finrisk.models.serving import ServedArtifact

__all__ = ["DeployedModels"]

_CHECK_EVERY_S = 1.0


class DeployedModels:
    """The live deployments of every registered model, reloaded when the registry changes."""

    def __init__(self, workspace: Workspace) -> None:
        self.registry = ModelRegistry(workspace)
        self._live: dict[str, LiveDeployment] = {}
        self._revision = -1
        self._checked = 0.0
        self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < _CHECK_EVERY_S:
            return
        self._checked = now
        revision = self.registry.revision()
        if revision == self._revision:
            return
        live = {}
        for name in sorted({row["name"] for row in self.registry.list()}):
            deployment = self.registry.live(name)
            if deployment.models:
                live[name] = deployment
        self._live, self._revision = live, revision

    def __bool__(self) -> bool:
        return bool(self._live)

    def served(self, name: str, version: str) -> ServedArtifact:
        """Version ``version`` of ``name``: the loaded one if it serves, else read from the registry."""
        live = self._live.get(name)
        model = None if live is None else live.models.get(version)
        return model if model is not None else self.registry.load(name, version)

    def score(self, event: Mapping[str, Any], features: Mapping[str, Any]) -> tuple[
            dict[str, float], dict[str, str], dict[str, float], list[tuple[ServedArtifact, float]]] | None:
        """Deciding scores by name, their versions, scored-only ``name@version`` scores, and the
        deciding models with their scores (for reasons); None while no model is deployed (checked
        against the registry like any change, so a first deployment after start is picked up)."""
        self.refresh()
        if not self._live:
            return None
        scores: dict[str, float] = {}
        versions: dict[str, str] = {}
        extra: dict[str, float] = {}
        deciding_models: list[tuple[ServedArtifact, float]] = []
        eid = str(event.get("event_id", ""))
        for name, live in self._live.items():
            deciding, others = live.for_event(eid)
            if deciding is not None:
                s = deciding.score(event, features)
                if s is not None:
                    scores[name] = s
                    versions[name] = deciding.version
                    deciding_models.append((deciding, s))
            for model in others:
                s = model.score(event, features)
                if s is not None:
                    extra[f"{name}@{model.version}"] = s
        return scores, versions, extra, deciding_models


def reason_texts(models: list[tuple[ServedArtifact, float]], event: Mapping[str, Any],
                 features: Mapping[str, Any], k: int = 3) -> Callable[[], list[str]]:
    """A deferred computation of the deciding models' top reasons (only flagged events pay for it)."""
    def explain() -> list[str]:
        return [f"{m.name}: {r.text}" for m, _ in models for r in m.reasons(event, features, k=k)]
    return explain
