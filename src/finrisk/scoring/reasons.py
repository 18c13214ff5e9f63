"""Reason codes: why a score is low, as the variables that lost the most points against their best bin.

For each variable the shortfall is ``best bin's points - this record's points`` (0 when the record is in
the best bin). The reasons are the variables with a positive shortfall, largest first; equal shortfalls
keep the scorecard's variable order, so the same record always gets the same codes in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["top_reasons"]


def top_reasons(
    points: npt.NDArray[np.int64], best: Sequence[int], codes: Sequence[str], *, k: int
) -> list[list[str]]:
    """The codes of the ``k`` largest positive shortfalls of every row (``points``: rows x variables)."""
    shortfall = np.asarray(best, dtype=np.int64)[None, :] - points
    order = np.argsort(-shortfall, axis=1, kind="stable")[:, :k]
    ranked = np.take_along_axis(shortfall, order, axis=1)
    code_arr = np.asarray(codes, dtype=object)
    return [list(code_arr[o[r > 0]]) for o, r in zip(order, ranked, strict=True)]
