"""Group expansion: grow a detected laundering group by the accounts tied to it more than chance allows.

Why: a laundering group is a set of accounts that also deal with each other outside the laundering itself (in
IBM AMLSim the members of an alert are linked pairwise in the base graph and ordinary payments run over those
links: about 27% of member pairs carry one, against 0.02% of random pairs). When only part of a pattern has run
(a cycle whose later hops are scheduled after the data ends, a fan-in whose other senders have not paid yet),
the detector sees some members; the rest are found as the accounts with *significantly many* transfer
counterparties among them.

Significance, not a raw count: an account with ``deg`` counterparties meets a group whose members have ``D``
counterparty slots in total about ``deg * D / 2E`` times by chance (``2E`` = all slots). It joins when it has
at least ``min_links`` distinct counterparties in the group and the Poisson tail of that count is at most
``max_p_value``; so a hub linked to two members by its sheer size does not join, a quiet account does.
Repeated ``rounds`` times (a newly joined member can bring in the next). Labels are never an input.

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
from scipy.stats import poisson

from finrisk.graph._params import Params
from finrisk.graph.alerts import Alert
from finrisk.graph.build import TransferGraph


class ExpandParams(Params):
    """When an account joins a detected group (see the module docstring)."""

    min_links: int = Field(default=2, ge=1)
    max_p_value: float = Field(default=1e-4, gt=0.0, le=1.0)
    rounds: int = Field(default=3, ge=1)


def _adjacency(g: TransferGraph) -> sp.csr_matrix:
    """Undirected 0/1 adjacency over distinct counterparty pairs (self transfers dropped)."""
    src, dst = g.src.astype(np.int64), g.dst.astype(np.int64)
    keep = src != dst
    lo, hi = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep])
    key = np.unique(lo * g.n_nodes + hi)
    a, b = key // g.n_nodes, key % g.n_nodes
    ones = np.ones(2 * len(key), dtype=np.int32)
    return sp.csr_matrix((ones, (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(g.n_nodes, g.n_nodes))


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
    adj = _adjacency(g)
    deg = np.asarray(adj.sum(axis=1)).ravel().astype(np.float64)
    slots = float(deg.sum())
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
        group_slots = np.asarray(member @ deg).ravel()
        expected = deg[c] * group_slots[r] / slots
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
