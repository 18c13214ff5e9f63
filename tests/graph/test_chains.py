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
