"""Group expansion: grow a detected laundering group by the accounts tied to it more than chance allows.

Why: a laundering group is a set of accounts that also deal with each other outside the laundering itself (in
IBM AMLSim the members of an alert are linked pairwise in the base graph and ordinary payments run over those
links: about 27% of member pairs carry one, against 0.02% of random pairs). When only part of a pattern has run
(a cycle whose later hops are scheduled after the data ends, a fan-in whose other senders have not paid yet),
the detector sees some members; the rest are found as the accounts with *significantly many* transfer
counterparties among them.

Significance, not a raw count: a link is a direction in which money ever moved between two accounts (a pair
paying both ways is two links; ``directed=False`` counts pairs). An account paying ``out`` and paid by ``in``
distinct counterparties meets a group whose members are paid by ``in_D`` and pay ``out_D`` about
``(out * in_D + in * out_D) / E`` times by chance (``E`` = distinct ordered pairs in the connected component
holding the group; ``per_component=False``: in the whole graph). It joins when it has at
least ``min_links`` links into the group and the Poisson tail of that count is at most ``max_p_value``; so a
hub linked to two members by its sheer size does not join, a quiet account does. Repeated ``rounds`` times (a
newly joined member can bring in the next). Labels are never an input. Why directions: paying each other both
ways is rare between strangers (222 such pairs in a 118,000-transfer AMLSim sample, 82% inside laundering
groups), so one member paid both ways is evidence two one-way links are.

Vectorised with scipy.sparse: one (groups x accounts) membership matrix times the undirected adjacency gives
every candidate's link count per group; Python touches only the alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field
from scipy.sparse.csgraph import connected_components
from scipy.stats import poisson

from finrisk._arrays import distinct
from finrisk.graph._params import Params
from finrisk.graph.alerts import Alert
from finrisk.graph.build import TransferGraph


class ExpandParams(Params):
    """When an account joins a detected group (see the module docstring)."""

    min_links: int = Field(default=2, ge=1)
    max_p_value: float = Field(default=1e-4, gt=0.0, le=1.0)
    rounds: int = Field(default=3, ge=1)
    directed: bool = True
    per_component: bool = True


def _component_slots(adj: sp.csr_matrix, left: np.ndarray, per_component: bool, total: float) -> np.ndarray:
    """Per account, the slot total of the chance term: its connected component's, or the whole graph's.

    Why per component: a group and its candidates lie in one component (they are linked), and links can only
    fall inside it; a graph holding several unrelated worlds (two AMLSim runs side by side, say) would otherwise
    spread each account's expected links over all of them and halve the chance term (docs/graph.md part G).
    """
    n = adj.shape[0]
    if not per_component:
        return np.full(n, total)
    _, comp = connected_components(adj, directed=False)
    per_comp: np.ndarray = np.bincount(comp, weights=left[0], minlength=int(comp.max(initial=0)) + 1)
    slots: np.ndarray = per_comp[comp]
    return slots


def _links(g: TransferGraph, directed: bool) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, float]:
    """Link counts between accounts and the chance model's terms.

    Undirected: ``adj[u, v]`` is 1 when u and v ever paid each other; a candidate ``w`` meets a group with ``D``
    slots ``deg[w] * D / 2E`` times by chance. Directed: ``adj[u, v]`` counts the directions used (0-2), and the
    chance term is ``(out[w] * in_D + in[w] * out_D) / E`` over distinct ordered pairs.
    Returns the matrix, the two per-account slot arrays (``left`` of the candidate, ``right`` summed over the
    group: chance = sum over both pairings) and the slot total.
    """
    src, dst = g.src.astype(np.int64), g.dst.astype(np.int64)
    keep = src != dst
    key = distinct(src[keep] * g.n_nodes + dst[keep])
    a, b = key // g.n_nodes, key % g.n_nodes
    n = g.n_nodes
    if directed:
        out = sp.csr_matrix((np.ones(len(key), dtype=np.int32), (a, b)), shape=(n, n))
        adj = (out + out.T).tocsr()
        outs = np.bincount(a, minlength=n).astype(np.float64)
        ins = np.bincount(b, minlength=n).astype(np.float64)
        return adj, np.stack([outs, ins]), np.stack([ins, outs]), float(len(key))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    und = distinct(lo * n + hi)
    u, v = und // n, und % n
    ones = np.ones(2 * len(und), dtype=np.int32)
    adj = sp.csr_matrix((ones, (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n))
    deg = np.asarray(adj.sum(axis=1)).ravel().astype(np.float64)
    return adj, deg[None, :], deg[None, :], float(deg.sum())


def expand_alerts(g: TransferGraph, alerts: list[Alert], typologies: Iterable[str],
                  params: ExpandParams | None = None) -> list[Alert]:
    """Alerts of ``typologies`` with their groups grown; other alerts unchanged, order kept.

    An expanded alert keeps its typology and evidence edges; ``details["joined"]`` lists the accounts that
    joined (with ``details["joined_links"]`` their link counts), so an analyst sees which members are inferred.
    """
    p = params or ExpandParams()
    wanted = set(typologies)
    picked = [i for i, a in enumerate(alerts) if a.typology in wanted and a.nodes]
    if not picked or not g.n_edges:
        return list(alerts)
    adj, left, right, total = _links(g, p.directed)
    slots: np.ndarray | None = None  # made on first need: components cost O(E), most scans have no candidate
    index = pd.Index(g.nodes)
    rows, cols = [], []
    for k, i in enumerate(picked):
        pos = index.get_indexer(list(alerts[i].nodes))
        pos = np.unique(pos[pos >= 0])
        rows.append(np.full(len(pos), k, dtype=np.int64))
        cols.append(pos)
    member = sp.csr_matrix((np.ones(sum(len(c) for c in cols), dtype=np.int32),
                            (np.concatenate(rows), np.concatenate(cols))), shape=(len(picked), g.n_nodes))
    joined: list[dict[int, int]] = [{} for _ in picked]
    for _ in range(p.rounds):
        links = (member @ adj).tocoo()
        is_member = np.asarray(member[links.row, links.col]).ravel() > 0
        cand = (~is_member) & (links.data >= p.min_links)
        r, c, n = links.row[cand], links.col[cand], links.data[cand].astype(np.float64)
        if not len(r):
            break
        if slots is None:
            slots = _component_slots(adj, left, p.per_component, total)
        expected = np.zeros(len(r))
        for cand_slots, group_side in zip(left, right, strict=True):
            expected += cand_slots[c] * np.asarray(member @ group_side).ravel()[r] / slots[c]
        ok = poisson.sf(n - 1, expected) <= p.max_p_value
        if not ok.any():
            break
        r, c, n = r[ok], c[ok], n[ok]
        for k, node, count in zip(r.tolist(), c.tolist(), n.astype(int).tolist(), strict=True):
            joined[k][node] = count
        member = (member + sp.csr_matrix((np.ones(len(r), dtype=np.int32), (r, c)), shape=member.shape)).tocsr()
        member.data[:] = 1
    out = list(alerts)
    for k, i in enumerate(picked):
        if not joined[k]:
            continue
        a = alerts[i]
        extra = [g.nodes[node] for node in joined[k]]
        details = {**a.details, "joined": [str(x) for x in extra], "joined_links": list(joined[k].values())}
        out[i] = replace(a, nodes=(*a.nodes, *extra), details=details)
    return out
