"""Risk propagation: personalised PageRank from known-bad entities over transfers and shared identifiers.

The stationary scores solve a linear system, ``(I - d W) x = r`` (``W`` the walk over the undirected graph,
``r`` the restart at the seeds; dangling mass returns to the seeds, which only rescales ``x``). With
``x = D^1/2 u`` the system is symmetric positive definite, so conjugate gradients solve it: 18 products
with the graph on the scale benchmark's worlds, where power iteration needs about 85 to stop at an L1
change of 1e-6 (it contracts by the damping, 0.85, per step; CG by ``(sqrt(k) - 1) / (sqrt(k) + 1)`` with
``k <= (1 + d) / (1 - d)``, 0.56).
Nodes with one link and no restart mass (an account's own phone, a device nobody shares) are folded into
their neighbour exactly before solving: they only send back ``d`` of what they receive. On the scale
benchmark's world that removes three nodes in four (146,153 of 196,955 at 50,000 accounts).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from finrisk._jit import kernel
from finrisk.errors import GraphInputError
from finrisk.graph._params import Params
from finrisk.graph.build import FloatArray, Int32Array, IntArray, TransferGraph
from finrisk.graph.identity import IdentityGraph


class PropagationParams(Params):
    """Restart probability is ``1 - damping``. ``tol`` bounds the L1 error of the scores (as a distribution
    summing to 1; a guaranteed bound, from the residual, not a last-step change); ``max_iter`` caps the
    conjugate-gradient steps."""

    damping: float = Field(default=0.85, gt=0.0, lt=1.0)
    tol: float = Field(default=1e-6, gt=0.0)
    max_iter: int = Field(default=100, ge=1)
    max_accounts_per_identifier: int = Field(default=20, ge=2)


def personalised_pagerank(
    adj: sp.spmatrix, seeds: npt.ArrayLike, params: PropagationParams | None = None,
) -> FloatArray:
    """Stationary scores of a random walk on ``adj`` (treated as undirected, weights kept) restarting at
    ``seeds``; they sum to 1."""
    coo = sp.coo_matrix(adj, dtype=np.float64)
    coo.eliminate_zeros()
    n = coo.shape[0]
    if n == 0:
        return np.zeros(0)
    return _pagerank_over_edges(coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data, n,
                                np.asarray(seeds, dtype=np.int64), params or PropagationParams())


def _pagerank_over_edges(ends_a: IntArray, ends_b: IntArray, weight: FloatArray | None, size: int,
                         seeds: IntArray, p: PropagationParams) -> FloatArray:
    """Personalised PageRank over undirected (weighted) edges: leaves folded, CG on the symmetric system."""
    if not len(seeds):
        raise GraphInputError("seeds", "must name at least one known-bad entity present in the graph", "none")
    d = p.damping
    w = np.zeros(0) if weight is None or bool((weight == 1.0).all()) else np.asarray(weight, dtype=np.float64)
    restart = np.zeros(size)
    restart[seeds] = 1.0 / len(seeds)
    # Work arrays are numpy's (huge pages: first touch ~4x cheaper than numba's own allocation, see
    # graph/_bucket_sort.py), filled by the kernels.
    degree, parent, leaf_weight = np.zeros(size), np.full(size, -1, dtype=np.int64), np.zeros(size)
    _fold_leaves(ends_a, ends_b, w, restart, degree, parent, leaf_weight, np.zeros(size, dtype=np.int32))
    leaves = np.flatnonzero(parent >= 0)
    folded = np.bincount(parent[leaves], leaf_weight[leaves], minlength=size)
    nodes = np.flatnonzero((degree > 0) & (parent < 0))
    nodes = nodes[np.argsort(-degree[nodes], kind="stable")]  # busiest first: the product's reads hit cache
    local = np.full(size, -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))
    scale = 1.0 / np.sqrt(degree[nodes])
    x = np.zeros(size)
    if len(nodes):
        indptr, indices, weights = _place_edges(ends_a, ends_b, w, local, len(nodes))
        u = _conjugate_gradients(indptr, indices, weights, scale, 1.0 - d * d * folded[nodes] / degree[nodes],
                                 restart[nodes] * scale, d, p)
        x[nodes] = u / scale
    isolated = degree == 0
    x[isolated] = restart[isolated]
    x[leaves] = d * leaf_weight[leaves] * x[parent[leaves]] / degree[parent[leaves]]
    # Dangling (isolated) seeds hand their mass back to the restart: the solution only changes scale.
    x *= (1.0 - d) / (1.0 - d * float(x[isolated].sum()))
    return x


def _conjugate_gradients(indptr: IntArray, indices: Int32Array, weights: FloatArray, scale: FloatArray,
                         diag: FloatArray, rhs: FloatArray, d: float, p: PropagationParams) -> FloatArray:
    """Solve ``(diag - d S) u = rhs`` with ``S = D^-1/2 A D^-1/2`` (``A`` the kept undirected edges).

    Stops when the residual, taken back to the scores' scale (``D^1/2 r``), has L1 norm at most
    ``(1 - d) tol / (1 + d)``: the walk's operator has L1 norm at most ``d`` (folding leaves keeps that),
    so the scores' L1 error is at most ``|D^1/2 r|_1 / (1 - d)``, and folded leaves add at most ``d`` times it.
    """
    m = len(rhs)
    root_degree = 1.0 / scale
    stop = (1.0 - d) * p.tol / (1.0 + d)
    u = np.zeros(m)
    r = rhs.copy()
    direction = r.copy()
    q = np.empty(m)
    z = np.empty(m)  # the product's scratch, reused: not a fresh 10 MB (at 1 M accounts) per step
    rr = float(np.square(r).sum())
    residual = float(np.abs(r * root_degree).sum())
    for _ in range(p.max_iter):
        if residual <= stop:
            break
        curvature = _product(indptr, indices, weights, scale, diag, d, direction, q, z)
        rr, residual = _advance(u, r, direction, q, rr / curvature, rr, root_degree)
    return u


@kernel
def _fold_leaves(ends_a: IntArray, ends_b: IntArray, w: FloatArray, restart: FloatArray, degree: FloatArray,
                 parent: IntArray, leaf_weight: FloatArray, links: Int32Array) -> None:  # pragma: no cover - compiled
    """Degree of every node (``w`` empty: unit weights) and, for each leaf, its one neighbour (``parent``,
    -1 for other nodes) and link weight, into the given zeroed arrays (``parent`` all -1). A leaf has one
    link, no restart mass and a neighbour with more links (two linked leaves are a component of their own and
    stay)."""
    for e in range(len(ends_a)):
        weight = w[e] if len(w) else 1.0
        degree[ends_a[e]] += weight
        degree[ends_b[e]] += weight
        links[ends_a[e]] += 1
        links[ends_b[e]] += 1
    for e in range(len(ends_a)):
        a = ends_a[e]
        b = ends_b[e]
        leaf_a = links[a] == 1 and restart[a] == 0.0
        leaf_b = links[b] == 1 and restart[b] == 0.0
        if leaf_a and not leaf_b:
            parent[a] = b
            leaf_weight[a] = w[e] if len(w) else 1.0
        elif leaf_b and not leaf_a:
            parent[b] = a
            leaf_weight[b] = w[e] if len(w) else 1.0


def _place_edges(ends_a: IntArray, ends_b: IntArray, w: FloatArray, local: IntArray,
                 m: int) -> tuple[IntArray, Int32Array, FloatArray]:
    """CSR rows over the kept nodes (``local`` id, -1: folded) with each edge stored from both ends: a
    counting sort (one pass to count, one to place; int32 columns) into numpy's arrays. A ``scipy.sparse``
    assembly also sorts and sums duplicates, which the product does not need."""
    indptr = np.zeros(m + 1, dtype=np.int64)
    _count_rows(ends_a, ends_b, local, indptr)
    indices = np.empty(int(indptr[m]), dtype=np.int32)
    weights = np.empty(int(indptr[m]) if len(w) else 0)
    _fill_rows(ends_a, ends_b, w, local, indptr, indices, weights)
    return indptr, indices, weights


@kernel
def _count_rows(ends_a: IntArray, ends_b: IntArray, local: IntArray,
                indptr: IntArray) -> None:  # pragma: no cover - compiled
    """Row starts of :func:`_place_edges` (``indptr`` zeroed)."""
    m = len(indptr) - 1
    for e in range(len(ends_a)):
        a = local[ends_a[e]]
        b = local[ends_b[e]]
        if a >= 0 and b >= 0:
            indptr[a + 1] += 1
            indptr[b + 1] += 1
    for i in range(m):
        indptr[i + 1] += indptr[i]


@kernel
def _fill_rows(ends_a: IntArray, ends_b: IntArray, w: FloatArray, local: IntArray, indptr: IntArray,
               indices: Int32Array, weights: FloatArray) -> None:  # pragma: no cover - compiled
    """Columns (and weights) of :func:`_place_edges`' rows."""
    fill = indptr[:-1].copy()
    for e in range(len(ends_a)):
        a = local[ends_a[e]]
        b = local[ends_b[e]]
        if a < 0 or b < 0:
            continue
        if len(w):
            weights[fill[a]] = w[e]
            weights[fill[b] + (a == b)] = w[e]
        indices[fill[a]] = b
        fill[a] += 1  # before the other end: a self-loop takes two slots of its row
        indices[fill[b]] = a
        fill[b] += 1


