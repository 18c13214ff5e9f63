"""Credit scorecards: optimal monotone binning, WoE, selection, integer points, sub-scores and reasons."""

from __future__ import annotations

from finrisk.scoring.card import ScorecardModel, ScoredVariable, ScoreResult
from finrisk.scoring.points import PointsScale
from finrisk.scoring.scorecard import Scorecard

__all__ = ["PointsScale", "ScoreResult", "Scorecard", "ScorecardModel", "ScoredVariable"]
