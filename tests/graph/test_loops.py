from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from finrisk.errors import GraphInputError
from finrisk.graph import LoopParams, build_transfer_graph, find_loops


def _hops(cycle: tuple[str, ...] | list[str]) -> frozenset[tuple[str, str]]:
    """A directed cycle as its set of hops (independent of the node it is listed from)."""
    return frozenset(zip(cycle, [*cycle[1:], cycle[0]], strict=True))


def _loops(edges: list[tuple[str, str, float, int]], **params: object) -> set[tuple[str, ...]]:
    src, dst, amount, time = zip(*edges, strict=True)
    g = build_transfer_graph(list(src), list(dst), list(amount), list(time))
    return {a.nodes for a in find_loops(g, LoopParams(**params))}  # type: ignore[arg-type]


def test_time_respecting_loop_is_found_once_from_its_first_hop() -> None:
    edges = [("a", "b", 100.0, 1), ("b", "c", 98.0, 2), ("c", "d", 96.0, 3), ("d", "a", 95.0, 4),
             ("x", "y", 5.0, 1)]
    assert _loops(edges) == {("a", "b", "c", "d")}


def test_hops_out_of_time_order_do_not_make_a_loop_unless_order_is_off() -> None:
    edges = [("a", "b", 100.0, 2), ("b", "c", 100.0, 5), ("c", "a", 100.0, 3)]
    assert _loops(edges) == set()
    assert _loops(edges, ordered=False, window=10) == {("a", "b", "c")}


def test_amount_tolerance_window_and_length_bound_each_break_the_loop() -> None:
    base = [("a", "b", 100.0, 1), ("b", "c", 100.0, 2), ("c", "a", 100.0, 3)]
    assert _loops(base, amount_tolerance=0.0) == {("a", "b", "c")}
    assert _loops([*base[:2], ("c", "a", 80.0, 3)], amount_tolerance=0.1) == set()
    assert _loops([*base[:2], ("c", "a", 110.0, 3)], amount_tolerance=0.1) == set()  # money does not grow
    assert _loops([*base[:2], ("c", "a", 110.0, 3)], max_increase=0.2) == {("a", "b", "c")}
    assert _loops(base, window=1) == set()
    assert _loops(base, min_intermediaries=3) == set()
    ring = [(f"n{i}", f"n{(i + 1) % 8}", 10.0, i) for i in range(8)]  # 7 intermediaries: too long
    assert _loops(ring) == set()
    assert _loops(ring, max_intermediaries=7) == {tuple(f"n{i}" for i in range(8))}


def test_two_node_back_and_forth_is_not_a_loop_by_default() -> None:
    assert _loops([("a", "b", 10.0, 1), ("b", "a", 10.0, 2)]) == set()


def test_unordered_mode_matches_networkx_simple_cycles() -> None:
    rng = np.random.default_rng(3)
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, 40, size=(160, 2)) if a != b}
    edges = [(f"v{a:02d}", f"v{b:02d}", 50.0, int(rng.integers(0, 100))) for a, b in sorted(pairs)]
    found = _loops(edges, ordered=False, window=1000, amount_tolerance=0.0)
    graph = nx.DiGraph([(a, b) for a, b, _, _ in edges])
    expected = {_hops(c) for c in nx.simple_cycles(graph, length_bound=7) if len(c) >= 3}
    assert {_hops(c) for c in found} == expected
    assert len(found) == len(expected) > 20


Hops = frozenset[tuple[str, str]]


def _brute_force_ordered(edges: list[tuple[str, str, float, int]], window: int, tol: float) -> set[Hops]:
    graph = nx.DiGraph()
    for a, b, amount, t in edges:
        graph.add_edge(a, b, amount=amount, t=t)
    out: set[Hops] = set()
    for cycle in nx.simple_cycles(graph, length_bound=7):
        if len(cycle) < 3:
            continue
        for r in range(len(cycle)):
            nodes = cycle[r:] + cycle[:r]
            hops = [graph.edges[u, v] for u, v in itertools.pairwise([*nodes, nodes[0]])]
            times = [h["t"] for h in hops]
            amounts = [h["amount"] for h in hops]
            ordered = all(t2 > t1 for t1, t2 in itertools.pairwise(times))
            close = all(a1 * (1 - tol) - 1e-9 <= a2 <= a1 * 1.01 + 1e-9 for a1, a2 in itertools.pairwise(amounts))
            if ordered and close and times[-1] - times[0] <= window:
                out.add(_hops(nodes))
    return out


def test_time_respecting_mode_matches_a_brute_force_oracle() -> None:
    rng = np.random.default_rng(11)
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, 30, size=(200, 2)) if a != b}
    edges = [(f"v{a:02d}", f"v{b:02d}", float(rng.choice([100.0, 100.0, 97.0, 150.0])), int(rng.integers(0, 60)))
             for a, b in sorted(pairs)]
    found = _loops(edges, window=40, amount_tolerance=0.05)
    expected = _brute_force_ordered(edges, 40, 0.05)
    assert {_hops(c) for c in found} == expected
    assert len(expected) >= 3


def test_evidence_edges_are_the_loop_hops_in_order() -> None:
    g = build_transfer_graph(["a", "b", "c"], ["b", "c", "a"], [10.0, 10.0, 10.0], [1, 2, 3])
    (alert,) = find_loops(g)
    frame = g.edge_frame(alert.edges)
    assert frame["src"].tolist() == ["a", "b", "c"] and frame["dst"].tolist() == ["b", "c", "a"]
    assert alert.details["hops"] == 3 and alert.details["start_time"] == 1 and alert.details["end_time"] == 3


def test_bad_parameters_name_field_and_value() -> None:
    with pytest.raises(GraphInputError, match=r"LoopParams.window' parameter is invalid: input should be greater "
                                              r"than 0. Got -5 instead"):
        LoopParams(window=-5)
    with pytest.raises(GraphInputError, match="must not exceed max_intermediaries"):
        find_loops(build_transfer_graph([], [], [], []), LoopParams(min_intermediaries=5, max_intermediaries=3))


def test_band_search_matches_searchsorted_on_the_packed_key() -> None:
    import numpy as np

    from finrisk.graph._joins import segment_range

    rng = np.random.default_rng(2)
    src = np.sort(rng.integers(0, 40, 500))
    values = np.concatenate([np.sort(rng.integers(0, 1000, int((src == u).sum()))) for u in range(40)])
    ptr = np.searchsorted(src, np.arange(41)).astype(np.int64)
    node, low = rng.integers(0, 40, 300), rng.integers(-50, 1000, 300)
    high = low + rng.integers(0, 200, 300)
    lo, hi = segment_range(values, ptr, node, low, high)
    key = src * 10_000 + values
    assert lo.tolist() == np.searchsorted(key, node * 10_000 + np.maximum(low, 0), side="left").tolist()
    assert hi.tolist() == np.searchsorted(key, node * 10_000 + high, side="right").tolist()
