"""``Scorecard``: a scikit-learn classifier from a raw frame to an integer-points credit scorecard.

``fit`` bins every column (optimal monotone bins, Missing and Special bins), keeps variables by IV,
correlation and VIF, picks at most ``max_features`` of them by forward stepwise (or L1), fits a
logistic regression of P(bad) on their WoE and scales it to integer points. ``predict_proba(X)[:, 1]``
is P(bad); ``predict_score`` the 350-950 score (higher = lower risk); ``transform`` the WoE columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from finrisk.errors import ScorecardError
from finrisk.scoring._columns import read_columns
from finrisk.scoring._monotone import TREND_OPTIONS
from finrisk.scoring.binning import CategoricalBinning, NumericBinning, fit_categorical, fit_numeric
from finrisk.scoring.card import ScorecardModel, ScoredVariable, ScoreResult
from finrisk.scoring.dimensions import OTHER
from finrisk.scoring.points import PointsScale
from finrisk.scoring.selection import (
    correlation_filter,
    fit_logit,
    forward_stepwise,
    iv_filter,
    l1_select,
    vif_filter,
)

__all__ = ["Scorecard"]

FloatArray = npt.NDArray[np.float64]


class Scorecard(ClassifierMixin, TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Credit scorecard estimator: binning, WoE, selection, logistic regression, integer points.

    Parameters
    ----------
    categorical_features : list of str, optional
        Columns to bin as categories even if numeric (text columns always are).
    special_codes : list, optional
        Values that mean something special (e.g. -999 "no bureau file"); they get their own bin.
    monotonic_trend : str or dict
        ``"auto"`` (best of ascending/descending), ``"auto_unimodal"`` (also peak/valley), ``"ascending"``,
        ``"descending"``, ``"peak"`` or ``"valley"``, or a dict of those per column (others ``"auto"``).
    max_n_prebins : int
        Quantile pre-bins per numeric column before the optimal merge.
    min_bin_size : float
        Least share of all rows in a regular bin.
    min_iv, max_iv : float
        Keep variables whose IV lies in this range.
    max_corr, max_vif : float
        Drop the lower-IV variable of a pair more correlated than ``max_corr`` (WoE columns), then the
        variable with the largest VIF until all are at most ``max_vif``.
    selection : {"stepwise", "l1", "none"}
        How at most ``max_features`` variables are chosen; stepwise enters a variable when its score test
        has p-value below ``alpha``.
    C : float
        Inverse L2 strength of the final logistic regression.
    pdo, base_score, base_odds, min_score, max_score
        Points scaling (:mod:`finrisk.scoring.points`).
    dimensions : dict of str to str, optional
        Dimension of each variable for sub-scores (others are ``"other"``).
    reason_codes : dict of str to str, optional
        Reason code of each variable (others get ``R01``, ``R02``... in card order).
    n_reasons : int
        How many reason codes a score carries at most.
    weights : dict of str to float, optional
        Business weight of a variable, in (0, 10] (others 1): it multiplies the variable's fitted
        coefficient before scaling, so its points (and its pull on ``predict_proba``) grow or shrink by
        that factor. Applied after selection: it never decides whether a variable enters the card.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two target values; ``classes_[1]`` is "bad".
    model_ : ScorecardModel
        The fitted card (bins, WoE, points), exportable to JSON and SQL.
    binnings_ : dict
        The bins of every input column, selected or not.
    iv_ : dict of str to float
        IV of every input column.
    feature_names_in_, n_features_in_
        As in scikit-learn.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": rng.integers(18, 70, 2000), "city": rng.choice(["a", "b", "c"], 2000)})
    >>> y = (rng.random(2000) < np.where(X["age"] < 30, 0.3, 0.1)).astype(int)
    >>> card = Scorecard().fit(X, y)
    >>> card.model_.feature_names
    ['age']
    >>> bool(card.predict_proba(X)[:, 1].max() < 0.5)
    True
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "categorical_features": [list, None],
        "special_codes": [list, None],
        "monotonic_trend": [StrOptions(set(TREND_OPTIONS)), dict],
        "max_n_prebins": [Interval(Integral, 2, None, closed="left")],
        "min_bin_size": [Interval(Real, 0.0, 0.5, closed="right")],
        "min_iv": [Interval(Real, 0.0, None, closed="left")],
        "max_iv": [Interval(Real, 0.0, None, closed="left"), None],
        "max_corr": [Interval(Real, 0.0, 1.0, closed="both")],
        "max_vif": [Interval(Real, 1.0, None, closed="left")],
        "selection": [StrOptions({"stepwise", "l1", "none"})],
        "max_features": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0.0, 1.0, closed="right")],
        "C": [Interval(Real, 0.0, None, closed="neither")],
        "pdo": [Interval(Real, 0.0, None, closed="neither")],
        "base_score": [Real],
        "base_odds": [Interval(Real, 0.0, None, closed="neither")],
        "min_score": [Integral],
        "max_score": [Integral],
        "dimensions": [dict, None],
        "reason_codes": [dict, None],
        "n_reasons": [Interval(Integral, 0, None, closed="left")],
        "weights": [dict, None],
    }

    def __init__(
        self, *, categorical_features: list[str] | None = None, special_codes: list[Any] | None = None,
        monotonic_trend: str | dict[str, str] = "auto", max_n_prebins: int = 20, min_bin_size: float = 0.05,
        min_iv: float = 0.02, max_iv: float | None = None, max_corr: float = 0.7, max_vif: float = 5.0,
        selection: str = "stepwise", max_features: int = 10, alpha: float = 0.1, C: float = 1.0,
        pdo: float = 50.0, base_score: float = 650.0, base_odds: float = 20.0, min_score: int = 350,
        max_score: int = 950, dimensions: dict[str, str] | None = None, reason_codes: dict[str, str] | None = None,
        n_reasons: int = 4, weights: dict[str, float] | None = None,
    ) -> None:
        self.categorical_features = categorical_features
        self.special_codes = special_codes
        self.monotonic_trend = monotonic_trend
        self.max_n_prebins = max_n_prebins
        self.min_bin_size = min_bin_size
        self.min_iv = min_iv
        self.max_iv = max_iv
        self.max_corr = max_corr
        self.max_vif = max_vif
        self.selection = selection
        self.max_features = max_features
        self.alpha = alpha
        self.C = C
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.min_score = min_score
        self.max_score = max_score
        self.dimensions = dimensions
        self.reason_codes = reason_codes
        self.n_reasons = n_reasons
        self.weights = weights

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False
        return tags

    # --- fit ---------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> Scorecard:
        """Bin, select, regress and scale; ``y`` has two values, the larger (or ``True``/1) meaning bad."""
        self._validate_params()
        if isinstance(self.monotonic_trend, dict):
            wrong = {k: v for k, v in self.monotonic_trend.items() if v not in TREND_OPTIONS}
            if wrong:
                raise ScorecardError(f"monotonic_trend must map columns to one of {', '.join(TREND_OPTIONS)}; "
                                     f"got {wrong}")
        for name, weight in (self.weights or {}).items():
            if isinstance(weight, bool) or not isinstance(weight, Real) or not 0 < weight <= 10:
                raise ScorecardError(f"weights: variable {name!r}: expected a number in (0, 10], got {weight!r}")
        if y is None:
            raise ScorecardError("Scorecard requires y to be passed, but the target y is None (1 = bad, 0 = good)")
        cols, named = read_columns(X, categorical=self.categorical_features or ())
        unknown = sorted(set(self.weights or {}) - set(cols))
        if unknown:
            raise ScorecardError(f"weights: {', '.join(map(repr, unknown))} not among the columns of X")
        y_arr = column_or_1d(y, warn=True)
        if pd.isna(pd.Series(y_arr)).any() or (y_arr.dtype.kind == "f" and not np.isfinite(y_arr).all()):
            raise ScorecardError("Input y contains NaN or infinity; every row needs 0 (good) or 1 (bad)")
        n = len(next(iter(cols.values())))
        if y_arr.shape[0] != n:
            raise ScorecardError(f"X has {n} rows but y has {y_arr.shape[0]}")
        try:
            check_classification_targets(y_arr)
        except ValueError as exc:
            raise ScorecardError(str(exc)) from None
        classes = np.unique(y_arr)
        if classes.size != 2:
            raise ScorecardError("Only binary classification is supported (1 = bad, 0 = good); "
                                 f"y has {classes.size} class(es)")
        self.classes_ = classes
        target = (y_arr == classes[1]).astype(np.float64)
        self.n_features_in_ = len(cols)
        if named:
            self.feature_names_in_ = np.asarray(list(cols), dtype=object)
        min_size = max(1.0, float(np.ceil(self.min_bin_size * n)))
        self.binnings_ = {name: self._fit_binning(name, values, target, min_size) for name, values in cols.items()}
        self.iv_ = {name: b.iv for name, b in self.binnings_.items()}
        chosen = self._select(cols, target)
        self.model_ = self._regress(cols, target, chosen)
        return self

    def _fit_binning(
        self, name: str, values: Any, y: FloatArray, min_size: float
    ) -> NumericBinning | CategoricalBinning:
        specials = list(self.special_codes or [])
        if not (isinstance(values, np.ndarray) and values.dtype.kind == "f"):
            return fit_categorical(name, values, y, special_codes=[str(s) for s in specials], min_size=min_size)
        trend = self.monotonic_trend
        if isinstance(trend, dict):
            trend = trend.get(name, "auto")
        numeric_specials = [float(s) for s in specials if isinstance(s, int | float) and not isinstance(s, bool)]
        return fit_numeric(name, values, y, special_codes=numeric_specials, max_n_prebins=self.max_n_prebins,
                           min_size=min_size, trend=trend)

    def _woe_matrix(self, cols: Mapping[str, Any], names: Sequence[str], dtype: Any = np.float64) -> Any:
        n = len(next(iter(cols.values())))
        W = np.empty((n, len(names)), dtype=dtype)
        for j, name in enumerate(names):
            b = self.binnings_[name]
            W[:, j] = np.asarray(b.woe)[b.bin_index(cols[name])]
        return W

    def _select(self, cols: Mapping[str, Any], y: FloatArray) -> list[str]:
        names = iv_filter(self.iv_, min_iv=self.min_iv, max_iv=self.max_iv)
        if not names:
            return []
        W = self._woe_matrix(cols, names, np.float32)  # selection only ranks: float32 halves memory and time
        varying = [j for j in range(W.shape[1]) if W[:, j].min() < W[:, j].max()]
        if len(varying) < len(names):  # a constant WoE (every row in one bin) says nothing and breaks the fit
            W, names = W[:, varying], [names[j] for j in varying]
            if not names:
                return []
        kept = correlation_filter(W, names, max_corr=self.max_corr)
        kept = vif_filter(W, kept, max_vif=self.max_vif)
        if self.selection == "stepwise":
            kept = forward_stepwise(W, y, kept, max_features=self.max_features, alpha=self.alpha)
        elif self.selection == "l1":
            kept = l1_select(W, y, kept, max_features=self.max_features)
        else:
            kept = kept[: self.max_features]
        return [names[j] for j in kept]

    def _regress(self, cols: Mapping[str, Any], y: FloatArray, names: list[str]) -> ScorecardModel:
        scale = PointsScale(pdo=self.pdo, base_score=self.base_score, base_odds=self.base_odds,
                            min_score=self.min_score, max_score=self.max_score)
        names = list(names)
        while True:
            if names:  # the optimum of LogisticRegression(C=C), by Newton (selection.fit_logit)
                W = self._woe_matrix(cols, names)
                beta = fit_logit(np.column_stack([np.ones(W.shape[0]), W]), y, l2=1.0 / self.C)
                coef, intercept = beta[1:], float(beta[0])
            else:
                coef, intercept = np.zeros(0), float(np.log((y.sum() + 0.5) / (y.size - y.sum() + 0.5)))
            wrong = [i for i, c in enumerate(coef) if c <= 0]
            if not wrong:
                break
            names.pop(wrong[-1])  # a non-positive WoE coefficient means collinearity: drop the weakest
        dims = self.dimensions or {}
        codes = self.reason_codes or {}
        weights = self.weights or {}
        variables = [ScoredVariable(binning=self.binnings_[name], coef=float(c) * weights.get(name, 1.0),
                                    points=scale.bin_points(float(c) * weights.get(name, 1.0),
                                                            self.binnings_[name].woe),
                                    dimension=dims.get(name, OTHER), reason_code=codes.get(name, f"R{i + 1:02d}"),
                                    weight=float(weights.get(name, 1.0)))
                     for i, (name, c) in enumerate(zip(names, coef, strict=True))]
        return ScorecardModel(variables=variables, intercept=intercept, base_points=scale.base_points(intercept),
                              scale=scale, n_reasons=self.n_reasons)

    # --- predict -----------------------------------------------------------------------------------------
    def _bins(self, X: Any) -> npt.NDArray[np.int64]:
        check_is_fitted(self, "model_")
        return self.model_.bin_indices(X, n_features_in=self.n_features_in_)

    def predict_proba(self, X: Any) -> FloatArray:
        """Columns P(classes_[0]) and P(classes_[1]) = P(bad)."""
        bins = self._bins(X)
        p = self.model_.probability(bins)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X: Any) -> FloatArray:
        """Log-odds of bad."""
        p = self.predict_proba(X)[:, 1]
        out: FloatArray = np.log(p / (1.0 - p))
        return out

    def predict(self, X: Any) -> npt.NDArray[Any]:
        bad = self.predict_proba(X)[:, 1] > 0.5
        out: npt.NDArray[Any] = self.classes_[bad.astype(int)]
        return out

    def transform(self, X: Any) -> FloatArray:
        """WoE of every selected variable (rows x selected variables)."""
        bins = self._bins(X)
        return self.model_.woe(bins)

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[Any]:
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.feature_names, dtype=object)

    def predict_score(self, X: Any) -> npt.NDArray[np.int64]:
        """Integer score, clipped to ``[min_score, max_score]``; higher means lower risk."""
        bins = self._bins(X)
        return self.model_.score(bins)

    def predict_subscores(self, X: Any) -> pd.DataFrame:
        """Sub-score (0-100) of each dimension, one column per dimension."""
        bins = self._bins(X)
        return pd.DataFrame(self.model_.subscores(bins))

    def predict_reasons(self, X: Any) -> list[list[str]]:
        """Up to ``n_reasons`` reason codes per row, most points lost first."""
        bins = self._bins(X)
        return self.model_.reasons(bins)

    def predict_one(self, record: Mapping[str, Any]) -> ScoreResult:
        """Score one record (mapping of column name to value) exactly as the batch methods would."""
        model: ScorecardModel | None = getattr(self, "model_", None)
        if model is None:  # check_is_fitted's contract without its introspection (a tenth of the time budget)
            raise NotFittedError("This Scorecard instance is not fitted yet. Call 'fit' first.")
        return model.predict_one(record)
