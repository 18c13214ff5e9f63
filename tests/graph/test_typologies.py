from __future__ import annotations

import pytest

from finrisk.errors import GraphInputError
from finrisk.graph import (
    FanParams,
    FlowParams,
    PassThroughParams,
    build_transfer_graph,
    find_fan_in,
    find_fan_out,
    find_gather_scatter,
    find_pass_through,
    find_scatter_gather,
)

HOUR = 3600


def _graph(edges: list[tuple[str, str, float, int]]):  # type: ignore[no-untyped-def]
    src, dst, amount, time = zip(*edges, strict=True)
    return build_transfer_graph(list(src), list(dst), list(amount), list(time))


def test_fan_in_needs_enough_distinct_senders_inside_the_window() -> None:
    burst = [(f"s{i}", "mule", 1000.0 + i, i * 600) for i in range(8)]
    noise = [("x", "y", 5.0, 0), ("s0", "mule", 10.0, 10 * 86400)]
    (alert,) = find_fan_in(_graph(burst + noise), FanParams(min_counterparties=8, window=86400))
    assert alert.nodes[0] == "mule" and set(alert.nodes[1:]) == {f"s{i}" for i in range(8)}
    assert alert.details["counterparties"] == 8 and len(alert.edges) == 8
    assert find_fan_in(_graph(burst[:7] + noise), FanParams(min_counterparties=8)) == []
    spread = [(f"s{i}", "mule", 1000.0, i * 86400) for i in range(8)]
    assert find_fan_in(_graph(spread), FanParams(min_counterparties=8, window=86400)) == []


def test_fan_in_repeats_from_one_sender_count_once() -> None:
    repeats = [("s0", "mule", 100.0, i) for i in range(20)]
    assert find_fan_in(_graph(repeats), FanParams(min_counterparties=2)) == []


def test_fan_in_amount_tolerance_and_onward_leg() -> None:
    legs = [(f"s{i}", "m", 100.0, i) for i in range(5)] + [("big", "m", 9000.0, 3), ("m", "cash", 450.0, 20)]
    (alert,) = find_fan_in(_graph(legs), FanParams(min_counterparties=5, amount_tolerance=0.05, follow_onward=60))
    assert "big" not in alert.nodes and "cash" in alert.nodes


def test_fan_out_mirrors_fan_in() -> None:
    legs = [("boss", f"r{i}", 50.0, i) for i in range(6)]
    (alert,) = find_fan_out(_graph(legs), FanParams(min_counterparties=6))
    assert alert.typology == "fan_out" and alert.nodes[0] == "boss"


def test_scatter_gather_one_source_many_middles_one_sink() -> None:
    legs = [("src", f"m{i}", 1000.0, i) for i in range(4)] + [(f"m{i}", "sink", 950.0, 100 + i) for i in range(4)]
    (alert,) = find_scatter_gather(_graph(legs), FlowParams(min_intermediaries=3, window=HOUR))
    assert alert.nodes[0] == "src" and alert.nodes[-1] == "sink" and alert.details["intermediaries"] == 4
    late = legs[:4] + [(f"m{i}", "sink", 950.0, 10 * HOUR) for i in range(4)]
    assert find_scatter_gather(_graph(late), FlowParams(min_intermediaries=3, window=HOUR)) == []


def test_gather_scatter_hub_collects_then_pays_out() -> None:
    legs = [(f"in{i}", "hub", 500.0, i) for i in range(5)] + [("hub", f"out{i}", 480.0, 50 + i) for i in range(5)]
    (alert,) = find_gather_scatter(_graph(legs), FlowParams(min_counterparties=5, window=HOUR))
    assert alert.nodes[0] == "hub" and alert.details == {"senders": 5, "receivers": 5}
    assert find_gather_scatter(_graph(legs[:5]), FlowParams(min_counterparties=5)) == []


def test_pass_through_forwards_most_of_inflow_quickly() -> None:
    legs = [(f"p{i}", "mule", 1000.0, i * 10_000) for i in range(3)]
    legs += [("mule", f"q{i}", 990.0, i * 10_000 + 300) for i in range(3)]
    (alert,) = find_pass_through(_graph(legs), PassThroughParams(max_delay=HOUR, min_transfers=3))
    assert alert.nodes[0] == "mule" and alert.details["transfers"] == 3
    keeps = legs[:3] + [("mule", f"q{i}", 200.0, i * 10_000 + 300) for i in range(3)]
    assert find_pass_through(_graph(keeps), PassThroughParams(max_delay=HOUR, min_transfers=3)) == []


