from __future__ import annotations

from finrisk.graph import ChainParams, build_transfer_graph, find_chains


def test_chain_of_near_equal_transfers_is_one_alert_per_group() -> None:
    edges = [("a", "b", 1000.0, 1), ("b", "c", 990.0, 2), ("c", "d", 985.0, 3), ("d", "e", 980.0, 4),
             ("x", "y", 1000.0, 1), ("y", "z", 1000.0, 2)]
    src, dst, amount, time = zip(*edges, strict=True)
    g = build_transfer_graph(list(src), list(dst), list(amount), list(time))
    (alert,) = find_chains(g, ChainParams(min_hops=3))
    assert set(alert.nodes) == {"a", "b", "c", "d", "e"} and alert.details["transfers"] == 4
    assert len(find_chains(g, ChainParams(min_hops=2))) == 2


def test_growing_amounts_and_out_of_order_hops_break_the_chain() -> None:
    grow = build_transfer_graph(["a", "b", "c"], ["b", "c", "d"], [100.0, 150.0, 200.0], [1, 2, 3])
    assert find_chains(grow, ChainParams(min_hops=3)) == []
    shuffled = build_transfer_graph(["a", "b", "c"], ["b", "c", "d"], [100.0, 100.0, 100.0], [3, 1, 2])
    assert find_chains(shuffled, ChainParams(min_hops=3)) == []
    assert len(find_chains(shuffled, ChainParams(min_hops=3, ordered=False, window=10))) == 1


def test_split_hops_only_chains_follow_pairs_paid_in_several_legs() -> None:
    # a -> b and b -> c each split into 3 legs of the same sum; x -> y -> z pays it once per hop.
    edges = [("a", "b", 500.0, 10 + i) for i in range(3)] + [("b", "c", 500.0, 100 + i) for i in range(3)]
    edges += [("x", "y", 500.0, 10), ("y", "z", 500.0, 20), ("a", "b", 500.0, 5000)]
    src, dst, amount, time = zip(*edges, strict=True)
    g = build_transfer_graph(list(src), list(dst), list(amount), list(time))
    assert len(find_chains(g, ChainParams(min_hops=2, window=200))) == 2
    (alert,) = find_chains(g, ChainParams(min_hops=2, window=200, min_legs=2, leg_window=50))
    assert set(alert.nodes) == {"a", "b", "c"}
    assert sorted(g.time[list(alert.edges)].tolist()) == [10, 11, 12, 100, 101, 102]  # the lone late leg is out
    assert find_chains(g, ChainParams(min_hops=2, window=200, min_legs=4, leg_window=50)) == []
