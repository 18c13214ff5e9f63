"""Trained credit scorecards served in the decision flow as model scores.

Each ``scorecards/<name>.json`` of the workspace (written by ``finrisk scoring train NAME``) scores
the events of its scenario's type (``loan_application`` by default): ``models.<name>`` is then the
350-950 score (higher = lower risk) that rules can read, e.g. ``models.consumer_loan < 500``. The
record scored is the event's fields over the feature values, so a card may use either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from finrisk.config import Workspace
from finrisk.scoring.card import ScorecardModel
from finrisk.scoring.scenarios import SCORECARDS_FILE, load_scenarios

__all__ = ["ScorecardScorer", "load_scorecard_scorers"]


class ScorecardScorer:
    """A :class:`~finrisk.decisions.engine.ModelScorer` over one trained scorecard."""

    def __init__(self, name: str, card: ScorecardModel, *, event_type: str, version: str) -> None:
        self.name = name
        self.version = version
        self.card = card
        self.event_type = event_type

    def score(self, event: Mapping[str, Any], features: Mapping[str, Any]) -> float | None:
        if event.get("event_type") != self.event_type:
            return None
        return float(self.card.predict_one({**features, **event}).score)


def load_scorecard_scorers(workspace: Workspace) -> list[ScorecardScorer]:
    """A scorer per trained card that is still declared (none before the first training)."""
    folder = workspace.root / "scorecards"
    if not folder.is_dir() or not (workspace.root / SCORECARDS_FILE).is_file():
        return []
    declared = load_scenarios(workspace)
    scorers = []
    for name, decl in sorted(declared.items()):
        path = folder / f"{name}.json"
        if path.is_file():
            raw = path.read_bytes()
            version = hashlib.blake2b(raw, digest_size=6).hexdigest()
            scorers.append(ScorecardScorer(name, ScorecardModel.from_json(raw), event_type=decl.event_type,
                                           version=version))
    return scorers