@kernel
def _product(  # pragma: no cover - compiled; checked against networkx
    indptr: IntArray, indices: Int32Array, weights: FloatArray, scale: FloatArray, diag: FloatArray, d: float,
    v: FloatArray, out: FloatArray, z: FloatArray,
) -> float:
    """``out = (diag - d S) v`` with ``S = D^-1/2 A D^-1/2`` read from the CSR rows of ``A`` (``weights`` empty:
    all 1), returning ``v . out``. One pass, no matrix values stored for unweighted graphs: scipy's product
    over an assembled ``S`` plus numpy's dot took longer (and the dot went through a multithreaded BLAS that
    spins on a busy machine)."""
    for i in range(len(v)):
        z[i] = v[i] * scale[i]
    total = 0.0
    weighted = len(weights) > 0
    for i in range(len(v)):
        acc = 0.0
        if weighted:
            for k in range(indptr[i], indptr[i + 1]):
                acc += weights[k] * z[indices[k]]
        else:
            for k in range(indptr[i], indptr[i + 1]):
                acc += z[indices[k]]
        value = diag[i] * v[i] - d * scale[i] * acc
        out[i] = value
        total += v[i] * value
    return total


@kernel
def _advance(u: FloatArray, r: FloatArray, direction: FloatArray, q: FloatArray, step: float, rr: float,
             root_degree: FloatArray) -> tuple[float, float]:  # pragma: no cover - compiled
    """One conjugate-gradient update in place; returns the new ``r . r`` and the L1 residual on the scores'
    scale (``|D^1/2 r|_1``, the stopping measure)."""
    rr_next = 0.0
    residual = 0.0
    for i in range(len(u)):
        u[i] += step * direction[i]
        r[i] -= step * q[i]
        rr_next += r[i] * r[i]
        residual += abs(r[i] * root_degree[i])
    beta = rr_next / rr if rr > 0 else 0.0
    for i in range(len(u)):
        direction[i] = r[i] + beta * direction[i]
    return rr_next, residual


