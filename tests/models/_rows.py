"""Synthetic model inputs shared by the serving and blend tests: six columns with nulls and zeros."""

from __future__ import annotations

from typing import Any

import numpy as np

NAMES = ["a", "b", "c", "d", "e", "event.amount"]


def scoring_rows(n: int, seed: int = 3) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``n`` rows over :data:`NAMES` (10% null, 10% zero) and a label driven by the first two columns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[rng.random((n, 6)) < 0.1] = np.nan
    x[rng.random((n, 6)) < 0.1] = 0.0
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * 2 + rng.normal(size=n) > 1.5).astype(int)
    return x, y
