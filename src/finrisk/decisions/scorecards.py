"""Credit scorecards in the decision flow: registered models of kind ``scorecard``.

A scorecard deployed in the model registry is served by :class:`~finrisk.decisions.deployed_models.
DeployedModels` like a fraud model: on its scenario's events (``loan_application`` by default)
``models.<name>`` is the 350-950 score (higher = lower risk) that rules can read, e.g.
``models.consumer_loan < 500``, and its version goes in the decision's ``versions``. Cards trained
before the registry existed (``scorecards/<name>.json``) are moved into it here on first use.
"""

from __future__ import annotations

from finrisk.config import Workspace
from finrisk.decisions.engine import ModelScorer
from finrisk.scoring.registered import migrate_legacy_scorecards

__all__ = ["load_scorecard_scorers"]


def load_scorecard_scorers(workspace: Workspace) -> list[ModelScorer]:
    """Register legacy ``scorecards/<name>.json`` cards, then return no extra scorer: registered
    cards are scored through the registry's deployments (call before building ``DeployedModels``)."""
    migrate_legacy_scorecards(workspace)
    return []
