"""Versioned model artifacts in the workspace's ``models/`` folder, with stages and roll-back.

Layout::

    models/index.json                      every model's versions and its deployment (+ history)
    models/<name>/v<N>/model.txt           the LightGBM model (linear.json for logistic, scorecard.json
                                           for a credit scorecard: kind ``scorecard``)
    models/<name>/v<N>/meta.json           inputs, feature-set fingerprint, training window, label
                                           source and delay, metrics, data fingerprint, file sha256
    models/<name>/v<N>/report.html         the evaluation report, when trained by the CLI

A deployment names one **champion** (scores every event and drives the decision), any number of
**challengers** with a traffic share (each takes that share of events, chosen by a hash of the
event_id so an event always goes to the same model) and **shadows** (scored and logged, never
deciding). Every change is appended to the index's history, so :meth:`ModelRegistry.rollback`
restores the previous deployment. The index is rewritten atomically (temporary file + rename) and
carries a ``revision`` that a running service polls to pick up a new deployment without a restart.

Credit scorecards (:mod:`finrisk.scoring.registered`) are stored here too, as kind ``scorecard``,
with the same stages; a name holds either fraud models or scorecards, never both, because rules
read a fraud score as a probability and a scorecard's as 350-950 points.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from finrisk.config import Workspace
from finrisk.errors import ModelError, ModelNotFoundError
from finrisk.models.serving import ServedArtifact, ServedModel
from finrisk.models.train import TrainedModel, TrainParams

__all__ = ["Artifact", "Deployment", "LiveDeployment", "ModelRegistry", "STAGES", "Stage"]

Stage = Literal["champion", "challenger", "shadow"]
STAGES: tuple[Stage, ...] = ("champion", "challenger", "shadow")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Kinds stored by another package, loaded by ``<module>:<function>(folder, meta, name=, version=)``.
_EXTERNAL_LOADERS = {"scorecard": "finrisk.scoring.registered:load_served_scorecard"}


class Artifact(Protocol):
    """What :meth:`ModelRegistry.register` stores: a kind, input names, parameters and a file."""

    @property
    def kind(self) -> str: ...

    @property
    def inputs(self) -> list[str]: ...

    @property
    def params(self) -> Any: ...  # a dataclass or a mapping

    def save(self, folder: Path) -> Path: ...


def _params_of(model: Artifact) -> dict[str, Any]:
    params = model.params
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return dataclasses.asdict(params)
    return dict(params)


@dataclass
class Deployment:
    """Which versions of one model serve, and how (see the module docstring)."""

    champion: str | None = None
    challengers: dict[str, float] = field(default_factory=dict)
    shadows: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"champion": self.champion, "challengers": dict(self.challengers), "shadows": list(self.shadows)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        return cls(data.get("champion"), dict(data.get("challengers", {})), list(data.get("shadows", [])))

    def route(self, event_id: str) -> str | None:
        """The version that decides for ``event_id``: a challenger for its share of ids, else the champion."""
        bucket = int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big") / 2**64
        edge = 0.0
        for version, share in sorted(self.challengers.items()):
            edge += share
            if bucket < edge:
                return version
        return self.champion


@dataclass
class LiveDeployment:
    """The loaded models of one deployment, for the decision service.

    ``for_event(event_id)`` gives the model that decides (champion, or a challenger for its share)
    and the ones scored only for the log (the other serving versions and the shadows); reload when
    ``revision`` is behind :meth:`ModelRegistry.revision`.
    """

    name: str
    revision: int
    deployment: Deployment
    models: dict[str, ServedArtifact]

    def for_event(self, event_id: str) -> tuple[ServedArtifact | None, list[ServedArtifact]]:
        deciding = self.deployment.route(event_id)
        others = [m for v, m in self.models.items() if v != deciding]
        return (self.models[deciding] if deciding is not None else None), others


class ModelRegistry:
    """The models of one workspace.

    Examples
    --------
    >>> import tempfile
    >>> from finrisk.config import init_workspace
    >>> registry = ModelRegistry(init_workspace(tempfile.mkdtemp()))
    >>> registry.list()
    []
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @property
    def root(self) -> Path:
        return self.workspace.root / "models"

    # -- index -------------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        path = self.root / "index.json"
        if not path.exists():
            return {"format": 1, "revision": 0, "models": {}}
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})") from None
        return data

    def _write(self, data: dict[str, Any]) -> None:
        data["revision"] = int(data.get("revision", 0)) + 1
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".index.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.root / "index.json")

    def revision(self) -> int:
        """Increases with every change; a service reloads its models when it moves."""
        return int(self._read().get("revision", 0))

    def _entry(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        entry: dict[str, Any] | None = data["models"].get(name)
        if entry is None:
            known = ", ".join(sorted(data["models"])) or "none yet"
            raise ModelNotFoundError(f"model: no model named {name!r}; registered: {known}")
        return entry

    # -- versions ----------------------------------------------------------------------------
    def register(self, name: str, model: Artifact, meta: dict[str, Any], *, report_html: str | None = None) -> str:
        """Store ``model`` as the next version of ``name``; returns the version (``"1"``, ``"2"``...)."""
        if not _NAME.match(name):
            raise ModelError(f"name: expected lowercase letters, digits and _ (starting with a letter), got {name!r}")
        data = self._read()
        entry = data["models"].setdefault(name, {"versions": {}, "deployment": Deployment().as_dict(),
                                                 "history": []})
        kinds = {info["kind"] for info in entry["versions"].values()}
        if kinds and (model.kind == "scorecard") != ("scorecard" in kinds):
            raise ModelError(f"name: {name!r} holds {', '.join(sorted(kinds))} versions; a "
                             f"{model.kind} needs a name of its own")
        version = str(max((int(v) for v in entry["versions"]), default=0) + 1)
        folder = self.root / name / f"v{version}"
        path = model.save(folder)
        full = {**meta, "name": name, "version": version, "kind": model.kind, "inputs": model.inputs,
                "params": _params_of(model),
                "file": path.name, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        (folder / "meta.json").write_text(json.dumps(full, indent=2, default=str), encoding="utf-8")
        if report_html is not None:
            (folder / "report.html").write_text(report_html, encoding="utf-8")
        entry["versions"][version] = {k: full[k] for k in ("kind", "created_at", "file_sha256")} | {
            "metrics": meta.get("metrics", {}), "window": meta.get("window")}
        self._write(data)
        return version

    def list(self) -> list[dict[str, Any]]:
        """One row per registered version: name, version, kind, created, stage, headline metrics."""
        rows = []
        for name, entry in sorted(self._read()["models"].items()):
            dep = Deployment.from_dict(entry["deployment"])
            for version, info in sorted(entry["versions"].items(), key=lambda kv: int(kv[0])):
                stage = ("champion" if dep.champion == version else
                         f"challenger {dep.challengers[version]:.0%}" if version in dep.challengers else
                         "shadow" if version in dep.shadows else "")
                rows.append({"name": name, "version": version, "stage": stage, **info})
        return rows

    def meta(self, name: str, version: str) -> dict[str, Any]:
        entry = self._entry(self._read(), name)
        if version not in entry["versions"]:
            raise ModelNotFoundError(f"version: model {name!r} has no version {version!r}; "
                                     f"versions: {', '.join(sorted(entry['versions'], key=int))}")
        meta: dict[str, Any] = json.loads((self.root / name / f"v{version}" / "meta.json").read_text("utf-8"))
        return meta

    def load(self, name: str, version: str, *, descriptions: dict[str, str] | None = None) -> ServedArtifact:
        """The stored version, ready to score (its file's checksum is verified first)."""
        meta = self.meta(name, version)
        folder = self.root / name / f"v{version}"
        if hashlib.sha256((folder / meta["file"]).read_bytes()).hexdigest() != meta["file_sha256"]:
            raise ModelError(f"{folder / meta['file']}: the file changed since it was registered (checksum differs)")
        external = _EXTERNAL_LOADERS.get(meta["kind"])
        if external is not None:
            module, function = external.split(":")
            served: ServedArtifact = getattr(importlib.import_module(module), function)(
                folder, meta, name=name, version=version)
            return served
        model = TrainedModel.load(folder, kind=meta["kind"], inputs=list(meta["inputs"]),
                                  params=TrainParams(**meta["params"]))
        if descriptions is None:
            descriptions = {f.name: f.description for f in self.workspace.features
                            if getattr(f, "description", None)}
        event_types = (meta["event_type"],) if meta.get("event_type") else ()
        return ServedModel(model, name=name, version=version, event_types=event_types, descriptions=descriptions)

    # -- deployment --------------------------------------------------------------------------
    def deployment(self, name: str) -> Deployment:
        return Deployment.from_dict(self._entry(self._read(), name)["deployment"])

    def deploy(self, name: str, version: str, *, stage: Stage = "champion", traffic: float = 0.1) -> Deployment:
        """Put ``version`` in ``stage`` (a challenger takes ``traffic`` of events); returns the new deployment."""
        if stage not in STAGES:
            raise ModelError(f"stage: expected one of {', '.join(STAGES)}, got {stage!r}")
        if stage == "challenger" and not 0 < traffic < 1:
            raise ModelError(f"traffic: expected a share between 0 and 1 (exclusive), got {traffic!r}")
        self.meta(name, version)
        data = self._read()
        entry = self._entry(data, name)
        dep = Deployment.from_dict(entry["deployment"])
        entry["history"].append(dep.as_dict())
        dep.challengers.pop(version, None)
        dep.shadows = [v for v in dep.shadows if v != version]
        if stage == "champion":
            dep.champion = version
        else:
            if dep.champion == version:
                raise ModelError(f"version: {version} is the champion of {name!r}; deploy another champion first")
            if stage == "challenger":
                total = sum(dep.challengers.values()) + traffic
                if total >= 1:
                    raise ModelError(f"traffic: challengers of {name!r} would take {total:.0%} of events; "
                                     "the champion needs a share")
                dep.challengers[version] = traffic
            else:
                dep.shadows.append(version)
        _log_change(entry, dep.as_dict())
        self._write(data)
        return dep

    def live(self, name: str) -> LiveDeployment:
        """Load every version the deployment of ``name`` serves (champion, challengers, shadows)."""
        data = self._read()
        dep = Deployment.from_dict(self._entry(data, name)["deployment"])
        versions = [v for v in (dep.champion, *dep.challengers, *dep.shadows) if v is not None]
        return LiveDeployment(name, int(data.get("revision", 0)), dep, {v: self.load(name, v) for v in versions})

    def deployment_log(self, name: str) -> tuple[dict[str, Any], ...]:
        """Every timed deployment change of ``name``, oldest first: ``{"at_us", "before", "after"}``.

        Recorded since replay --as-of-then needed it; changes made before that have no time.
        """
        return tuple(self._entry(self._read(), name).get("deployed", ()))

    def rollback(self, name: str) -> Deployment:
        """Restore the deployment before the last change."""
        data = self._read()
        entry = self._entry(data, name)
        if not entry["history"]:
            raise ModelError(f"rollback: model {name!r} has no earlier deployment to go back to")
        _log_change(entry, entry["history"].pop())
        self._write(data)
        return Deployment.from_dict(entry["deployment"])


def _log_change(entry: dict[str, Any], after: dict[str, Any]) -> None:
    """Make ``after`` the deployment and append the change, with its time, to the never-popped log."""
    entry.setdefault("deployed", []).append({"at_us": time.time_ns() // 1000, "before": entry["deployment"],
                                             "after": after})
    entry["deployment"] = after
