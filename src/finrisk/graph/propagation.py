"""Risk propagation: personalised PageRank from known-bad entities over transfers and shared identifiers.

Power iteration on a column-stochastic ``scipy.sparse`` matrix; dangling nodes return their mass to the
seeds, so scores stay a distribution over the graph and are comparable between runs of the same graph.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from finrisk.errors import GraphInputError
from finrisk.graph._params import Params
from finrisk.graph.build import FloatArray, TransferGraph
from finrisk.graph.identity import IdentityGraph


class PropagationParams(Params):
    """Restart probability is ``1 - damping``; iteration stops when the L1 change falls below ``tol``."""

    damping: float = Field(default=0.85, gt=0.0, lt=1.0)
    tol: float = Field(default=1e-6, gt=0.0)
    max_iter: int = Field(default=100, ge=1)
    max_accounts_per_identifier: int = Field(default=20, ge=2)


def personalised_pagerank(
    adj: sp.spmatrix, seeds: npt.ArrayLike, params: PropagationParams | None = None,
) -> FloatArray:
    """Stationary scores of a random walk on ``adj`` (treated as undirected) restarting at ``seeds``."""
    p = params or PropagationParams()
    a = sp.csr_matrix(adj, dtype=np.float64)
    n = a.shape[0]
    seed_idx = np.asarray(seeds, dtype=np.int64)
    if n == 0:
        return np.zeros(0)
    if not len(seed_idx):
        raise GraphInputError("seeds", "must name at least one known-bad entity present in the graph", "none")
    sym = (a + a.T).tocsr()
    out = np.asarray(sym.sum(axis=1)).ravel()
    inv = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
    walk = (sp.diags(inv) @ sym).T.tocsr()  # column-stochastic transpose: x_next = walk @ x
    restart = np.zeros(n)
    restart[seed_idx] = 1.0 / len(seed_idx)
    dangling = out == 0
    x = restart.copy()
    for _ in range(p.max_iter):
        nxt = p.damping * (walk @ x + x[dangling].sum() * restart) + (1.0 - p.damping) * restart
        if np.abs(nxt - x).sum() < p.tol:
            x = nxt
            break
        x = nxt
    return np.asarray(x, dtype=np.float64)


def network_risk(
    bad: Iterable[Any], *, transfers: TransferGraph | None = None, identities: IdentityGraph | None = None,
    params: PropagationParams | None = None,
) -> dict[Any, float]:
    """Network risk per account: PageRank from ``bad`` over transfers and non-hub shared identifiers.

    Scores are rescaled so the mean account scores 1.0 (above 1: closer to known-bad than average).
    """
    p = params or PropagationParams()
    parts = [transfers.nodes if transfers else np.zeros(0, dtype=object),
             identities.accounts if identities else np.zeros(0, dtype=object)]
    names = pd.Index(np.concatenate(parts)).unique()
    n_acc = len(names)
    blocks: list[sp.csr_matrix] = []
    n_id = len(identities.identifiers) if identities else 0
    size = n_acc + n_id
    if transfers is not None and transfers.n_edges:
        remap = names.get_indexer(transfers.nodes)
        blocks.append(sp.csr_matrix((np.ones(transfers.n_edges), (remap[transfers.src], remap[transfers.dst])),
                                    shape=(size, size)))
    if identities is not None and len(identities.link_account):
        remap = names.get_indexer(identities.accounts)
        keep = identities.identifier_degree()[identities.link_identifier] <= p.max_accounts_per_identifier
        rows = remap[identities.link_account[keep]]
        cols = n_acc + identities.link_identifier[keep]
        blocks.append(sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size)))
    adj = sum(blocks[1:], blocks[0]) if blocks else sp.csr_matrix((size, size))
    bad_idx = names.get_indexer(pd.Index(list(bad)))
    scores = personalised_pagerank(adj, bad_idx[bad_idx >= 0], p)[:n_acc]
    mean = float(scores.mean()) if n_acc else 1.0
    scaled = scores / mean if mean > 0 else scores
    return dict(zip(names.tolist(), scaled.tolist(), strict=True))


def group_scores(members: Iterable[Any], risk: dict[Any, float]) -> dict[str, float]:
    """Mean and max network risk of a group (a ring, a loop)."""
    vals = np.asarray([risk.get(m, 0.0) for m in members], dtype=np.float64)
    if not len(vals):
        return {"mean": 0.0, "max": 0.0}
    return {"mean": float(vals.mean()), "max": float(vals.max())}
