"""Named columns out of a pandas or Polars frame, a numpy array or a list of records.

Why not ``sklearn.utils.validation.validate_data``: it turns a mixed frame into one object array,
which costs a copy of every column and loses which columns are text; a scorecard bins each column on
its own, so it only needs each column as a numpy array (float for numbers, object for text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_array

from finrisk.errors import ScorecardInputError

__all__ = ["Columns", "read_columns", "select_columns"]

Columns = dict[str, Any]  # numpy float64 (numbers), numpy object or a pandas array (text)


def _is_polars(X: Any) -> bool:
    return type(X).__module__.startswith("polars")


def _column(values: Any, *, categorical: bool) -> np.ndarray[Any, Any]:
    if categorical:
        return np.asarray(values, dtype=object)
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O":  # numbers with None, or text
        numeric = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(np.float64)
        present = pd.notna(arr)
        if np.array_equal(np.isnan(numeric), ~present):
            return numeric
    return np.asarray(values, dtype=object)


def read_columns(X: Any, *, categorical: Sequence[str] = ()) -> tuple[Columns, bool]:
    """Every column of ``X`` by name, and whether the names came from the input (a frame) or were made up."""
    forced = set(categorical)
    if (isinstance(X, pd.DataFrame) or _is_polars(X)) and (X.shape[1] == 0 or X.shape[0] == 0):
        raise ScorecardInputError(f"Found array with {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
                                  f"(shape={X.shape}) while a minimum of 1 is required.")
    if isinstance(X, pd.DataFrame):
        out: Columns = {}
        for name in X.columns:
            col = X[name]
            text = str(name) in forced or not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))
            if text:  # kept as pandas' own array: factorising it is several times faster than an object copy
                out[str(name)] = col.array
            elif col.dtype == np.float64:
                out[str(name)] = col.to_numpy(copy=False)
            else:
                out[str(name)] = col.to_numpy(np.float64, na_value=np.nan)
        return out, True
    if _is_polars(X):
        out = {}
        for name in X.columns:
            series = X.get_column(name)
            text = name in forced or not series.dtype.is_numeric()
            out[name] = _column(series.to_numpy(), categorical=text)
        return out, True
    try:  # scikit-learn's own checks and messages for arrays: 2-D, not sparse, not complex, not empty
        arr = check_array(X, dtype=None, ensure_all_finite=False, accept_sparse=False)
    except (TypeError, ValueError) as exc:
        raise ScorecardInputError(str(exc)) from None
    names = [f"x{i}" for i in range(arr.shape[1])]
    return {n: _column(arr[:, i], categorical=n in forced) for i, n in enumerate(names)}, False


def select_columns(X: Any, names: Sequence[str], *, n_features_in: int, categorical: Sequence[str] = ()) -> Columns:
    """The named columns of ``X`` for scoring; numpy input must have the width seen in fit."""
    if isinstance(X, pd.DataFrame) or _is_polars(X):
        have = {str(c): c for c in X.columns}
        missing = [n for n in names if n not in have]
        if missing:
            raise ScorecardInputError(f"X lacks column(s) the scorecard uses: {', '.join(missing)}")
        if not names:
            return {}
        sub = X[[have[n] for n in names]] if isinstance(X, pd.DataFrame) else X.select(list(names))
        cols, _ = read_columns(sub, categorical=categorical)
        return cols
    cols, _ = read_columns(X, categorical=categorical)
    if len(cols) != n_features_in:
        raise ScorecardInputError(f"X has {len(cols)} features, but Scorecard is expecting {n_features_in} features "
                                  "as input.")
    return {n: cols[n] for n in names}
