"""A LightGBM model flattened into arrays and walked by one compiled kernel, for single-row scoring.

Why this design (measured in ``benchmarks/model_serving.py``, 300 trees of 31 leaves, 2 shared cores):

- ``Booster.predict`` on one numpy row costs 28-80 us at the median and has a long tail (its C API
  call sets up threads and parses parameters each time).
- ``lleaves`` (LLVM-compiled trees) scores one row in about the same time as this kernel, but its
  release needs ``llvmlite < 0.45`` (it calls the removed ``PassManagerBuilder``) and compiled a
  300-tree model in ~60 s; a deploy should take a second.
- Walking all trees in lock-step lanes (branch-free selects, 4 or 8 trees at once) was 1.7x slower
  than a plain branchy walk: LightGBM's leaf-wise trees are unbalanced (mean depth 11, max 17), so
  lanes wait for the deepest tree.
- The plain walk over a pre-order layout (left child = next node, so one index is stored per node)
  compiled once by numba is what remains: ~15-20 us for 300 trees and a fixed ~1.5 us call cost.
  Packing each node into one 16-byte record (threshold, feature + flags, right child) instead of
  five parallel arrays took another 10-15% off the median.
- Scoring now goes through :mod:`finrisk.models._bitvector` (QuickScorer: per feature, one sorted
  scan that clears leaf bitmasks), ~2x faster per row than this walk in the same run (batch: ~6 us
  against ~12 us). The walk stays for trees of more than 64 leaves, and its per-node arrays serve
  the path attributions (reasons); a test checks both give the same bits.

Exactness: the same decisions as LightGBM's ``NumericalDecision``: a missing value goes the node's
default way when its missing type is NaN (or Zero, for zeros and NaN alike), and is read as 0.0
otherwise; tree outputs are summed in tree order in double precision, then the objective's sigmoid.
Categorical splits and linear trees are refused with a clear error rather than scored wrongly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from finrisk.errors import ModelError
from finrisk.models._bitvector import BitvectorForest, build_bitvector_forest

__all__ = ["Forest", "flatten_booster"]

_ZERO = 1e-35  # LightGBM's kZeroThreshold: |x| <= this counts as zero


#: One node in 16 bytes (one load per visited node): ``code`` is the feature index with the
#: flags below (negative: a leaf whose value is ``thr``); ``right`` the right child's index.
NODE = np.dtype([("thr", "f8"), ("code", "i4"), ("right", "i4")])
_NAN_LEFT = 1 << 30
_ZERO_MISSING = 1 << 29
_FEATURE = (1 << 29) - 1


@numba.njit(nogil=True, cache=False)
def _raw_one(x: Any, roots: Any, nodes: Any) -> float:
    """Sum of the trees' leaf values for one row (pre-order layout: the left child is the next node)."""
    s = 0.0
    for t in range(roots.shape[0]):
        n = roots[t]
        while True:
            node = nodes[n]
            c = node.code
            if c < 0:
                s += node.thr
                break
            v = x[c & _FEATURE]
            if c & _ZERO_MISSING and -_ZERO <= v <= _ZERO:
                v = math.nan
            if v <= node.thr:
                n += 1
            elif v > node.thr:
                n = node.right
            elif c & _NAN_LEFT:
                n += 1
            else:
                n = node.right
    return s


@numba.njit(nogil=True, cache=False)
def _raw_many(x: Any, roots: Any, nodes: Any) -> Any:
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = _raw_one(x[i], roots, nodes)
    return out


