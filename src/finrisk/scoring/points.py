"""Scaling a logistic scorecard to integer points: PDO, base score at base odds, clipped to 350-950.

``score = offset + factor * ln(good:bad odds)`` with ``factor = pdo / ln 2`` and
``offset = base_score - factor * ln(base_odds)``: the score is ``base_score`` at odds ``base_odds``
and every ``pdo`` points double the odds. Since ``ln(odds) = -(intercept + sum coef_i * WoE_i)``:

* each bin's points are ``rint(-factor * coef_i * WoE_bin)`` (nearest integer, halves to even), fixed
  at fit time;
* the base points are ``rint(offset - factor * intercept)``;
* a record's score is ``clip(base points + sum of its bins' points, 350, 950)`` - only integer
  additions, so the Python, JSON and SQL scorers agree exactly.

Rounding each bin moves a score by at most half a point per variable from the unrounded scale; the
probability of bad (``predict_proba``) comes from the unrounded model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PointsScale"]


@dataclass(frozen=True)
class PointsScale:
    """How log-odds become points (see the module docstring for the formulas and rounding)."""

    pdo: float = 50.0
    base_score: float = 650.0
    base_odds: float = 20.0
    min_score: int = 350
    max_score: int = 950

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def bin_points(self, coef: float, woe: npt.ArrayLike) -> list[int]:
        """Integer points of each bin of one variable."""
        return [int(v) for v in np.rint(-self.factor * coef * np.asarray(woe, dtype=np.float64))]

    def base_points(self, intercept: float) -> int:
        return int(np.rint(self.offset - self.factor * intercept))

    def clip(self, raw: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        out: npt.NDArray[np.int64] = np.clip(raw, self.min_score, self.max_score)
        return out

    def score_of_probability(self, p_bad: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The unrounded, unclipped score of a probability of bad (for reading a cut-off)."""
        p = np.asarray(p_bad, dtype=np.float64)
        out: npt.NDArray[np.float64] = self.offset + self.factor * np.log((1.0 - p) / p)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"pdo": self.pdo, "base_score": self.base_score, "base_odds": self.base_odds,
                "min_score": self.min_score, "max_score": self.max_score}
