"""Discrimination and stability measures of a score: AUC, KS, Gini, PSI and CSI.

PSI compares how two samples spread over the same bins: ``sum((a - e) * ln(a / e))`` over bins, with
``e`` the expected (development) shares and ``a`` the actual (e.g. this month's); a share of 0 is
replaced by 0.0001 so an emptied bin counts heavily but finitely. Usual reading: below 0.1 stable,
0.1-0.25 worth a look, above 0.25 shifted. CSI is the same formula over one variable's bins.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

__all__ = ["auc", "gini", "ks", "psi", "score_bands"]

_FLOOR = 1e-4


def auc(y: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Area under the ROC curve of ``risk`` (higher = riskier) for ``y`` (1 = bad)."""
    return float(roc_auc_score(np.asarray(y), np.asarray(risk, dtype=np.float64)))


def gini(y: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """``2 * AUC - 1``."""
    return 2.0 * auc(y, risk) - 1.0


def ks(y: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Largest gap between the cumulative shares of bads and goods when sorted by ``risk``.

    >>> ks([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    1.0
    """
    t = np.asarray(y, dtype=np.float64)
    r = np.asarray(risk, dtype=np.float64)
    order = np.argsort(-r, kind="stable")
    t, r = t[order], r[order]
    last = np.r_[np.flatnonzero(np.diff(r) != 0), r.size - 1]  # evaluate only between distinct values
    bads = np.cumsum(t)[last] / max(t.sum(), 1.0)
    goods = np.cumsum(1.0 - t)[last] / max((1.0 - t).sum(), 1.0)
    return float(np.max(np.abs(bads - goods))) if r.size else 0.0


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Population stability index between two vectors of bin counts (same bins, same order).

    >>> psi([50, 50], [50, 50])
    0.0
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / max(e.sum(), 1.0), _FLOOR)
    a = np.maximum(a / max(a.sum(), 1.0), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def score_bands(lo: int, hi: int, width: int = 50) -> npt.NDArray[np.int64]:
    """Lower edges of the score bands used by reports and PSI: ``lo, lo + width, ...`` below ``hi``."""
    out: npt.NDArray[np.int64] = np.arange(lo, hi, width, dtype=np.int64)
    return out
