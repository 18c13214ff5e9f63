"""The models deployed at a past moment, from the registry's timed deployment log.

The registry records every deployment change with its time (``ModelRegistry.deployment_log``:
``{at_us, before, after}``). The deployment in force at ``T`` is the ``after`` of the newest change
at or before ``T``, or the ``before`` of the first change after it. Changes made before the log
existed carry no time: for a model without any logged change the current deployment is assumed
for all of history, and such models are named in :attr:`ModelsAsOf.untimed` (the report shows
them).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import orjson

from finrisk.config import Workspace
from finrisk.decisions.deployed_models import DeployedModels
from finrisk.models.registry import Deployment, LiveDeployment
from finrisk.models.serving import ServedArtifact

__all__ = ["ModelsAsOf"]


class ModelsAsOf(DeployedModels):
    """:class:`DeployedModels` whose deployments are those in force at ``set_time``'s moment."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(workspace)  # loads the current deployments once
        self._current = dict(self._live)
        self._logs: dict[str, tuple[list[int], list[dict[str, Any]]]] = {}
        self.untimed: list[str] = []
        for name in sorted({row["name"] for row in self.registry.list()}):
            changes = self.registry.deployment_log(name)
            if changes:
                times = [int(c["at_us"]) for c in changes]
                states = [changes[0]["before"], *(c["after"] for c in changes)]
                self._logs[name] = (times, states)
            elif name in self._current:
                self.untimed.append(name)
        self._models: dict[tuple[str, str], ServedArtifact] = {}
        self._deployments: dict[tuple[str, bytes], LiveDeployment] = {}

    def refresh(self, *, force: bool = False) -> None:
        """Never reload from the registry: the deployments are chosen by :meth:`set_time`."""
        if force and not hasattr(self, "_current"):
            super().refresh(force=True)

    def set_time(self, at_us: int) -> None:
        """Use the deployments that were in force at ``at_us`` (microseconds since the epoch)."""
        live = {name: dep for name, dep in self._current.items() if name in self.untimed}
        for name, (times, states) in self._logs.items():
            state = states[bisect_right(times, at_us)]
            deployment = self._deployment(name, state)
            if deployment.models:
                live[name] = deployment
        self._live = live

    def _deployment(self, name: str, state: dict[str, Any]) -> LiveDeployment:
        key = (name, orjson.dumps(state, option=orjson.OPT_SORT_KEYS))
        found = self._deployments.get(key)
        if found is None:
            dep = Deployment.from_dict(state)
            versions = [v for v in (dep.champion, *dep.challengers, *dep.shadows) if v is not None]
            found = LiveDeployment(name, -1, dep, {v: self._model(name, v) for v in versions})
            self._deployments[key] = found
        return found

    def _model(self, name: str, version: str) -> ServedArtifact:
        model = self._models.get((name, version))
        if model is None:
            model = self._models[(name, version)] = self.registry.load(name, version)
        return model
