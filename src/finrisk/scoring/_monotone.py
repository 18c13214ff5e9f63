"""Optimal monotone merging of ordered pre-bins: a dynamic programme that maximises information value.

Why a DP and not a solver: the pre-bins are few (about 20), IV is a sum of per-bin terms, and the
monotonicity constraint only links neighbouring bins, so the exact optimum over all partitions into
contiguous bins of at least ``min_size`` rows with non-decreasing bad rate is found by
``best[i, j] = iv(j..i) + max{best[j-1, l] : rate(l..j-1) <= rate(j..i)}``, vectorised over ``j``
and ``l`` with numpy (O(k^3) element operations, about a millisecond for k = 20). Descending is the
same programme on negated rates; peak and valley join the best ascending prefix to the best descending
suffix (or the reverse) at the best split point, since any such join is unimodal.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from finrisk.scoring.woe import SMOOTHING

__all__ = ["TRENDS", "TREND_OPTIONS", "best_partition"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The shapes a binned bad rate can be asked to take.
TRENDS = ("ascending", "descending", "peak", "valley")
#: What ``trend`` may be: a shape, or a choice among shapes.
TREND_OPTIONS = ("auto", "auto_unimodal", *TRENDS)

_TOL = 1e-12


def _prefix_tables(
    event: FloatArray, total: FloatArray, *, bads: float, goods: float, min_size: float, sign: float
) -> tuple[FloatArray, IntArray]:
    """DP tables of the best ascending (in ``sign * rate``) partition of every prefix, by last bin start."""
    k = event.size
    ce = np.concatenate(([0.0], np.cumsum(event)))
    ct = np.concatenate(([0.0], np.cumsum(total)))
    e = ce[None, 1:] - ce[:-1, None]  # [j, i]: events of pre-bins j..i
    t = ct[None, 1:] - ct[:-1, None]
    upper = np.triu(np.ones((k, k), dtype=bool))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(upper, sign * e / t, np.nan)
        g = t - e
        bad_share = (e + SMOOTHING) / (bads + SMOOTHING)
        good_share = (g + SMOOTHING) / (goods + SMOOTHING)
        iv = (bad_share - good_share) * np.log(bad_share / good_share)  # as woe.information_value
    ok = upper & (t >= min_size)
    best = np.full((k, k), -np.inf)
    back = np.zeros((k, k), dtype=np.int64)
    for i in range(k):
        if ok[0, i]:
            best[i, 0] = iv[0, i]
        if i == 0:
            continue
        prev = best[:i, :]  # row j-1 for j = 1..i, column l
        prev_rate = rate[:, :i].T  # [j-1, l] = rate(l..j-1)
        allowed = prev_rate <= rate[1 : i + 1, i][:, None] + _TOL
        cand = np.where(allowed, prev, -np.inf)
        back[i, 1 : i + 1] = cand.argmax(axis=1)
        best[i, 1 : i + 1] = np.where(ok[1 : i + 1, i], iv[1 : i + 1, i] + cand.max(axis=1), -np.inf)
    return best, back


def _trace(best: FloatArray, back: IntArray, end: int) -> list[int]:
    """Last pre-bin index of every bin of the best partition of pre-bins 0..end."""
    ends: list[int] = []
    i, j = end, int(np.argmax(best[end]))
    while True:
        ends.append(i)
        if j == 0:
            break
        i, j = j - 1, int(back[i, j])
    return ends[::-1]


def _monotone(event: FloatArray, total: FloatArray, sign: float, **kw: float) -> tuple[float, list[int]]:
    best, back = _prefix_tables(event, total, sign=sign, **kw)
    k = event.size
    value = float(best[k - 1].max())
    if not np.isfinite(value):
        return -np.inf, []
    return value, _trace(best, back, k - 1)


def _unimodal(event: FloatArray, total: FloatArray, first: float, **kw: float) -> tuple[float, list[int]]:
    """Peak (``first`` = +1: rising then falling) or valley (``first`` = -1)."""
    k = event.size
    pre_best, pre_back = _prefix_tables(event, total, sign=first, **kw)
    suf_best, suf_back = _prefix_tables(event[::-1].copy(), total[::-1].copy(), sign=first, **kw)
    pre = pre_best.max(axis=1)  # best over prefixes 0..s
    suf = suf_best.max(axis=1)  # best over reversed prefixes = suffixes k-1-r..k-1
    values = np.full(k + 1, -np.inf)  # split s: prefix 0..s-1, suffix s..k-1
    values[k] = pre[k - 1]
    values[0] = suf[k - 1]
    if k > 1:
        values[1:k] = pre[: k - 1] + suf[k - 2 :: -1]
    s = int(np.argmax(values))
    if not np.isfinite(values[s]):
        return -np.inf, []
    ends: list[int] = []
    if s > 0:
        ends += _trace(pre_best, pre_back, s - 1)
    if s < k:
        rev_ends = _trace(suf_best, suf_back, k - 1 - s)  # reversed indices: bins of suffix s..k-1
        rev_starts = [0] + [r + 1 for r in rev_ends[:-1]]
        ends += sorted(k - 1 - r for r in rev_starts)  # a reversed bin's start is an original end
    return float(values[s]), ends


def best_partition(
    event: npt.ArrayLike, total: npt.ArrayLike, *, trend: str, min_size: float, bads: float, goods: float
) -> tuple[str, float, list[int]]:
    """The IV-maximising partition of ordered pre-bins into contiguous bins under ``trend``.

    ``trend`` is one of :data:`TRENDS` or ``"auto"`` (the best of ascending and descending) or
    ``"auto_unimodal"`` (the best of all four). Returns the trend used, the IV of the partition and the
    index of the last pre-bin of each bin; one bin when no partition satisfies ``min_size``.

    >>> best_partition([1, 2, 8, 9], [10, 10, 10, 10], trend="auto", min_size=15, bads=20, goods=20)[::2]
    ('ascending', [1, 3])
    """
    if trend not in TREND_OPTIONS:
        raise ValueError(f"trend must be one of {', '.join(TREND_OPTIONS)}; got {trend!r}")
    e = np.asarray(event, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    k = e.size
    if k == 0:
        return "ascending", 0.0, []
    if bads <= 0 or goods <= 0:  # one class only: nothing to separate
        return "ascending", 0.0, [k - 1]
    kw = {"bads": bads, "goods": goods, "min_size": min_size}
    options: dict[str, tuple[float, list[int]]] = {}
    wanted = {"auto": ("ascending", "descending"), "auto_unimodal": TRENDS}.get(trend, (trend,))
    for name in wanted:
        if name == "ascending":
            options[name] = _monotone(e, t, 1.0, **kw)
        elif name == "descending":
            options[name] = _monotone(e, t, -1.0, **kw)
        elif name == "peak":
            options[name] = _unimodal(e, t, 1.0, **kw)
        else:
            options[name] = _unimodal(e, t, -1.0, **kw)
    name = max(wanted, key=lambda n: options[n][0])
    value, ends = options[name]
    if not ends:
        return name, 0.0, [k - 1]
    return name, value, ends
