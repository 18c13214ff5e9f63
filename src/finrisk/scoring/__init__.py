"""Credit scorecards: optimal monotone binning, WoE, selection, integer points, sub-scores, reasons and limits.

See docs/scoring.md. ``Scorecard`` is the scikit-learn estimator; ``ScorecardModel`` the fitted card
(JSON, SQL, single-record scoring); ``LimitPolicy`` turns a score into a decision with a limit.
"""

from __future__ import annotations

from finrisk.scoring.card import ScorecardModel, ScoredVariable, ScoreResult
from finrisk.scoring.limits import CreditDecision, LimitPolicy, ScoreBand
from finrisk.scoring.points import PointsScale
from finrisk.scoring.report import ScorecardReport, build_report, print_report
from finrisk.scoring.scenarios import ScenarioDeclaration, TrainedScenario, load_scenarios, train_scenario
from finrisk.scoring.scorecard import Scorecard

__all__ = [
    "CreditDecision",
    "LimitPolicy",
    "PointsScale",
    "ScenarioDeclaration",
    "ScoreBand",
    "ScoreResult",
    "Scorecard",
    "ScorecardModel",
    "ScorecardReport",
    "ScoredVariable",
    "TrainedScenario",
    "build_report",
    "load_scenarios",
    "print_report",
    "train_scenario",
]
