"""QuickScorer-style scoring of a LightGBM forest: one pass per feature over sorted thresholds.

Why (measured in ``benchmarks/model_serving.py``, 300 trees x 31 leaves, 30 inputs): walking a tree
costs one unpredictable branch and one dependent load per level (mean depth ~11, so ~3,300 of
each per row). Here each tree keeps a bitmask of the leaves still reachable (leaves numbered
left to right, at most 64); every split is listed under its feature, sorted by threshold, with the
mask that removes its left subtree's leaves. For a value ``v`` the splits that send ``v`` right
are exactly a prefix of that list (``threshold < v``), so the scan is a sequential read with one
well-predicted exit branch; the exit leaf of each tree is then the lowest bit still set. Batch
kernel time per row fell from ~12 us (plain walk) to ~8 us in the same run (Lucchese et al.,
"QuickScorer", SIGIR 2015).

Missing values follow LightGBM's ``NumericalDecision`` exactly, per node: a NaN goes the node's
default way (missing type NaN or Zero) or is read as 0.0 (type None); a value with
``|v| <= 1e-35`` goes the default way at Zero-type nodes. So each feature has four lists: splits
of type None/NaN (sorted, compared), splits of type Zero (sorted, compared unless ``v`` is zero),
the splits a NaN sends right, and the Zero-type splits a zero sends right. Leaf values are summed
in tree order in double precision, as LightGBM does, so scores are the same bits as the walk.

Thread safety: the kernel allocates its 300 masks per call (~0.1 us), no shared buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

__all__ = ["BitvectorForest", "MAX_LEAVES", "build_bitvector_forest"]

MAX_LEAVES = 64
_ZERO = 1e-35  # LightGBM's kZeroThreshold
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
#: One split under its feature: the threshold, the mask clearing its left subtree's leaves, its tree.
SPLIT = np.dtype([("thr", "f8"), ("mask", "u8"), ("tree", "i8")])
#: The same in 16 bytes when every tree has at most 32 leaves (LightGBM's default 31): ~5% faster
#: at the median in the interleaved benchmark (the mask widens to 64 bits with zeros above bit 31,
#: which only clears leaves that do not exist).
SPLIT32 = np.dtype([("thr", "f8"), ("mask", "u4"), ("tree", "i4")])
# de Bruijn sequence for the index of the lowest set bit of a 64-bit word
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.array([0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22,
                       45, 39, 33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
                       46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6], dtype=np.int64)
_COMPARED, _ZERO_COMPARED, _NAN_RIGHT, _ZERO_RIGHT = range(4)


@dataclass(frozen=True)
class BitvectorForest:
    """``splits[offsets[g, f]:offsets[g, f + 1]]`` is list ``g`` of feature ``f``; ``leaves[t, i]``."""

    splits: npt.NDArray[np.void]
    offsets: npt.NDArray[np.int64]  # shape (4, n_features + 1)
    leaves: npt.NDArray[np.float64]  # shape (trees, most leaves in one tree)

    def raw_one(self, x: npt.NDArray[np.float64]) -> float:
        return float(_raw_one(x, self.splits, self.offsets, self.leaves))

    def raw_many(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = _raw_many(x, self.splits, self.offsets, self.leaves)
        return out


def build_bitvector_forest(dump: dict[str, Any]) -> BitvectorForest | None:
    """Tables for :class:`BitvectorForest` from ``Booster.dump_model()``; ``None`` if a tree has more
    than 64 leaves (the caller keeps the tree walk). The caller has already refused categorical
    splits and linear trees."""
    n_features = int(dump["max_feature_idx"]) + 1
    lists: list[list[list[tuple[float, int, int]]]] = [[[] for _ in range(n_features)] for _ in range(4)]
    trees = dump["tree_info"]
    leaves = np.zeros((len(trees), MAX_LEAVES))
    most = 1
    for t, tree in enumerate(trees):
        most = max(most, _add_tree(tree["tree_structure"], t, lists, leaves[t]))
        if most > MAX_LEAVES:
            return None
    offsets = np.zeros((4, n_features + 1), dtype=np.int64)
    rows: list[tuple[float, int, int]] = []
    for g in range(4):
        for f in range(n_features):
            offsets[g, f] = len(rows)
            rows += sorted(lists[g][f])  # by threshold: a value's right-going splits are a prefix
        offsets[g, n_features] = len(rows)
    narrow = most <= 32
    splits = np.zeros(len(rows), dtype=SPLIT32 if narrow else SPLIT)
    if rows:
        splits["thr"] = [r[0] for r in rows]
        masks = np.array([r[1] for r in rows], dtype=np.uint64)
        splits["mask"] = (masks & np.uint64(0xFFFFFFFF)).astype(np.uint32) if narrow else masks
        splits["tree"] = [r[2] for r in rows]
    # only as many columns as the largest tree has leaves: half the table for 31-leaf trees, fewer
    # cache lines to bring back after the scheduler ran someone else on this core
    return BitvectorForest(splits=splits, offsets=offsets, leaves=np.ascontiguousarray(leaves[:, :most]))


def _add_tree(root: dict[str, Any], t: int, lists: list[list[list[tuple[float, int, int]]]],
              leaf_row: npt.NDArray[np.float64]) -> int:
    """Lists tree ``t``'s splits and fills its leaf values left to right; returns its leaf count."""
    count = 0

    def add(node: dict[str, Any]) -> tuple[int, int]:
        """Numbers the leaves left to right; returns the first and last leaf under ``node``."""
        nonlocal count
        if "split_index" not in node:
            if count < MAX_LEAVES:
                leaf_row[count] = float(node["leaf_value"])
            count += 1
            return count - 1, count - 1
        first, last_left = add(node["left_child"])
        _, last = add(node["right_child"])
        mask = ~(((1 << (last_left + 1)) - 1) ^ ((1 << first) - 1)) & 0xFFFFFFFFFFFFFFFF
        entry = (float(node["threshold"]), mask, t)
        feature = int(node["split_feature"])
        missing = node.get("missing_type", "None")
        default_left = bool(node["default_left"])
        if missing == "Zero":
            lists[_ZERO_COMPARED][feature].append(entry)
            if not default_left:
                lists[_ZERO_RIGHT][feature].append(entry)
            nan_left = default_left
        else:
            lists[_COMPARED][feature].append(entry)
            nan_left = default_left if missing == "NaN" else 0.0 <= entry[0]
        if not nan_left:
            lists[_NAN_RIGHT][feature].append(entry)
        return first, last

    add(root)
    return count


