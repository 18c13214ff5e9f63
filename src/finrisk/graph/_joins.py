"""Vectorised time-respecting joins on the transfer arrays (sort + searchsorted, no Python edge loops)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from finrisk.graph.build import IntArray, TransferGraph


def expand_ranges(lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray]:
    """(row index, position) for every position in each row's [lo, hi) range."""
    cnt = np.maximum(hi - lo, 0)
    total = int(cnt.sum())
    rep = np.repeat(np.arange(len(lo), dtype=np.int64), cnt)
    starts = np.cumsum(cnt) - cnt
    return rep, lo[rep] + (np.arange(total, dtype=np.int64) - starts[rep])


def out_key(g: TransferGraph) -> tuple[IntArray, int, int]:
    """Monotone int64 key (src, time) over the edges in their stored order, with its scale and time origin."""
    if not g.n_edges:
        return np.zeros(0, np.int64), 1, 0
    t0 = int(g.time.min())
    scale = int(g.time.max()) - t0 + 2
    return g.src.astype(np.int64) * scale + (g.time - t0), scale, t0


def two_hop(
    g: TransferGraph, max_delay: int, *, keep: Callable[[IntArray, IntArray], npt.NDArray[np.bool_]] | None = None,
    chunk_pairs: int = 8_000_000,
) -> tuple[IntArray, IntArray]:
    """Every pair (e1, e2) with e1 = a->m, e2 = m->b, e2 strictly later than e1 and at most ``max_delay`` after.

    ``keep(e1, e2)`` filters pairs as they are made, a block of about ``chunk_pairs`` at a time, so a hub with
    millions of candidate pairs never has them all in memory at once.
    """
    key, scale, t0 = out_key(g)
    base = g.dst.astype(np.int64) * scale
    lo = np.searchsorted(key, base + (g.time - t0), side="right").astype(np.int64)
    hi = np.searchsorted(key, base + np.minimum(g.time - t0 + max_delay, scale - 1), side="right").astype(np.int64)
    hi = np.maximum(hi, lo)
    cum = np.cumsum(hi - lo)
    firsts: list[IntArray] = []
    seconds: list[IntArray] = []
    start = 0
    while start < len(lo):
        done = int(cum[start - 1]) if start else 0
        stop = max(int(np.searchsorted(cum, done + chunk_pairs, side="right")), start + 1)
        rep, pos = expand_ranges(lo[start:stop], hi[start:stop])
        e1 = rep + start
        if keep is not None:
            mask = keep(e1, pos)
            e1, pos = e1[mask], pos[mask]
        firsts.append(e1)
        seconds.append(pos)
        start = stop
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)
