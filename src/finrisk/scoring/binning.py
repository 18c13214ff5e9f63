"""Optimal monotone binning of one numeric or categorical variable, with Missing and Special bins.

Numeric: pre-bins at up to ``max_n_prebins`` quantiles of the regular values (cut points are data
values; a bin is ``[lower, upper)``), then the IV-maximising monotone merge of
:mod:`finrisk.scoring._monotone` under a minimum bin size. Categorical: categories ordered by their
smoothed bad rate, then the same merge (ascending by construction), so a bin is a group of categories.

Every binning has the same bin layout, which the scorecard, its JSON and its SQL all share:
``regular bins..., Special, Missing`` and, for categorical variables, a last ``Unseen`` bin for
categories never met in training. Missing is NaN/None/NA; Special is a value listed in
``special_codes`` (e.g. -999 meaning "no bureau file"). A Missing, Special or Unseen bin with no
training rows has WoE 0 (the average risk); with rows it has its own smoothed WoE
(:mod:`finrisk.scoring.woe`), never merged with a regular bin.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from finrisk.scoring._monotone import best_partition
from finrisk.scoring.woe import information_value, woe

__all__ = ["CategoricalBinning", "NumericBinning", "fit_categorical", "fit_numeric"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MAX_CATEGORY_PREBINS = 200


@dataclass(eq=False)
class NumericBinning:
    """Bins of one numeric variable: ``splits`` cut the regular values into ``[s[i-1], s[i])`` bins."""

    name: str
    splits: list[float]
    special_codes: list[float]
    event: list[float]  # bad count per bin, layout regular..., Special, Missing
    total: list[float]
    trend: str
    woe: list[float] = field(default_factory=list)
    iv: float = 0.0
    kind: str = "numeric"

    def __post_init__(self) -> None:
        if not self.woe:
            self.woe = woe(self.event, self.total).tolist()
            self.iv = information_value(self.event, self.total)
        self._special = set(self.special_codes)

    @property
    def n_regular(self) -> int:
        return len(self.splits) + 1

    @property
    def special_index(self) -> int:
        return self.n_regular

    @property
    def missing_index(self) -> int:
        return self.n_regular + 1

    def labels(self) -> list[str]:
        """Readable label of every bin, in layout order."""
        edges = ["-inf", *(f"{s:g}" for s in self.splits), "inf"]
        regular = [f"[{edges[i]}, {edges[i + 1]})" for i in range(self.n_regular)]
        return [*regular, "Special", "Missing"]

    def bin_index(self, values: Any) -> IntArray:
        """Bin of every value (vectorised)."""
        x = _as_float(values)
        if len(self.splits) <= 32:  # a pass per cut point beats a binary search per row for few cuts
            idx: IntArray = np.zeros(x.shape, dtype=np.int64)
            for cut in self.splits:
                idx += x >= cut
        else:
            idx = np.searchsorted(np.asarray(self.splits, dtype=np.float64), x, side="right").astype(np.int64)
        if self.special_codes:
            idx[np.isin(x, self.special_codes)] = self.special_index
        idx[np.isnan(x)] = self.missing_index
        return idx

    def bin_of(self, value: Any) -> int:
        """Bin of one value, for single-record scoring (same rules as :meth:`bin_index`)."""
        if value is None:
            return self.missing_index
        try:
            x = float(value)
        except (TypeError, ValueError):
            return self.missing_index
        if x != x:  # NaN
            return self.missing_index
        if x in self._special:
            return self.special_index
        return bisect.bisect_right(self.splits, x)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "splits": self.splits, "special_codes": self.special_codes,
            "event": self.event, "total": self.total, "trend": self.trend, "woe": self.woe, "iv": self.iv,
        }


@dataclass(eq=False)
class CategoricalBinning:
    """Bins of one categorical variable: ``groups[i]`` lists the categories of regular bin ``i``."""

    name: str
    groups: list[list[str]]
    special_codes: list[str]
    event: list[float]  # layout regular..., Special, Missing, Unseen
    total: list[float]
    trend: str = "ascending"
    woe: list[float] = field(default_factory=list)
    iv: float = 0.0
    kind: str = "categorical"

    def __post_init__(self) -> None:
        if not self.woe:
            self.woe = woe(self.event, self.total).tolist()
            self.iv = information_value(self.event, self.total)
        self._lookup = {c: i for i, group in enumerate(self.groups) for c in group}
        for c in self.special_codes:
            self._lookup[c] = self.special_index

    @property
    def n_regular(self) -> int:
        return len(self.groups)

    @property
    def special_index(self) -> int:
        return self.n_regular

    @property
    def missing_index(self) -> int:
        return self.n_regular + 1

    @property
    def unseen_index(self) -> int:
        return self.n_regular + 2

    def labels(self) -> list[str]:
        regular = [", ".join(g) if len(g) <= 4 else ", ".join(g[:4]) + f", ... ({len(g)})" for g in self.groups]
        return [*regular, "Special", "Missing", "Unseen"]

    def bin_index(self, values: Any) -> IntArray:
        codes, uniques = _factorize(values)
        table = np.array([self._lookup.get(str(u), self.unseen_index) for u in uniques] + [self.missing_index],
                         dtype=np.int64)
        out: IntArray = table[codes]  # code -1 (missing) picks the last entry
        return out

    def bin_of(self, value: Any) -> int:
        found = self._lookup.get(value) if isinstance(value, str) else None
        if found is not None:
            return found
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return self.missing_index
        return self._lookup.get(str(value), self.unseen_index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "groups": self.groups, "special_codes": self.special_codes,
            "event": self.event, "total": self.total, "trend": self.trend, "woe": self.woe, "iv": self.iv,
        }


def _factorize(values: Any) -> tuple[IntArray, Any]:
    """Codes (-1 for missing) and distinct values; pandas arrays are factorised as they are."""
    if not isinstance(values, pd.api.extensions.ExtensionArray):
        values = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), uniques


def _as_float(values: Any) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(np.float64)


def _prebin_counts(
    x: FloatArray, bad: npt.NDArray[np.bool_], max_n_prebins: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Quantile cut points (data values) of ``x`` and the row and bad counts of each pre-bin ``[e[i-1], e[i])``.

    Why sorting: numpy's vectorised sort of 200,000 doubles takes about 2 ms, ten times less than
    ``np.quantile`` or ``np.searchsorted`` of every row, and counting the rows and bads below each
    cut point is then a binary search of the cut points in the sorted values (all rows, bad rows).
    """
    if x.size == 0:
        return np.empty(0), np.zeros(1), np.zeros(1)
    xs = np.sort(x)
    positions = (np.arange(1, max_n_prebins) * x.size) // max_n_prebins
    edges = np.unique(xs[positions])
    edges = edges[(edges > xs[0]) & np.isfinite(edges)]
    bads_sorted = np.sort(x[bad])
    n_below = np.concatenate(([0], np.searchsorted(xs, edges, side="left"), [x.size])).astype(np.float64)
    bad_below = np.concatenate(([0], np.searchsorted(bads_sorted, edges, side="left"), [bads_sorted.size]))
    return edges, np.diff(n_below), np.diff(bad_below).astype(np.float64)


