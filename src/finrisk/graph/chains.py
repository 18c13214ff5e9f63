"""Layering chains: the same sum passed along several accounts in a row (rapid movement through accounts).

Uses the loop search (``loops.grow_paths``) without requiring the path to close. Overlapping chains (every
sub-chain and parallel transfer gives one) are merged: one alert per connected group of chain transfers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from scipy.sparse.csgraph import connected_components

from finrisk._arrays import distinct
from finrisk.graph._params import Params
from finrisk.graph.alerts import Alert
from finrisk.graph.build import TransferGraph, build_transfer_graph
from finrisk.graph.loops import LoopParams, grow_paths
from finrisk.graph.structuring import split_edges


class ChainParams(Params):
    """At least ``min_hops`` transfers in a row, each within ``amount_tolerance`` below / ``max_increase`` above the
    previous, inside ``window``; ``ordered`` asks each hop to be later than the previous one.

    ``min_legs`` > 1 follows split hops only: each hop's pair must carry ``min_legs`` transfers within
    ``leg_window`` (a sum split into legs, as structuring does); then 2-hop chains stay specific.
    """

    min_hops: int = Field(default=3, ge=2, le=8)
    max_hops: int = Field(default=6, ge=2, le=8)
    window: int = Field(default=3 * 86400, gt=0)
    amount_tolerance: float = Field(default=0.02, ge=0.0, lt=1.0)
    max_increase: float = Field(default=0.0, ge=0.0)
    ordered: bool = True
    max_paths: int = Field(default=20_000_000, gt=0)
    min_legs: int = Field(default=1, ge=1)
    leg_window: int = Field(default=86400, gt=0)


def find_chains(g: TransferGraph, params: ChainParams | None = None) -> list[Alert]:
    """Groups of accounts joined by chains of near-equal transfers (see :class:`ChainParams`)."""
    p = params or ChainParams()
    loop = LoopParams(min_intermediaries=1, max_intermediaries=max(p.max_hops - 1, 1), window=p.window,
                      amount_tolerance=p.amount_tolerance, max_increase=p.max_increase, ordered=p.ordered,
                      max_paths=p.max_paths)
    if p.min_legs > 1:  # search the split hops only, then map their ids back to g's edges
        keep = split_edges(g, p.min_legs, p.leg_window)
        sub = build_transfer_graph(g.src[keep], g.dst[keep], g.amount[keep], g.time[keep],
                                   nodes=np.arange(g.n_nodes))
        _, edge_blocks = grow_paths(sub, loop, chain_hops=p.min_hops)
        edge_blocks = [keep[sub.row[b]] for b in edge_blocks]
    else:
        _, edge_blocks = grow_paths(g, loop, chain_hops=p.min_hops)
    if not edge_blocks:
        return []
    edges = distinct(np.concatenate([b.ravel() for b in edge_blocks]))
    n = g.n_nodes
    adj = sp.csr_matrix((np.ones(len(edges)), (g.src[edges], g.dst[edges])), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    edge_label = labels[g.src[edges]]
    order = np.argsort(edge_label, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_label[order])) + 1
    alerts: list[Alert] = []
    for group in np.split(edges[order], bounds):
        nodes = np.unique(np.concatenate([g.src[group], g.dst[group]]))
        amounts = g.amount[group]
        alerts.append(Alert(typology="chain", nodes=tuple(g.nodes[nodes].tolist()), edges=tuple(group.tolist()),
                            score=float(len(nodes)),
                            details={"accounts": int(len(nodes)), "transfers": int(len(group)),
                                     "min_amount": float(amounts.min()), "max_amount": float(amounts.max()),
                                     "start_time": int(g.time[group].min()), "end_time": int(g.time[group].max())}))
    return alerts
