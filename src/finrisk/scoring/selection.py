"""Variable selection on WoE columns: IV range, correlation, VIF, then forward stepwise or L1.

Why a score test for stepwise: trying every candidate by refitting a regression costs one fit per
candidate per step (600 fits for 60 variables and 10 steps); Rao's score statistic ranks every candidate
from the current fit alone, with a few matrix products, so a step costs one fit. A candidate enters only
when its score test is significant (``alpha``) and the refitted model keeps every coefficient positive
(with WoE = ln(bad share / good share) a positive coefficient is the only sensible sign; a negative one
means collinearity).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["correlation_filter", "fit_logit", "forward_stepwise", "iv_filter", "l1_select", "vif_filter"]

FloatArray = npt.NDArray[np.float64]


def iv_filter(ivs: dict[str, float], *, min_iv: float, max_iv: float | None) -> list[str]:
    """Names whose IV lies in ``[min_iv, max_iv]``, highest IV first (ties by name)."""
    kept = [n for n, v in ivs.items() if v >= min_iv and (max_iv is None or v <= max_iv)]
    return sorted(kept, key=lambda n: (-ivs[n], n))


def correlation_filter(W: FloatArray, names: Sequence[str], *, max_corr: float) -> list[int]:
    """Columns kept when walking ``names`` in order and dropping any too correlated with one already kept."""
    if W.shape[1] == 0:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(W, rowvar=False).reshape(W.shape[1], W.shape[1]))
    kept: list[int] = []
    for j in range(len(names)):
        if all(abs(corr[j, k]) <= max_corr for k in kept):
            kept.append(j)
    return kept


def vif_filter(W: FloatArray, columns: list[int], *, max_vif: float) -> list[int]:
    """Drop the column with the largest variance inflation factor until all are at most ``max_vif``."""
    cols = list(columns)
    while len(cols) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.nan_to_num(np.corrcoef(W[:, cols], rowvar=False))
        vif = np.diag(np.linalg.pinv(corr))
        worst = int(np.argmax(vif))
        if vif[worst] <= max_vif:
            break
        cols.pop(worst)
    return cols


def fit_logit(Z: FloatArray, y: FloatArray, *, l2: float = 1e-6, max_iter: int = 50) -> FloatArray:
    """Newton-Raphson logistic regression (``Z`` includes the intercept column); tiny ridge for stability."""
    beta = np.zeros(Z.shape[1])
    penalty = l2 * np.eye(Z.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(Z @ beta)))
        w = p * (1.0 - p)
        hess = (Z * w[:, None]).T @ Z + penalty
        grad = Z.T @ (y - p) - penalty @ beta
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return beta


def forward_stepwise(
    W: FloatArray, y: FloatArray, candidates: list[int], *, max_features: int, alpha: float
) -> list[int]:
    """Forward selection by Rao's score test; entering columns must keep all coefficients positive."""
    n = W.shape[0]
    selected: list[int] = []
    rejected: set[int] = set()
    beta = fit_logit(np.ones((n, 1)), y)
    while len(selected) < max_features:
        Z = np.column_stack([np.ones(n), W[:, selected]]) if selected else np.ones((n, 1))
        p = 1.0 / (1.0 + np.exp(-(Z @ beta)))
        w = p * (1.0 - p)
        pool = [c for c in candidates if c not in selected and c not in rejected]
        if not pool:
            break
        C = W[:, pool]
        U = C.T @ (y - p)
        WC = C * w[:, None]
        A = Z.T @ WC
        H = (Z * w[:, None]).T @ Z
        V = np.einsum("ij,ij->j", C, WC) - np.einsum("ij,ij->j", A, np.linalg.solve(H, A))
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 = np.where(V > 1e-12, U * U / V, 0.0)
        entered = False
        for pos in np.argsort(-chi2, kind="stable"):
            if math.erfc(math.sqrt(max(float(chi2[pos]), 0.0) / 2.0)) > alpha:
                break
            trial = [*selected, pool[int(pos)]]
            trial_beta = fit_logit(np.column_stack([np.ones(n), W[:, trial]]), y)
            if np.all(trial_beta[1:] > 0):
                selected, beta, entered = trial, trial_beta, True
                break
            rejected.add(pool[int(pos)])
        if not entered:
            break
    return selected


def l1_select(W: FloatArray, y: FloatArray, candidates: list[int], *, max_features: int) -> list[int]:
    """The strongest L1 penalty path point with at most ``max_features`` non-zero, positive coefficients."""
    from sklearn.linear_model import LogisticRegression

    best: list[int] = []
    for C in np.logspace(-3, 1, 15):
        model = LogisticRegression(C=float(C), l1_ratio=1.0, solver="liblinear", max_iter=1000)
        model.fit(W[:, candidates], y)
        chosen = [candidates[i] for i, b in enumerate(model.coef_[0]) if b > 1e-8]
        if len(chosen) > max_features:
            break
        best = chosen
    return best