def fit_numeric(
    name: str, values: Any, y: npt.NDArray[np.float64], *, special_codes: list[float], max_n_prebins: int,
    min_size: float, trend: str,
) -> NumericBinning:
    """Fit the bins of one numeric variable (``y``: 1.0 = bad, 0.0 = good)."""
    x = _as_float(values)
    missing = np.isnan(x)
    special = np.isin(x, special_codes) if special_codes else np.zeros(x.size, dtype=bool)
    irregular = missing | special
    any_irregular = bool(irregular.any())
    xr = x[~irregular] if any_irregular else x
    bad = (y[~irregular] if any_irregular else y) > 0.5
    edges, pre_total, pre_event = _prebin_counts(xr, bad, max_n_prebins)
    bads = float(y.sum())
    chosen, _, ends = best_partition(pre_event, pre_total, trend=trend, min_size=min_size, bads=bads,
                                     goods=y.size - bads)
    splits = [float(edges[i]) for i in ends[:-1]] if xr.size else []
    event, total = _grouped(pre_event, pre_total, ends)
    extra_event = [float(y[special].sum()), float(y[missing].sum())]
    extra_total = [float(special.sum()), float(missing.sum())]
    return NumericBinning(name=name, splits=splits, special_codes=[float(c) for c in special_codes],
                          event=event + extra_event, total=total + extra_total, trend=chosen)


