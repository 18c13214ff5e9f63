from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from finrisk.graph import (
    PropagationParams,
    RingParams,
    build_identity_graph,
    find_rings,
    network_risk,
    personalised_pagerank,
)
from finrisk.graph.build import build_transfer_graph
from finrisk.graph.identity import identity_graph_from_frames

DAY = 86400


def test_ring_over_shared_device_and_phone_with_bad_and_new_members() -> None:
    links = [("a1", "device_id", "D1"), ("a2", "device_id", "D1"), ("a2", "phone", "P1"), ("a3", "phone", "P1"),
             ("b1", "device_id", "D9")]
    acc, kind, val = zip(*links, strict=True)
    first_seen = pd.Series({"a1": 100 * DAY, "a2": 99 * DAY, "a3": 10 * DAY, "b1": 1})
    ig = build_identity_graph(list(acc), list(kind), list(val), first_seen=first_seen)
    (ring,) = find_rings(ig, RingParams(min_size=3, new_account_age=5 * DAY), bad={"a3"})
    assert set(ring.nodes) == {"a1", "a2", "a3"}
    assert ring.details["bad_members"] == 1 and ring.details["new_accounts"] == 2
    assert ring.details["shared_kinds"] == ["device_id", "phone"]
    evidence = ig.link_frame(ring.edges)
    assert set(evidence["account"]) == {"a1", "a2", "a3"}


def test_hub_identifier_does_not_glue_a_giant_ring() -> None:
    rows = [(f"u{i}", "ip", "PUBLIC_WIFI") for i in range(50)] + [("u1", "device_id", "D"), ("u2", "device_id", "D"),
                                                                   ("u3", "device_id", "D")]
    acc, kind, val = zip(*rows, strict=True)
    ig = build_identity_graph(list(acc), list(kind), list(val))
    (ring,) = find_rings(ig, RingParams(max_accounts_per_identifier=20))
    assert set(ring.nodes) == {"u1", "u2", "u3"} and ring.details["shared_kinds"] == ["device_id"]
    (giant,) = find_rings(ig, RingParams(max_accounts_per_identifier=100))
    assert len(giant.nodes) == 50


def test_identity_links_from_event_tables_skip_empty_identifiers() -> None:
    frame = pd.DataFrame({"account_id": ["a", "b", "c"], "device_id": ["D", "D", None], "phone": ["", "", "P"],
                          "event_time": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True)})
    ig = identity_graph_from_frames([frame])
    assert len(ig.link_account) == 3 and sorted(k for k, _ in ig.identifiers.tolist()) == ["device_id", "phone"]
    assert ig.first_seen.min() > 0


def test_personalised_pagerank_matches_networkx() -> None:
    rng = np.random.default_rng(5)
    edges = {(int(a), int(b)) for a, b in rng.integers(0, 60, size=(200, 2)) if a != b}
    src, dst = zip(*sorted(edges), strict=True)
    g = build_transfer_graph([f"n{s}" for s in src], [f"n{d}" for d in dst], [1.0] * len(src), [0] * len(src))
    index = g.node_index()
    seeds = [index["n1"], index["n2"]]
    undirected = nx.Graph()
    undirected.add_nodes_from(range(g.n_nodes))
    undirected.add_edges_from(zip(g.src.tolist(), g.dst.tolist(), strict=True))
    adj = nx.to_scipy_sparse_array(undirected, nodelist=range(g.n_nodes))
    ours = personalised_pagerank(adj, seeds, PropagationParams(tol=1e-12, max_iter=500))
    theirs = nx.pagerank(undirected, alpha=0.85, personalization={s: 1.0 for s in seeds}, tol=1e-12, max_iter=500)
    np.testing.assert_allclose(ours, [theirs[i] for i in range(g.n_nodes)], atol=1e-6)


def test_network_risk_is_highest_next_to_the_bad_account() -> None:
    g = build_transfer_graph(["bad", "near", "mid"], ["near", "mid", "far"], [1.0, 1.0, 1.0], [1, 2, 3])
    ig = build_identity_graph(["bad", "twin"], ["device_id", "device_id"], ["D", "D"])
    risk = network_risk({"bad"}, transfers=g, identities=ig)
    assert risk["near"] > risk["mid"] > risk["far"]
    assert risk["twin"] > risk["far"]
    assert abs(np.mean(list(risk.values())) - 1.0) < 1e-9


def test_network_risk_kernel_matches_pagerank_on_the_assembled_matrix() -> None:
    rng = np.random.default_rng(9)
    names = [f"n{i}" for i in range(80)]
    src, dst = rng.integers(0, 80, 300), rng.integers(0, 80, 300)
    keep = src != dst
    g = build_transfer_graph([names[i] for i in src[keep]], [names[i] for i in dst[keep]],
                             np.ones(int(keep.sum())), np.arange(int(keep.sum())))
    ig = build_identity_graph(["n1", "n2", "x9", "n5", "x9"], ["device_id"] * 5, ["D", "D", "D", "E", "E"])
    p = PropagationParams(tol=1e-12, max_iter=500)
    risk = network_risk({"n3", "x9"}, transfers=g, identities=ig, params=p)
    order = [*g.nodes.tolist(), "x9"]  # accounts (transfer nodes first), then identifiers D and E
    size = len(order) + 2
    rows = [*g.src.tolist(), order.index("n1"), order.index("n2"), order.index("x9"), order.index("n5"),
            order.index("x9")]
    cols = [*g.dst.tolist(), size - 2, size - 2, size - 2, size - 1, size - 1]
    import scipy.sparse as sp

    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    expected = personalised_pagerank(adj, [order.index("n3"), order.index("x9")], p)[:len(order)]
    expected = expected / expected.mean()
    np.testing.assert_allclose([risk[n] for n in order], expected, rtol=1e-9)
