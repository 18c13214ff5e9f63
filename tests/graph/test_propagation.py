"""Risk propagation solved by conjugate gradients with leaves folded: checked against a plain power iteration
of the walk (the method it replaced) and against networkx, including the shapes the folding treats apart."""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from finrisk.graph import PropagationParams, build_identity_graph, network_risk, personalised_pagerank
from finrisk.graph.build import build_transfer_graph


def power_iteration(adj: sp.spmatrix, seeds: list[int], damping: float = 0.85) -> np.ndarray:
    """The walk on ``adj + adj.T`` restarting at ``seeds``, dangling mass back to the seeds, iterated to
    machine precision."""
    a = sp.csr_matrix(adj, dtype=np.float64)
    sym = (a + a.T).tocsr()
    degree = np.asarray(sym.sum(axis=0)).ravel()
    inv = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    restart = np.zeros(a.shape[0])
    restart[seeds] = 1.0 / len(seeds)
    x = restart.copy()
    for _ in range(5000):
        nxt = damping * (sym @ (x * inv) + x[degree == 0].sum() * restart) + (1 - damping) * restart
        if np.abs(nxt - x).sum() < 1e-15:
            return nxt
        x = nxt
    raise AssertionError("reference did not converge")


def awkward_graph() -> tuple[sp.csr_matrix, list[int]]:
    """Random transfers plus leaves (one-link nodes), a chain of leaves' parents, a pair of leaves alone,
    a self-loop, repeated edges and an isolated seed."""
    rng = np.random.default_rng(3)
    n = 300
    rows = list(rng.integers(0, 200, 600))
    cols = list(rng.integers(0, 200, 600))
    rows += list(range(200, 280))  # leaves hanging off random nodes
    cols += list(rng.integers(0, 200, 80))
    rows += [280, 5, 5, 7]  # a pair of leaves (280-281), a self-loop, a repeated edge
    cols += [281, 5, 9, 9]
    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    seeds = [3, 4, 210, 280, 299]  # a leaf seed, a seed in the lone pair, an isolated seed (299)
    return adj, seeds


def test_conjugate_gradients_match_power_iteration_on_leaves_pairs_loops_and_isolated_seeds() -> None:
    adj, seeds = awkward_graph()
    expected = power_iteration(adj, seeds)
    tight = personalised_pagerank(adj, seeds, PropagationParams(tol=1e-13, max_iter=500))
    np.testing.assert_allclose(tight, expected, rtol=1e-9, atol=1e-15)
    assert abs(tight.sum() - 1.0) < 1e-12


def test_default_tolerance_bounds_the_l1_error() -> None:
    adj, seeds = awkward_graph()
    expected = power_iteration(adj, seeds)
    for tol in (1e-3, 1e-6):
        got = personalised_pagerank(adj, seeds, PropagationParams(tol=tol))
        assert np.abs(got - expected).sum() <= tol
    assert np.abs(personalised_pagerank(adj, seeds, PropagationParams(tol=1e-2, max_iter=1)) - expected).sum() > 1e-3


def test_weighted_links_match_networkx() -> None:
    rng = np.random.default_rng(11)
    g = nx.Graph()
    for a, b in rng.integers(0, 50, size=(150, 2)):
        if a != b:
            g.add_edge(int(a), int(b), weight=float(rng.uniform(0.5, 3.0)))
    g.add_edge(60, 0, weight=2.5)  # a weighted leaf
    nodes = sorted(g.nodes)
    adj = nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight")
    upper = sp.triu(sp.csr_matrix(adj))  # each undirected link once: the walk reads adj + adj.T
    seeds = [nodes.index(1), nodes.index(2)]
    ours = personalised_pagerank(upper, seeds, PropagationParams(tol=1e-12))
    theirs = nx.pagerank(g, personalization={1: 1.0, 2: 1.0}, weight="weight", tol=1e-13, max_iter=1000)
    np.testing.assert_allclose(ours, [theirs[v] for v in nodes], rtol=1e-7)


def test_network_risk_over_transfers_and_identities_matches_power_iteration() -> None:
    rng = np.random.default_rng(4)
    names = [f"a{i}" for i in range(120)]
    src, dst = rng.integers(0, 100, 400), rng.integers(0, 100, 400)
    keep = src != dst
    g = build_transfer_graph([names[i] for i in src[keep]], [names[i] for i in dst[keep]],
                             np.ones(int(keep.sum())), np.arange(int(keep.sum())))
    # every account its own phone (a leaf), a few shared devices, one identity-only account
    accounts = [*names[:100], "a1", "a2", "a3", "only_id"]
    kinds = ["phone"] * 100 + ["device_id"] * 4
    values = [f"p{i}" for i in range(100)] + ["D", "D", "D", "D"]
    ig = build_identity_graph(accounts, kinds, values)
    risk = network_risk({"a7", "only_id", "not_there"}, transfers=g, identities=ig,
                        params=PropagationParams(tol=1e-13, max_iter=500))
    order = [*g.nodes.tolist(), "only_id"]
    size = len(order) + 101  # accounts, then phones p0..p99 and device D
    rows = [*g.src.tolist(), *(order.index(a) for a in accounts)]
    cols = [*g.dst.tolist(), *(len(order) + i for i in range(100)), *([len(order) + 100] * 4)]
    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    expected = power_iteration(adj, [order.index("a7"), order.index("only_id")])[:len(order)]
    expected = expected / expected.mean()
    np.testing.assert_allclose([risk[n] for n in order], expected, rtol=1e-8)
