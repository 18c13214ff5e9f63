"""Scenario scorecards in the model registry (kind ``scorecard``), served in the decision flow.

``finrisk scoring train NAME`` registers each fitted card as the next version of ``NAME`` in the
workspace's :class:`~finrisk.models.registry.ModelRegistry` (file ``scorecard.json``, the card's JSON;
``meta.json`` with training window, metrics, data fingerprint and variables). Stages, traffic
routing and roll-back are the registry's, exactly as for fraud models. The first version of a name
becomes champion at once (a card is useless undeployed); later versions wait for
``finrisk scoring deploy NAME VERSION``.

A deployed card scores its scenario's events in the decision flow: ``models.<name>`` is the
350-950 score and ``versions.models.<name>`` the version, and ``POST /v1/credit/applications``
builds its sub-scores, reasons and limit from that very version.

Cards trained before the registry (``scorecards/<name>.json``) are registered on first use by
:func:`migrate_legacy_scorecards` (champion when still declared in ``scorecards.yaml``, as they were
served before); the old file stays where it was.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from finrisk.config import Workspace
from finrisk.errors import ModelError, ScorecardError
from finrisk.models.reasons import Reason
from finrisk.models.registry import ModelRegistry
from finrisk.scoring.card import ScorecardModel, ScoreResult

__all__ = ["CARD_FILE", "KIND", "ScorecardArtifact", "ServedScorecard", "load_served_scorecard",
           "migrate_legacy_scorecards", "register_scorecard", "registered_scorecard"]

KIND = "scorecard"
CARD_FILE = "scorecard.json"
_REGISTRY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass
class ScorecardArtifact:
    """A fitted card in the shape :meth:`ModelRegistry.register` stores."""

    model: ScorecardModel
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = KIND

    @property
    def inputs(self) -> list[str]:
        return self.model.feature_names

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CARD_FILE
        path.write_text(self.model.to_json(), encoding="utf-8")
        return path


class ServedScorecard:
    """One registered card version, scoring events of its types (a ``ServedArtifact``)."""

    def __init__(self, card: ScorecardModel, *, name: str, version: str, event_types: tuple[str, ...]) -> None:
        self.card = card
        self.name = name
        self.version = version
        self.event_types = tuple(event_types)

    def result(self, event: Mapping[str, Any], features: Mapping[str, Any]) -> ScoreResult:
        """Score, probability, sub-scores, reasons and points of one event (event fields over features)."""
        return self.card.predict_one({**features, **event})

    def score(self, event: Mapping[str, Any], features: Mapping[str, Any]) -> float | None:
        if self.event_types and event.get("event_type") not in self.event_types:
            return None
        return float(self.result(event, features).score)

    def reasons(self, event: Mapping[str, Any], features: Mapping[str, Any], *, k: int = 3,
                method: Literal["path", "shap"] = "path") -> list[Reason]:
        """The card's reason codes as texts: variables furthest below their best bin (values only if numeric)."""
        result = self.result(event, features)
        by_code = {v.reason_code: v for v in self.card.variables}
        record = {**features, **event}
        out = []
        for code in result.reasons[:k]:
            var = by_code[code]
            shortfall = var.best_points - result.points[var.name]
            value = record.get(var.name)
            number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
            out.append(Reason(var.name, number, float(shortfall),
                              f"{code} {var.name} ({var.dimension}): {shortfall} points below its best bin"))
        return out


def load_served_scorecard(folder: Path, meta: Mapping[str, Any], *, name: str, version: str) -> ServedScorecard:
    """The registry's loader for kind ``scorecard``."""
    card = ScorecardModel.from_json((folder / CARD_FILE).read_bytes())
    event_types = (str(meta["event_type"]),) if meta.get("event_type") else ()
    return ServedScorecard(card, name=name, version=version, event_types=event_types)


def register_scorecard(workspace: Workspace, name: str, model: ScorecardModel, meta: dict[str, Any], *,
                       params: dict[str, Any] | None = None, report_html: str | None = None) -> tuple[str, bool]:
    """Register ``model`` as the next version of ``name``; returns the version and whether it became
    champion (only when ``name`` had none)."""
    registry = ModelRegistry(workspace)
    version = registry.register(name, ScorecardArtifact(model, params or {}), meta, report_html=report_html)
    if registry.deployment(name).champion is None:
        registry.deploy(name, version)
        return version, True
    return version, False


def registered_scorecard(workspace: Workspace, name: str, version: str | None = None) -> ServedScorecard:
    """Version ``version`` of card ``name`` (default: the champion, else the latest)."""
    migrate_legacy_scorecards(workspace)
    registry = ModelRegistry(workspace)
    rows = [r for r in registry.list() if r["name"] == name]
    if not rows or rows[0]["kind"] != KIND:
        raise ScorecardError(f"no trained scorecard {name!r}: run 'finrisk scoring train {name}' first")
    chosen = version or registry.deployment(name).champion or rows[-1]["version"]
    served = registry.load(name, chosen)
    assert isinstance(served, ServedScorecard)
    return served


def migrate_legacy_scorecards(workspace: Workspace) -> list[tuple[str, str]]:
    """Register every ``scorecards/<name>.json`` whose name the registry does not know yet.

    Returns ``(name, version)`` per card moved. A card still declared in ``scorecards.yaml`` becomes
    champion (it was served before); the JSON file is left in place.
    """
    folder = workspace.root / "scorecards"
    if not folder.is_dir():
        return []
    registry = ModelRegistry(workspace)
    known = {r["name"] for r in registry.list()}
    pending = sorted(p for p in folder.glob("*.json") if p.stem not in known and _REGISTRY_NAME.match(p.stem))
    if not pending:
        return []
    from finrisk.scoring.scenarios import load_scenarios

    declared = load_scenarios(workspace)
    moved = []
    for path in pending:
        raw = path.read_bytes()
        try:
            card = ScorecardModel.from_json(raw)
        except ScorecardError as exc:
            raise ScorecardError(f"{path}: cannot migrate into the model registry: {exc}") from None
        decl = declared.get(path.stem)
        report = path.with_suffix(".html")
        meta: dict[str, Any] = {"event_type": decl.event_type if decl else "loan_application",
                "target": decl.target if decl else None, "window": None, "metrics": {},
                "migrated_from": f"scorecards/{path.name}",
                "data_fingerprint": None, "legacy_sha256": hashlib.sha256(raw).hexdigest(),
                "variables": [{"name": v.name, "dimension": v.dimension, "reason_code": v.reason_code}
                              for v in card.variables]}
        try:
            version = registry.register(path.stem, ScorecardArtifact(card), meta,
                                        report_html=report.read_text("utf-8") if report.is_file() else None)
        except ModelError as exc:
            raise ScorecardError(f"{path}: cannot migrate into the model registry: {exc}") from None
        if decl is not None:
            registry.deploy(path.stem, version)
        moved.append((path.stem, version))
    return moved