def network_risk(
    bad: Iterable[Any], *, transfers: TransferGraph | None = None, identities: IdentityGraph | None = None,
    params: PropagationParams | None = None,
) -> dict[Any, float]:
    """Network risk per account: PageRank from ``bad`` over transfers and non-hub shared identifiers.

    Scores are rescaled so the mean account scores 1.0 (above 1: closer to known-bad than average).
    """
    p = params or PropagationParams()
    names = np.asarray(transfers.nodes if transfers is not None else np.zeros(0), dtype=object)
    n_tx = len(names)
    id_rows = np.zeros(0, dtype=np.int64)
    shared = identities.shared if identities is not None else None
    if (identities is not None and identities.account_numbers is not None and shared is not None
            and transfers is not None and shared is transfers.accounts):
        # Both graphs were numbered together (``SharedAccounts``, made by the scan's build): no ids to match.
        id_rows = identities.account_numbers
        names = shared.names
    elif identities is not None:
        # One factorisation of both id lists (transfer nodes keep their ids, accounts only in the identity
        # graph come next): 0.4 s CPU at 1 M accounts where ``Index.get_indexer`` took 1.0 s.
        codes, found = pd.factorize(np.concatenate([names, np.asarray(identities.accounts, dtype=object)]))
        id_rows = codes[n_tx:].astype(np.int64)
        names = np.asarray(found, dtype=object)
    n_acc = len(names)
    size = n_acc + (len(identities.identifiers) if identities is not None else 0)
    ends_a: list[IntArray] = []
    ends_b: list[IntArray] = []
    if transfers is not None and transfers.n_edges:
        ends_a.append(transfers.src.astype(np.int64))
        ends_b.append(transfers.dst.astype(np.int64))
    if identities is not None and len(identities.link_account):
        keep = identities.identifier_degree()[identities.link_identifier] <= p.max_accounts_per_identifier
        ends_a.append(id_rows[identities.link_account[keep]])
        ends_b.append(n_acc + identities.link_identifier[keep])
    a = np.concatenate(ends_a) if ends_a else np.zeros(0, np.int64)
    b = np.concatenate(ends_b) if ends_b else np.zeros(0, np.int64)
    seeds = np.flatnonzero(pd.Series(names, dtype=object, copy=False).isin(list(bad)).to_numpy()).astype(np.int64)
    if size == 0:
        return {}
    scores = _pagerank_over_edges(a, b, None, size, seeds, p)[:n_acc]
    mean = float(scores.mean()) if n_acc else 1.0
    scaled = scores / mean if mean > 0 else scores
    return dict(zip(names.tolist(), scaled.tolist(), strict=True))


def group_scores(members: Iterable[Any], risk: dict[Any, float]) -> dict[str, float]:
    """Mean and max network risk of a group (a ring, a loop)."""
    vals = np.asarray([risk.get(m, 0.0) for m in members], dtype=np.float64)
    if not len(vals):
        return {"mean": 0.0, "max": 0.0}
    return {"mean": float(vals.mean()), "max": float(vals.max())}
