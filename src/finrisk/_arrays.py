"""Array helpers shared by the numeric code (graph detectors, offline features)."""

from __future__ import annotations

import numpy as np


def distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values, as ``np.unique(keys)`` returns them.

    Why not ``np.unique``: numpy 2.4 takes a hash-table path for it that is far slower than a sort on wide-valued
    integer keys (edge keys ``src * n + dst``): 7.0 s against 0.3 s for 5 million int64 values here, 0.81 s
    against 0.1 s for the million edge keys of group expansion. ``return_inverse``/``return_counts`` still sort.
    """
    keys = np.sort(keys, axis=None)
    if len(keys) < 2:
        return keys
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