def fit_categorical(
    name: str, values: Any, y: npt.NDArray[np.float64], *, special_codes: list[str], min_size: float,
) -> CategoricalBinning:
    """Fit the bins of one categorical variable: categories ordered by bad rate, then merged."""
    codes, uniques = _factorize(values)
    names = [str(u) for u in uniques]
    k = len(names)
    cat_total = np.bincount(codes[codes >= 0], minlength=k).astype(np.float64)
    cat_event = np.bincount(codes[codes >= 0], weights=y[codes >= 0], minlength=k)
    specials = set(special_codes)
    is_special = np.array([n in specials for n in names], dtype=bool)
    regular = np.flatnonzero(~is_special)
    rate = (cat_event[regular] + 0.5) / (cat_total[regular] + 1.0)
    order = regular[np.lexsort((np.array(names, dtype=object)[regular], rate))] if regular.size else regular
    groups = [[names[i]] for i in order]
    pre_event, pre_total = cat_event[order], cat_total[order]
    if len(groups) > _MAX_CATEGORY_PREBINS:  # pool neighbours in rate order into equal-frequency chunks
        cuts = np.searchsorted(np.cumsum(pre_total), np.linspace(0, pre_total.sum(), _MAX_CATEGORY_PREBINS + 1)[1:-1])
        ends_pool = sorted(set(int(c) for c in cuts if c < len(groups) - 1)) + [len(groups) - 1]
        groups = _merge_groups(groups, ends_pool)
        pre_event_list, pre_total_list = _grouped(pre_event, pre_total, ends_pool)
        pre_event, pre_total = np.asarray(pre_event_list), np.asarray(pre_total_list)
    bads = float(y.sum())
    _, _, ends = best_partition(pre_event, pre_total, trend="ascending", min_size=min_size, bads=bads,
                                goods=y.size - bads)
    event, total = _grouped(pre_event, pre_total, ends) if groups else ([], [])
    groups = _merge_groups(groups, ends) if groups else []
    missing = codes < 0
    special_rows = np.zeros(y.size, dtype=bool)
    if is_special.any():
        special_rows = np.isin(codes, np.flatnonzero(is_special))
    extra_event = [float(y[special_rows].sum()), float(y[missing].sum()), 0.0]
    extra_total = [float(special_rows.sum()), float(missing.sum()), 0.0]
    return CategoricalBinning(name=name, groups=groups, special_codes=list(special_codes),
                              event=event + extra_event, total=total + extra_total)


def _grouped(event: npt.NDArray[Any], total: npt.NDArray[Any], ends: list[int]) -> tuple[list[float], list[float]]:
    starts = [0] + [e + 1 for e in ends[:-1]]
    return ([float(event[s : e + 1].sum()) for s, e in zip(starts, ends, strict=True)],
            [float(total[s : e + 1].sum()) for s, e in zip(starts, ends, strict=True)])


def _merge_groups(groups: list[list[str]], ends: list[int]) -> list[list[str]]:
    starts = [0] + [e + 1 for e in ends[:-1]]
    return [[c for g in groups[s : e + 1] for c in g] for s, e in zip(starts, ends, strict=True)]