@numba.njit(nogil=True, cache=False)
def _clear(reach: Any, splits: Any, lo: int, hi: int) -> None:
    for k in range(lo, hi):
        s = splits[k]
        reach[s.tree] &= s.mask


@numba.njit(nogil=True, cache=False)
def _clear_below(reach: Any, splits: Any, lo: int, hi: int, v: float) -> None:
    for k in range(lo, hi):
        s = splits[k]
        if s.thr >= v:
            break
        reach[s.tree] &= s.mask


@numba.njit(nogil=True, cache=False)
def _raw_one(x: Any, splits: Any, offsets: Any, leaves: Any) -> float:
    reach = np.full(leaves.shape[0], _ALL)
    for f in range(offsets.shape[1] - 1):
        v = x[f]
        if v != v:
            _clear(reach, splits, offsets[_NAN_RIGHT, f], offsets[_NAN_RIGHT, f + 1])
            continue
        _clear_below(reach, splits, offsets[_COMPARED, f], offsets[_COMPARED, f + 1], v)
        if -_ZERO <= v <= _ZERO:
            _clear(reach, splits, offsets[_ZERO_RIGHT, f], offsets[_ZERO_RIGHT, f + 1])
        else:
            _clear_below(reach, splits, offsets[_ZERO_COMPARED, f], offsets[_ZERO_COMPARED, f + 1], v)
    s = 0.0
    for t in range(leaves.shape[0]):
        m = reach[t]
        lowest = m & (~m + np.uint64(1))
        s += leaves[t, _BIT_INDEX[(lowest * _DEBRUIJN) >> np.uint64(58)]]
    return s


@numba.njit(nogil=True, cache=False)
def _raw_many(x: Any, splits: Any, offsets: Any, leaves: Any) -> Any:
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = _raw_one(x[i], splits, offsets, leaves)
    return out
