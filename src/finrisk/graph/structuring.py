"""Structured fan-in: a receiver paid by several senders who each split their payment into several legs.

Why a typology of its own: the plain fan-in counts distinct senders in a window, which a busy ordinary account
reaches too. Structuring (smurfing) leaves a sharper trace: the *same* sender pays the *same* receiver several
times within a short ``leg_window`` (one sum split to stay under a reporting limit), and the receiver collects
such split payments from at least ``min_senders`` senders within ``window``. On the IBM AMLSim samples every
account pair with two or more transfers in one step belongs to a laundering pattern, in both samples (see
docs/graph.md); ordinary senders there pay a counterparty once.

Vectorised: split pairs come from ``searchsorted`` on a sorted (pair, time) key, the sender bursts per receiver
from a second one on (receiver, time); Python only touches receivers that pass the count.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from pydantic import Field
from scipy.sparse.csgraph import connected_components

from finrisk.graph._params import Params
from finrisk.graph.alerts import Alert
from finrisk.graph.build import TransferGraph


class SplitFanParams(Params):
    """What counts as a structured fan-in (times on the graph's clock: seconds for events, steps for AMLSim).

    ``min_legs`` transfers from one sender to one receiver within ``leg_window`` make a *split payment*; a
    receiver with split payments from ``min_senders`` distinct senders whose bursts fall within ``window`` is
    an alert (receiver plus those senders).
    """

    min_legs: int = Field(default=2, ge=2)
    leg_window: int = Field(default=86400, gt=0)
    min_senders: int = Field(default=3, ge=1)
    window: int = Field(default=30 * 86400, gt=0)


def _window_starts(group: np.ndarray, t: np.ndarray, window: int) -> np.ndarray:
    """For rows sorted by (group, t): index of the first row of the same group with time >= t - window."""
    t0 = int(t.min())
    scale = int(t.max()) - t0 + window + 2
    key = group.astype(np.int64) * scale + (t - t0)
    starts: np.ndarray = np.searchsorted(key, key - window, side="left")
    return starts


def split_payments(g: TransferGraph, p: SplitFanParams) -> pd.DataFrame:
    """One row per split payment: ``src``, ``dst``, ``time`` (its last leg) and ``legs`` (the most in one window).

    Rows are the densest ``leg_window`` of each (sender, receiver) pair that reaches ``min_legs``.
    """
    empty = pd.DataFrame({"src": [], "dst": [], "time": [], "legs": []}, dtype=np.int64)
    if not g.n_edges:
        return empty
    src, dst = g.src.astype(np.int64), g.dst.astype(np.int64)
    pair = src * g.n_nodes + dst
    order = np.argsort(pair, kind="stable")  # edges are in (src, time) order: time order holds within a pair
    pair_s, t_s = pair[order], g.time[order].astype(np.int64)
    legs = np.arange(len(order)) - _window_starts(pair_s, t_s, p.leg_window) + 1
    hit = legs >= p.min_legs
    if not hit.any():
        return empty
    frame = pd.DataFrame({"pair": pair_s[hit], "time": t_s[hit], "legs": legs[hit]})
    best = frame.loc[frame.groupby("pair", sort=False)["legs"].idxmax()]
    pairs = best["pair"].to_numpy()
    return pd.DataFrame({"src": pairs // g.n_nodes, "dst": pairs % g.n_nodes,
                         "time": best["time"].to_numpy(), "legs": best["legs"].to_numpy()})


def find_split_fan_in(g: TransferGraph, params: SplitFanParams | None = None) -> list[Alert]:
    """Receivers collecting split payments from >= ``min_senders`` senders within ``window`` (best window each)."""
    p = params or SplitFanParams()
    splits = split_payments(g, p)
    if splits.empty:
        return []
    splits = splits.sort_values(["dst", "time"], kind="stable").reset_index(drop=True)
    dst, t = splits["dst"].to_numpy(), splits["time"].to_numpy()
    lo = _window_starts(dst, t, p.window)
    count = np.arange(len(dst)) - lo + 1  # one row per pair, so this counts distinct senders
    frame = pd.DataFrame({"dst": dst, "count": count})
    frame = frame[frame["count"] >= p.min_senders]
    if frame.empty:
        return []
    alerts: list[Alert] = []
    for end in frame.groupby("dst", sort=False)["count"].idxmax().to_numpy().tolist():
        burst = splits.iloc[int(lo[end]):end + 1]
        receiver = int(dst[end])
        senders = burst["src"].to_numpy()
        inbound = g.in_order[g.in_ptr[receiver]:g.in_ptr[receiver + 1]]
        mask = np.isin(g.src[inbound], senders) & (g.time[inbound] <= int(burst["time"].max()))
        mask &= g.time[inbound] >= int(burst["time"].min()) - p.leg_window
        edges = np.sort(inbound[mask])
        alerts.append(Alert(
            typology="structured_fan_in", nodes=(g.nodes[receiver], *g.nodes[senders].tolist()),
            edges=tuple(edges.tolist()), score=float(len(senders)),
            details={"senders": int(len(senders)), "legs": int(burst["legs"].sum()),
                     "total": float(g.amount[edges].sum()), "start_time": int(g.time[edges].min()),
                     "end_time": int(g.time[edges].max())},
        ))
    return alerts


def split_edges(g: TransferGraph, min_legs: int, leg_window: int) -> npt.NDArray[np.int64]:
    """Edge ids that belong to a split payment: ``min_legs`` or more transfers on their (sender, receiver) pair
    within ``leg_window`` of each other (used by layering chains to follow split hops only)."""
    if not g.n_edges:
        return np.zeros(0, dtype=np.int64)
    pair = g.src.astype(np.int64) * g.n_nodes + g.dst.astype(np.int64)
    order = np.argsort(pair, kind="stable")  # edges are in (src, time) order: time order holds within a pair
    lo = _window_starts(pair[order], g.time[order].astype(np.int64), leg_window)
    ends = np.nonzero(np.arange(len(order)) - lo + 1 >= min_legs)[0]
    cover = np.zeros(len(order) + 1, dtype=np.int64)  # mark every edge inside a window that reaches min_legs
    np.add.at(cover, lo[ends], 1)
    np.add.at(cover, ends + 1, -1)
    inside = np.cumsum(cover[:-1]) > 0
    return np.sort(order[inside]).astype(np.int64)


def find_split_groups(g: TransferGraph, params: SplitFanParams | None = None) -> list[Alert]:
    """Accounts joined by split payments (typology ``split_group``): one alert per connected group of them.

    The shape-free form of structuring: a split payment says "one sum cut into legs" but not which laundering
    shape it belongs to (a lone hop of a cycle, one sender of a fan-in). Meant as a seed for group expansion
    (``finrisk.graph.expansion``), which finds the rest of the group; ``min_senders`` and ``window`` are unused.
    """
    p = params or SplitFanParams()
    splits = split_payments(g, p)
    if splits.empty:
        return []
    src, dst = splits["src"].to_numpy(), splits["dst"].to_numpy()
    nodes, local = np.unique(np.concatenate([src, dst]), return_inverse=True)
    k = len(src)
    adj = sp.csr_matrix((np.ones(k), (local[:k], local[k:])), shape=(len(nodes), len(nodes)))
    n_groups, label = connected_components(adj, directed=False)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_groups + 1))
    legs = split_edges(g, p.min_legs, p.leg_window)
    alerts: list[Alert] = []
    for i in range(n_groups):
        members = nodes[order[bounds[i]:bounds[i + 1]]]
        inside = np.isin(src, members)
        edges = legs[np.isin(g.src[legs], members) & np.isin(g.dst[legs], members)]
        alerts.append(Alert(
            typology="split_group", nodes=tuple(g.nodes[members].tolist()), edges=tuple(edges.tolist()),
            score=float(inside.sum()),
            details={"split_payments": int(inside.sum()), "legs": int(splits["legs"].to_numpy()[inside].sum())},
        ))
    return alerts
