"""Dimension sub-scores: each dimension's points rescaled to 0-100.

A variable is tagged with one dimension (by default the five of a personal credit score: identity,
credit history, capacity to pay, social connections, behaviour; untagged variables fall in ``other``).
A dimension's sub-score is ``rint(100 * (points - worst) / (best - worst))`` where ``points`` is the
sum of the record's points on the dimension's variables and ``worst``/``best`` the least and most
points those variables can give; 0 is the worst possible profile on that dimension, 100 the best. A
dimension whose variables all give constant points scores 100.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_DIMENSIONS", "OTHER", "subscore_bounds", "subscores"]

#: The five dimensions of the personal score (PRODUCT.md section C); any other name may be used too.
DEFAULT_DIMENSIONS = ("identity", "credit_history", "capacity", "social", "behaviour")
#: Dimension of a variable nobody tagged.
OTHER = "other"


def subscore_bounds(dimension_of: Sequence[str], points: Sequence[Sequence[int]]) -> dict[str, tuple[int, int]]:
    """Least and most points per dimension, from each variable's bin points."""
    bounds: dict[str, tuple[int, int]] = {}
    for dim, pts in zip(dimension_of, points, strict=True):
        lo, hi = bounds.get(dim, (0, 0))
        bounds[dim] = (lo + min(pts), hi + max(pts))
    return bounds


def subscores(
    points: npt.NDArray[np.int64], dimension_of: Sequence[str], bounds: dict[str, tuple[int, int]]
) -> dict[str, npt.NDArray[np.int64]]:
    """Sub-score of every row (``points``: rows x variables) on each dimension, in first-seen order."""
    out: dict[str, npt.NDArray[np.int64]] = {}
    dims = np.asarray(dimension_of, dtype=object)
    for dim, (lo, hi) in bounds.items():
        total = points[:, dims == dim].sum(axis=1)
        if hi == lo:
            out[dim] = np.full(points.shape[0], 100, dtype=np.int64)
        else:
            out[dim] = np.rint(100.0 * (total - lo) / (hi - lo)).astype(np.int64)
    return out