def test_typology_parameters_are_validated() -> None:
    with pytest.raises(GraphInputError, match=r"FanParams.min_counterparties' parameter is invalid: input should be "
                                              r"greater than or equal to 2. Got 1 instead"):
        FanParams(min_counterparties=1)


def test_two_hop_join_matches_brute_force_in_any_chunking() -> None:
    import numpy as np

    from finrisk.graph._joins import two_hop

    rng = np.random.default_rng(0)
    n = 400
    g = build_transfer_graph(rng.integers(0, 20, n).astype(str), rng.integers(0, 20, n).astype(str), np.ones(n),
                             rng.integers(0, 500, n))
    expected = {(i, j) for i in range(n) for j in range(n)
                if g.dst[i] == g.src[j] and g.time[i] < g.time[j] <= g.time[i] + 60}
    for chunk in (10, 1000, 10_000_000):
        e1, e2 = two_hop(g, 60, chunk_pairs=chunk)
        assert set(zip(e1.tolist(), e2.tolist(), strict=True)) == expected
    assert len(expected) > 100


def test_gather_scatter_needs_one_burst_and_matching_amounts() -> None:
    """The cause of the false alarms on skewed data: legs counted over the hub's whole history, and any onward
    amount at least 80% of an inbound one (so one big payment matched every small receipt)."""
    day = 86400
    spread = [(f"in{i}", "hub", 500.0, i * 4 * day) for i in range(5)] + [
        ("hub", f"out{i}", 490.0, i * 4 * day + HOUR) for i in range(5)]  # one in, one out, every four days
    assert find_gather_scatter(_graph(spread), FlowParams(min_counterparties=5, window=day)) == []
    growing = [(f"in{i}", "hub", 20.0 + i, i) for i in range(5)] + [
        ("hub", f"out{i}", 5000.0, 50 + i) for i in range(5)]  # pays out far more than it took in
    assert find_gather_scatter(_graph(growing), FlowParams(min_counterparties=5, window=HOUR)) == []


def test_gather_scatter_stays_quiet_on_a_skewed_random_graph() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    n, m = 3000, 15000
    weight = rng.pareto(2.0, n) + 1.0
    src, dst = rng.choice(n, m, p=weight / weight.sum()), rng.choice(n, m, p=weight / weight.sum())
    keep = src != dst
    g = build_transfer_graph([f"A{i}" for i in src[keep]], [f"A{i}" for i in dst[keep]],
                             np.round(rng.lognormal(6.0, 1.2, int(keep.sum())), 2),
                             rng.integers(0, 30 * 86400, int(keep.sum())))
    noise = find_gather_scatter(g)
    hub = [(f"in{i}", "HUB", 1000.0 + i, 1000 + i) for i in range(6)] + [
        ("HUB", f"out{i}", 950.0 + i, 5000 + i) for i in range(6)]
    planted = build_transfer_graph(
        [*g.nodes[g.src].tolist(), *(e[0] for e in hub)], [*g.nodes[g.dst].tolist(), *(e[1] for e in hub)],
        [*g.amount.tolist(), *(e[2] for e in hub)], [*g.time.tolist(), *(e[3] for e in hub)])
    found = [a.nodes[0] for a in find_gather_scatter(planted)]
    assert noise == [] and "HUB" in found  # before the fix: 162 alerts on this graph


def test_pass_through_from_the_shared_flow_legs_matches_its_own_join() -> None:
    import numpy as np

    rng = np.random.default_rng(8)
    n, m = 300, 6000
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = src != dst
    k = int(keep.sum())
    amounts = np.round(rng.choice([100.0, 95.0, 90.0, 500.0], k) * rng.uniform(0.95, 1.0, k), 2)
    times = rng.integers(0, 5 * 86400, k)
    g = build_transfer_graph([f"A{i}" for i in src[keep]], [f"A{i}" for i in dst[keep]], amounts, times)
    alone = find_pass_through(g, PassThroughParams(min_passed_share=0.3))
    assert alone  # the comparison below means something
    find_gather_scatter(g)  # joins the flow legs and keeps them on the graph
    shared = find_pass_through(g, PassThroughParams(min_passed_share=0.3), flows=FlowParams())
    assert [(a.nodes, a.edges, a.score) for a in shared] == [(a.nodes, a.edges, a.score) for a in alone]
