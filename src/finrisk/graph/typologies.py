"""Laundering shapes: fan-in, fan-out, scatter-gather, gather-scatter and rapid pass-through (mule).

Each typology has its own parameters (a validated model, so a bad value names the field). Every detector is
vectorised: windows come from ``searchsorted`` on sorted (account, time) keys and two-hop flows from the
time-respecting join in ``_joins``; Python only touches the few candidate accounts that pass the counts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import Field

from finrisk.graph._joins import two_hop
from finrisk.graph._params import Params
from finrisk.graph.alerts import Alert
from finrisk.graph.build import IntArray, TransferGraph


class FanParams(Params):
    """Fan-in (many senders, one receiver) or fan-out (one sender, many receivers) within ``window``.

    ``amount_tolerance`` (optional) keeps only the amount band ``[a, a * (1 + tolerance)]`` holding the most distinct
    counterparties, for structuring where every leg carries about the same sum. ``follow_onward`` (fan-in only, on the
    event clock; 0 = off) adds the receiver's own outgoing transfers in that long after the burst to the evidence:
    the cash-out leg of a mule.
    """

    min_counterparties: int = Field(default=8, ge=2)
    window: int = Field(default=86400, gt=0)
    amount_tolerance: float | None = Field(default=None, ge=0.0, lt=1.0)
    min_total: float = Field(default=0.0, ge=0.0)
    follow_onward: int = Field(default=0, ge=0)


class FlowParams(Params):
    """Scatter-gather (one source -> many intermediaries -> one sink) and gather-scatter (many -> hub -> many).

    A leg pair a->m, m->b counts when the second leg follows the first within ``window`` and its amount is within
    ``amount_tolerance`` of the first.
    """

    min_intermediaries: int = Field(default=3, ge=2)
    min_counterparties: int = Field(default=5, ge=2)
    window: int = Field(default=3 * 86400, gt=0)
    amount_tolerance: float = Field(default=0.2, ge=0.0, lt=1.0)
    min_burst_share: float = Field(default=0.5, ge=0.0, le=1.0,
                                   description="gather-scatter: share of the hub's inbound transfers in the burst")


class PassThroughParams(Params):
    """Rapid pass-through: an account forwards most of what it receives, soon after receiving it."""

    max_delay: int = Field(default=86400, gt=0)
    min_retained_share: float = Field(default=0.0, ge=0.0, le=1.0)
    amount_tolerance: float = Field(default=0.1, ge=0.0, lt=1.0)
    min_transfers: int = Field(default=3, ge=1)
    min_passed_share: float = Field(default=0.8, gt=0.0, le=1.0)


def _densest_band(idx: IntArray, amounts: np.ndarray, parties: np.ndarray, tolerance: float) -> IntArray:
    """The transfers in the amount band [a, a * (1 + tolerance)] that holds the most distinct counterparties."""
    by_amount = np.argsort(amounts, kind="stable")
    sorted_amounts = amounts[by_amount]
    ends = np.searchsorted(sorted_amounts, sorted_amounts * (1.0 + tolerance), side="right")
    best, best_count = 0, -1
    for i, j in enumerate(ends.tolist()):
        if j - i > best_count:  # edge count bounds the distinct count: skip bands that cannot win
            count = len(np.unique(parties[by_amount[i:j]]))
            if count > best_count:
                best, best_count = i, count
    return idx[by_amount[best:int(ends[best])]]


def _fan(g: TransferGraph, p: FanParams, *, incoming: bool, typology: str) -> list[Alert]:
    order = g.in_order if incoming else np.arange(g.n_edges, dtype=np.int64)
    subject = (g.dst if incoming else g.src)[order].astype(np.int64)
    other = (g.src if incoming else g.dst)[order]
    t = g.time[order]
    if not len(order):
        return []
    t0 = int(t.min())
    scale = int(t.max()) - t0 + p.window + 2
    key = subject * scale + (t - t0)
    lo = np.searchsorted(key, key - p.window, side="left")
    count = np.arange(len(key)) - lo + 1  # transfers in the window ending here: an upper bound on counterparties
    frame = pd.DataFrame({"subject": subject, "count": count})
    frame = frame[frame["count"] >= p.min_counterparties]
    best = frame.groupby("subject", sort=False)["count"].idxmax().to_numpy()
    alerts: list[Alert] = []
    for end in best.tolist():
        idx = np.arange(lo[end], end + 1)
        amounts = g.amount[order[idx]]
        if p.amount_tolerance is not None:
            idx = _densest_band(idx, amounts, other[idx], p.amount_tolerance)
            amounts = g.amount[order[idx]]
        parties = np.unique(other[idx])
        parties = parties[parties != subject[end]]
        if len(parties) < p.min_counterparties or float(amounts.sum()) < p.min_total:
            continue
        s = int(subject[end])
        edges = order[idx]
        if incoming and p.follow_onward:
            out = np.arange(g.out_ptr[s], g.out_ptr[s + 1])
            out = out[(g.time[out] > t[end]) & (g.time[out] <= t[end] + p.follow_onward)]
            edges = np.concatenate([edges, out])
            parties = np.union1d(parties, np.setdiff1d(g.dst[out], [s]))
        alerts.append(Alert(
            typology=typology, nodes=(g.nodes[s], *g.nodes[parties].tolist()), edges=tuple(edges.tolist()),
            score=float(len(parties)),
            details={"counterparties": int(len(parties)), "total": float(amounts.sum()),
                     "start_time": int(t[idx].min()), "end_time": int(t[idx].max())},
        ))
    return alerts


def find_fan_in(g: TransferGraph, params: FanParams | None = None) -> list[Alert]:
    """Receivers paid by at least ``min_counterparties`` distinct senders within ``window`` (best window each)."""
    return _fan(g, params or FanParams(), incoming=True, typology="fan_in")


def find_fan_out(g: TransferGraph, params: FanParams | None = None) -> list[Alert]:
    """Senders paying at least ``min_counterparties`` distinct receivers within ``window`` (best window each)."""
    return _fan(g, params or FanParams(), incoming=False, typology="fan_out")


def _legs(g: TransferGraph, window: int, tolerance: float, *, max_growth: float) -> pd.DataFrame:
    """Two-hop flows a->m->b (a != b != m) whose second leg carries the first leg's amount within tolerance.

    Kept on the graph per (window, tolerance, growth): scatter-gather and gather-scatter ask for the same legs,
    and the join is the costly part of both (about 20 s of CPU each at 5 M transfers).
    """
    cache_key = ("legs", window, tolerance, max_growth)
    if cache_key in g._cache:
        cached: pd.DataFrame = g._cache[cache_key]
        return cached

    def keep(e1: IntArray, e2: IntArray) -> np.ndarray:
        a1, a2 = g.amount[e1], g.amount[e2]
        return np.asarray((a2 >= (1.0 - tolerance) * a1) & (a2 <= (1.0 + max_growth) * a1)
                          & (g.src[e1] != g.dst[e2]), dtype=bool)

    e1, e2 = two_hop(g, window, keep=keep)
    a, m, b = g.src[e1], g.dst[e1], g.dst[e2]
    ok = (a != m) & (b != m)
    legs = pd.DataFrame({"e1": e1[ok], "e2": e2[ok], "a": a[ok], "m": m[ok], "b": b[ok]})
    g._cache[cache_key] = legs
    return legs


def _edges_of(legs: pd.DataFrame) -> tuple[int, ...]:
    return tuple(np.unique(np.concatenate([legs["e1"].to_numpy(), legs["e2"].to_numpy()])).tolist())


def find_scatter_gather(g: TransferGraph, params: FlowParams | None = None) -> list[Alert]:
    """One source splits money over >= ``min_intermediaries`` accounts that all pass it on to one sink."""
    p = params or FlowParams()
    legs = _legs(g, p.window, p.amount_tolerance, max_growth=p.amount_tolerance)
    if legs.empty:
        return []
    counts = legs.drop_duplicates(["a", "m", "b"]).groupby(["a", "b"]).size()
    pairs = counts[counts >= p.min_intermediaries]
    alerts: list[Alert] = []
    hit = legs.set_index(["a", "b"]).loc[pairs.index].reset_index() if len(pairs) else legs.iloc[:0]
    for _, grp in hit.groupby(["a", "b"], sort=False):
        a, b = int(grp["a"].to_numpy()[0]), int(grp["b"].to_numpy()[0])
        mids = np.unique(grp["m"].to_numpy())
        alerts.append(Alert(typology="scatter_gather", nodes=(g.nodes[a], *g.nodes[mids].tolist(), g.nodes[b]),
                            edges=_edges_of(grp), score=float(len(mids)),
                            details={"intermediaries": int(len(mids)), "source": str(g.nodes[a]),
                                     "sink": str(g.nodes[b])}))
    return alerts


def find_gather_scatter(g: TransferGraph, params: FlowParams | None = None) -> list[Alert]:
    """A hub collects from >= ``min_counterparties`` senders and pays >= as many receivers onward, in one burst.

    A leg pair counts when the onward leg follows the inbound one within ``window`` and carries its amount
    within ``amount_tolerance`` either way; the senders and receivers are counted among the pairs whose inbound
    legs fall in one ``window`` (per hub, the window with the most pairs), and those inbound legs must be at least
    ``min_burst_share`` of all the hub's inbound transfers: a burst, not a busy account's steady traffic.
    Counting over the hub's whole history, with any larger onward amount matching, fired on every busy account of
    a skewed random graph (a busy account's best window holds a tenth of its month).
    """
    p = params or FlowParams()
    legs = _legs(g, p.window, p.amount_tolerance, max_growth=p.amount_tolerance)
    if legs.empty:
        return []
    t_in = g.time[legs["e1"].to_numpy()]
    legs = legs.assign(t=t_in).sort_values(["m", "t"], kind="stable").reset_index(drop=True)
    m_arr, t_arr = legs["m"].to_numpy().astype(np.int64), legs["t"].to_numpy()
    t0 = int(t_arr.min())
    scale = int(t_arr.max()) - t0 + p.window + 2
    key = m_arr * scale + (t_arr - t0)
    lo = np.searchsorted(key, key - p.window, side="left")
    count = np.arange(len(key)) - lo + 1  # pairs in the window ending here: bounds senders and receivers
    frame = pd.DataFrame({"m": m_arr, "count": count})
    frame = frame[frame["count"] >= p.min_counterparties]
    if frame.empty:
        return []
    best = frame.groupby("m", sort=False)["count"].idxmax().to_numpy()
    in_degree = g.in_degree()
    alerts: list[Alert] = []
    for end in best.tolist():
        grp = legs.iloc[int(lo[end]):end + 1]
        m = int(m_arr[end])
        if grp["e1"].nunique() < p.min_burst_share * int(in_degree[m]):
            continue
        senders = np.unique(grp["a"].to_numpy())
        receivers = np.unique(grp["b"].to_numpy())
        if min(len(senders), len(receivers)) < p.min_counterparties:
            continue
        alerts.append(Alert(typology="gather_scatter",
                            nodes=(g.nodes[m], *g.nodes[np.union1d(senders, receivers)].tolist()),
                            edges=_edges_of(grp), score=float(min(len(senders), len(receivers))),
                            details={"senders": int(len(senders)), "receivers": int(len(receivers))}))
    return alerts


def _pass_pairs(g: TransferGraph, p: PassThroughParams, keep: Callable[[IntArray, IntArray], np.ndarray],
                flows: FlowParams | None) -> tuple[IntArray, IntArray]:
    """The pass-through leg pairs, filtered from the flow legs already joined when those cover them (same join,
    wider window and band; no self-transfers, positive amounts), else joined afresh."""
    if flows is not None and g.n_edges:
        key = ("legs", flows.window, flows.amount_tolerance, flows.amount_tolerance)
        covered = (p.max_delay <= flows.window and p.amount_tolerance <= flows.amount_tolerance
                   and bool((g.amount > 0).all()) and not bool((g.src == g.dst).any()))
        if covered and key in g._cache:
            legs: pd.DataFrame = g._cache[key]
            e1, e2 = legs["e1"].to_numpy(), legs["e2"].to_numpy()
            mask = (g.time[e2] - g.time[e1] <= p.max_delay) & keep(e1, e2)
            return e1[mask], e2[mask]
    return two_hop(g, p.max_delay, keep=keep)


def find_pass_through(g: TransferGraph, params: PassThroughParams | None = None, *,
                      flows: FlowParams | None = None) -> list[Alert]:
    """Accounts that forward most of their inflow within ``max_delay``, keeping little (mule accounts).

    ``flows``: the scan's flow parameters, whose joined legs (if already on the graph) this reuses.
    """
    p = params or PassThroughParams()

    def keep(e1: IntArray, e2: IntArray) -> np.ndarray:
        a1, a2 = g.amount[e1], g.amount[e2]
        ok = (a2 <= a1 * (1.0 - p.min_retained_share) + 1e-9) & (a2 >= a1 * (1.0 - p.amount_tolerance))
        return np.asarray(ok & (g.src[e1] != g.dst[e2]), dtype=bool)

    e1, e2 = _pass_pairs(g, p, keep, flows)
    if not len(e1):
        return []
    m = g.dst[e1]
    first = pd.DataFrame({"m": m, "e1": e1, "e2": e2}).drop_duplicates("e1")
    inflow = np.bincount(g.dst, weights=g.amount, minlength=g.n_nodes)
    passed = first.assign(amount=g.amount[first["e1"].to_numpy()]).groupby("m").agg(
        transfers=("e1", "size"), amount=("amount", "sum"))
    share = passed["amount"].to_numpy() / np.maximum(inflow[passed.index.to_numpy()], 1e-12)
    chosen = passed.index.to_numpy()[(passed["transfers"].to_numpy() >= p.min_transfers)
                                     & (share >= p.min_passed_share)]
    alerts: list[Alert] = []
    chosen_set = set(chosen.tolist())
    for _, grp in first[first["m"].isin(chosen_set)].groupby("m", sort=False):
        mule = int(grp["m"].to_numpy()[0])
        edges: IntArray = np.unique(np.concatenate([grp["e1"].to_numpy(), grp["e2"].to_numpy()]))
        parties = np.unique(np.concatenate([g.src[grp["e1"].to_numpy()], g.dst[grp["e2"].to_numpy()]]))
        k = int(np.searchsorted(passed.index.to_numpy(), mule))
        alerts.append(Alert(typology="pass_through", nodes=(g.nodes[mule], *g.nodes[parties].tolist()),
                            edges=tuple(edges.tolist()), score=float(share[k]),
                            details={"transfers": int(len(grp)), "passed_share": round(float(share[k]), 4)}))
    return alerts