@dataclass(frozen=True)
class Forest:
    """The flattened trees. ``feat[n] < 0`` marks a leaf whose value is ``thr[n]``."""

    roots: npt.NDArray[np.int32]
    feat: npt.NDArray[np.int32]
    thr: npt.NDArray[np.float64]
    right: npt.NDArray[np.int32]
    nan_left: npt.NDArray[np.bool_]
    zero_missing: npt.NDArray[np.bool_]
    value: npt.NDArray[np.float64]  # expected output of each node (leaf value at leaves)
    n_features: int
    sigmoid: float | None  # None: the raw sum is the score (regression objectives)
    nodes: npt.NDArray[np.void]  # the same tree packed as NODE records, for the walk
    bitvector: BitvectorForest | None = None  # the scorer when every tree has <= 64 leaves

    @property
    def trees(self) -> int:
        return int(self.roots.shape[0])

    def raw_one(self, x: npt.NDArray[np.float64]) -> float:
        """The raw score (sum of leaf values) of one float64 row."""
        if self.bitvector is not None:
            return self.bitvector.raw_one(x)
        return float(_raw_one(x, self.roots, self.nodes))

    def walk_raw_one(self, x: npt.NDArray[np.float64]) -> float:
        """The raw score by walking each tree (the fallback for trees of more than 64 leaves)."""
        return float(_raw_one(x, self.roots, self.nodes))

    def predict_one(self, x: npt.NDArray[np.float64]) -> float:
        raw = self.raw_one(x)
        return raw if self.sigmoid is None else 1.0 / (1.0 + math.exp(-self.sigmoid * raw))

    def path_contributions(self, x: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        """``(bias, per-feature contributions)`` of one row's raw score along its decision paths."""
        out = np.zeros(self.n_features)
        bias = float(_path_contrib(x, self.roots, self.nodes, self.value, out))
        return bias, out

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Scores of many rows (a 2-D float64 array)."""
        rows = np.ascontiguousarray(x, dtype=np.float64)
        raw: npt.NDArray[np.float64] = (_raw_many(rows, self.roots, self.nodes) if self.bitvector is None
                                        else self.bitvector.raw_many(rows))
        return raw if self.sigmoid is None else 1.0 / (1.0 + np.exp(-self.sigmoid * raw))


def _objective_sigmoid(objective: str) -> float | None:
    """LightGBM writes e.g. ``binary sigmoid:1``; regression objectives score the raw sum."""
    name, *params = objective.split()
    if name in ("binary", "cross_entropy", "xentropy"):
        for p in params:
            if p.startswith("sigmoid:"):
                return float(p.split(":", 1)[1])
        return 1.0
    if name in ("regression", "regression_l2", "l2", "huber", "fair", "quantile", "mape", "regression_l1", "l1"):
        return None
    raise ModelError(f"objective: fast serving supports binary and regression models, got {objective!r}")


def flatten_booster(dump: dict[str, Any]) -> Forest:
    """Flatten ``Booster.dump_model()`` into a :class:`Forest` (pre-order, one array per field)."""
    if dump.get("num_class", 1) != 1:
        raise ModelError(f"num_class: fast serving supports one output, got {dump.get('num_class')}")
    feat: list[int] = []
    thr: list[float] = []
    right: list[int] = []
    nan_left: list[bool] = []
    zero_missing: list[bool] = []
    value: list[float] = []
    roots: list[int] = []

    def add(node: dict[str, Any]) -> None:
        i = len(feat)
        if "split_index" not in node:
            if "leaf_coeff" in node:
                raise ModelError("linear trees (linear_tree=true) are not supported by fast serving")
            feat.append(-1)
            thr.append(float(node["leaf_value"]))
            right.append(-1)
            nan_left.append(False)
            zero_missing.append(False)
            value.append(float(node["leaf_value"]))
            return
        if node.get("decision_type", "<=") != "<=":
            raise ModelError("categorical splits are not supported by fast serving; train without "
                             f"categorical_feature (split on feature {node['split_feature']})")
        missing = node.get("missing_type", "None")
        threshold = float(node["threshold"])
        feat.append(int(node["split_feature"]))
        thr.append(threshold)
        right.append(-1)
        nan_left.append(bool(node["default_left"]) if missing in ("NaN", "Zero") else 0.0 <= threshold)
        zero_missing.append(missing == "Zero")
        value.append(float(node.get("internal_value", 0.0)))
        add(node["left_child"])
        right[i] = len(feat)
        add(node["right_child"])

    for tree in dump["tree_info"]:
        roots.append(len(feat))
        add(tree["tree_structure"])
    if not roots:
        raise ModelError("the model has no trees")
    if max(feat) >= _FEATURE:
        raise ModelError(f"features: fast serving supports up to {_FEATURE:,} inputs, got {max(feat) + 1:,}")
    return Forest(
        roots=np.asarray(roots, dtype=np.int32),
        feat=np.asarray(feat, dtype=np.int32),
        thr=np.asarray(thr, dtype=np.float64),
        right=np.asarray(right, dtype=np.int32),
        nan_left=np.asarray(nan_left, dtype=np.bool_),
        zero_missing=np.asarray(zero_missing, dtype=np.bool_),
        value=np.asarray(value, dtype=np.float64),
        n_features=int(dump["max_feature_idx"]) + 1,
        sigmoid=_objective_sigmoid(str(dump.get("objective", "binary"))),
        nodes=_pack(feat, thr, right, nan_left, zero_missing),
        bitvector=build_bitvector_forest(dump),
    )


def _pack(feat: list[int], thr: list[float], right: list[int], nan_left: list[bool],
          zero_missing: list[bool]) -> npt.NDArray[np.void]:
    nodes = np.zeros(len(feat), dtype=NODE)
    nodes["thr"] = thr
    nodes["right"] = right
    nodes["code"] = [-1 if f < 0 else f | (_NAN_LEFT if nl else 0) | (_ZERO_MISSING if zm else 0)
                     for f, nl, zm in zip(feat, nan_left, zero_missing, strict=True)]
    return nodes


@numba.njit(nogil=True, cache=False)
def _path_contrib(x: Any, roots: Any, nodes: Any, value: Any, out: Any) -> float:
    """Add to ``out[f]`` each split's change in expected tree output along the row's path (Saabas);
    returns the bias (sum of root values) so ``bias + out.sum()`` is the raw score exactly. Walks
    the packed records, as :func:`_raw_one` does (fewer arguments and loads than per-field arrays)."""
    bias = 0.0
    for t in range(roots.shape[0]):
        n = roots[t]
        bias += value[n]
        while True:
            node = nodes[n]
            c = node.code
            if c < 0:
                break
            f = c & _FEATURE
            v = x[f]
            if c & _ZERO_MISSING and -_ZERO <= v <= _ZERO:
                v = math.nan
            if v <= node.thr:
                child = n + 1
            elif v > node.thr:
                child = node.right
            elif c & _NAN_LEFT:
                child = n + 1
            else:
                child = node.right
            out[f] += value[child] - value[n]
            n = child
    return bias
