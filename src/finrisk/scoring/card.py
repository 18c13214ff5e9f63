"""The fitted scorecard as data: bins, WoE, coefficients and integer points per variable.

A :class:`ScorecardModel` is what a :class:`~finrisk.scoring.Scorecard` estimator learns and what is
saved, exported to SQL and served: it scores a batch (numpy, vectorised) or one record (plain Python,
a few microseconds), and both give the same score, sub-scores and reasons because both look up the
same bins and add the same integers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from finrisk.errors import ScorecardError
from finrisk.scoring._columns import select_columns
from finrisk.scoring.binning import CategoricalBinning, NumericBinning
from finrisk.scoring.dimensions import subscore_bounds, subscores
from finrisk.scoring.points import PointsScale
from finrisk.scoring.reasons import top_reasons

__all__ = ["ScoreResult", "ScoredVariable", "ScorecardModel", "binning_from_dict"]

Binning = NumericBinning | CategoricalBinning
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(eq=False)
class ScoredVariable:
    """One variable of the card: its bins, coefficient, integer points per bin, dimension and reason code.

    ``coef`` is the coefficient the card scores with: the fitted one times ``weight`` (a business
    weight, 1 when none was given; see ``Scorecard(weights=...)``).
    """

    binning: Binning
    coef: float
    points: list[int]
    dimension: str
    reason_code: str
    weight: float = 1.0

    @property
    def name(self) -> str:
        return self.binning.name

    @property
    def best_points(self) -> int:
        return max(self.points)

    def to_dict(self) -> dict[str, Any]:
        return {"binning": self.binning.to_dict(), "coef": self.coef, "points": self.points,
                "dimension": self.dimension, "reason_code": self.reason_code, "weight": self.weight}


@dataclass(frozen=True)
class ScoreResult:
    """The outcome of scoring one record."""

    score: int
    probability: float
    subscores: dict[str, int]
    reasons: list[str]
    points: dict[str, int]


def binning_from_dict(data: Mapping[str, Any]) -> Binning:
    kind = data.get("kind")
    fields = {k: v for k, v in data.items() if k != "kind"}
    if kind == "numeric":
        return NumericBinning(**fields)
    if kind == "categorical":
        return CategoricalBinning(**fields)
    raise ScorecardError(f"binning 'kind' must be 'numeric' or 'categorical'; got {kind!r}")


@dataclass(eq=False)
class ScorecardModel:
    """A fitted scorecard; see the module docstring."""

    variables: list[ScoredVariable]
    intercept: float
    base_points: int
    scale: PointsScale = field(default_factory=PointsScale)
    n_reasons: int = 4
    name: str = "scorecard"

    def __post_init__(self) -> None:
        self._bounds = subscore_bounds([v.dimension for v in self.variables], [v.points for v in self.variables])
        self._names = [v.name for v in self.variables]
        self._categorical = [v.name for v in self.variables if isinstance(v.binning, CategoricalBinning)]
        self._best = [v.best_points for v in self.variables]
        self._codes = [v.reason_code for v in self.variables]
        # one tuple per variable, so single-record scoring touches no attribute lookups in its loop
        self._fast = [(v.name, v.binning.bin_of, v.points, v.binning.woe, v.coef, v.dimension, v.best_points,
                       j, v.reason_code) for j, v in enumerate(self.variables)]

    @property
    def feature_names(self) -> list[str]:
        return list(self._names)

    @property
    def dimensions(self) -> list[str]:
        return list(self._bounds)

    @property
    def subscore_bounds(self) -> dict[str, tuple[int, int]]:
        """Least and most points per dimension (the 0 and 100 of its sub-score)."""
        return dict(self._bounds)

    # --- batch -------------------------------------------------------------------------------------------
    def bin_indices(self, X: Any, *, n_features_in: int | None = None) -> IntArray:
        """Bin of every row in every variable (rows x variables)."""
        cols = select_columns(X, self._names, n_features_in=n_features_in or len(self._names),
                              categorical=self._categorical)
        if not self.variables:
            return np.zeros((_n_rows(X), 0), dtype=np.int64)
        return np.column_stack([v.binning.bin_index(cols[v.name]) for v in self.variables]).astype(np.int64)

    def woe(self, bins: IntArray) -> FloatArray:
        if not self.variables:
            return np.zeros((bins.shape[0], 0))
        return np.column_stack([np.asarray(v.binning.woe)[bins[:, j]] for j, v in enumerate(self.variables)])

    def points(self, bins: IntArray) -> IntArray:
        if not self.variables:
            return np.zeros((bins.shape[0], 0), dtype=np.int64)
        return np.column_stack([np.asarray(v.points, dtype=np.int64)[bins[:, j]]
                                for j, v in enumerate(self.variables)])

    def probability(self, bins: IntArray) -> FloatArray:
        """P(bad) from the unrounded model."""
        z = self.intercept + self.woe(bins) @ np.array([v.coef for v in self.variables])
        out: FloatArray = 1.0 / (1.0 + np.exp(-z))
        return out

    def score(self, bins: IntArray) -> IntArray:
        return self.scale.clip(self.base_points + self.points(bins).sum(axis=1))

    def subscores(self, bins: IntArray) -> dict[str, IntArray]:
        return subscores(self.points(bins), [v.dimension for v in self.variables], self._bounds)

    def reasons(self, bins: IntArray) -> list[list[str]]:
        return top_reasons(self.points(bins), self._best, self._codes, k=self.n_reasons)

    # --- one record --------------------------------------------------------------------------------------
    def predict_one(self, record: Mapping[str, Any]) -> ScoreResult:
        """Score one record (a mapping of variable name to value; absent names count as missing)."""
        total = self.base_points
        z = self.intercept
        pts: dict[str, int] = {}
        by_dim = dict.fromkeys(self._bounds, 0)
        shortfalls: list[tuple[int, int, str]] = []
        get = record.get
        for name, bin_of, points, woe, coef, dim, best, j, code in self._fast:
            b = bin_of(get(name))
            p = points[b]
            pts[name] = p
            total += p
            z += coef * woe[b]
            by_dim[dim] += p
            if best > p:
                shortfalls.append((p - best, j, code))
        shortfalls.sort()
        # round() halves to even like numpy.rint in the batch path
        subs = {d: 100 if hi == lo else round(100.0 * (by_dim[d] - lo) / (hi - lo))
                for d, (lo, hi) in self._bounds.items()}
        score = min(max(total, self.scale.min_score), self.scale.max_score)
        return ScoreResult(score=score, probability=1.0 / (1.0 + math.exp(-z)), subscores=subs,
                           reasons=[c for _, _, c in shortfalls[: self.n_reasons]], points=pts)

    # --- tables ------------------------------------------------------------------------------------------
    def reason_code_table(self) -> list[dict[str, str]]:
        """Code, variable and dimension of every reason code the card can give."""
        return [{"code": v.reason_code, "variable": v.name, "dimension": v.dimension,
                 "description": f"{v.name} ({v.dimension}) is in a higher-risk bin"} for v in self.variables]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "finrisk-scorecard", "format_version": 1, "name": self.name,
                "intercept": self.intercept, "base_points": self.base_points, "scale": self.scale.to_dict(),
                "n_reasons": self.n_reasons, "variables": [v.to_dict() for v in self.variables]}

    def to_json(self) -> str:
        """The card as JSON (see :mod:`finrisk.scoring.export`)."""
        from finrisk.scoring.export import scorecard_to_json

        return scorecard_to_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> ScorecardModel:
        from finrisk.scoring.export import scorecard_from_json

        return scorecard_from_json(text)

    def to_sql(self, table: str, *, keep: Sequence[str] = ()) -> str:
        """ANSI SQL that scores every row of ``table`` (see :mod:`finrisk.scoring.export`)."""
        from finrisk.scoring.export import scorecard_to_sql

        return scorecard_to_sql(self, table, keep=keep)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScorecardModel:
        if data.get("format") != "finrisk-scorecard" or data.get("format_version") != 1:
            raise ScorecardError("not a finrisk scorecard: 'format' must be 'finrisk-scorecard' with "
                                 f"'format_version' 1; got {data.get('format')!r} {data.get('format_version')!r}")
        try:
            variables = [ScoredVariable(binning=binning_from_dict(v["binning"]), coef=float(v["coef"]),
                                        points=[int(p) for p in v["points"]], dimension=str(v["dimension"]),
                                        reason_code=str(v["reason_code"]), weight=float(v.get("weight", 1.0)))
                         for v in data["variables"]]
            return cls(variables=variables, intercept=float(data["intercept"]), base_points=int(data["base_points"]),
                       scale=PointsScale(**data["scale"]), n_reasons=int(data["n_reasons"]),
                       name=str(data.get("name", "scorecard")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ScorecardError(f"malformed scorecard: {type(exc).__name__}: {exc}") from None


def _n_rows(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)
