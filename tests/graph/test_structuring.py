"""Structured fan-in: split payments from several senders into one receiver."""

from __future__ import annotations

import numpy as np
import pytest

from finrisk.errors import GraphInputError
from finrisk.graph import SplitFanParams, build_transfer_graph, find_split_fan_in
from finrisk.graph.structuring import find_split_groups, split_payments

HOUR = 3600
DAY = 86400


def _graph(edges: list[tuple[str, str, float, int]]):  # type: ignore[no-untyped-def]
    src, dst, amount, time = zip(*edges, strict=True)
    return build_transfer_graph(list(src), list(dst), list(amount), list(time))


def _split(sender: str, receiver: str, start: int, legs: int = 3) -> list[tuple[str, str, float, int]]:
    return [(sender, receiver, 900.0 + i, start + i * HOUR) for i in range(legs)]


def test_receiver_of_split_payments_from_enough_senders_is_flagged_with_them() -> None:
    smurfs = [e for i in range(3) for e in _split(f"s{i}", "boss", i * 2 * DAY)]
    ordinary = [(f"c{i}", "shop", 50.0, i * HOUR) for i in range(30)]  # many senders, one payment each
    ordinary += [("c0", "boss", 40.0, 3 * DAY)]  # a single payment into the boss is no split
    (alert,) = find_split_fan_in(_graph(smurfs + ordinary), SplitFanParams(min_senders=3, window=7 * DAY))
    assert alert.typology == "structured_fan_in"
    assert alert.nodes[0] == "boss" and set(alert.nodes[1:]) == {"s0", "s1", "s2"}
    assert alert.details["senders"] == 3 and alert.details["legs"] == 9 and len(alert.edges) == 9
    assert alert.details["total"] == pytest.approx(3 * (900 + 901 + 902))


def test_legs_spread_beyond_the_leg_window_or_senders_beyond_the_window_do_not_count() -> None:
    spread = [(f"s{i}", "boss", 900.0, i * 1000 + k * 2 * DAY) for i in range(3) for k in range(3)]
    assert find_split_fan_in(_graph(spread), SplitFanParams(min_senders=3, window=30 * DAY)) == []
    apart = [e for i in range(3) for e in _split(f"s{i}", "boss", i * 40 * DAY)]
    assert find_split_fan_in(_graph(apart), SplitFanParams(min_senders=3, window=30 * DAY)) == []
    assert len(find_split_fan_in(_graph(apart), SplitFanParams(min_senders=1, window=30 * DAY))) == 1


def test_split_payments_keep_the_densest_leg_window_per_pair() -> None:
    g = _graph(_split("a", "b", 0, legs=2) + _split("a", "b", 10 * DAY, legs=4) + [("b", "a", 5.0, 0)])
    rows = split_payments(g, SplitFanParams())
    assert len(rows) == 1 and int(rows["legs"].iloc[0]) == 4
    assert g.nodes[int(rows["src"].iloc[0])] == "a" and g.nodes[int(rows["dst"].iloc[0])] == "b"
    assert int(rows["time"].iloc[0]) == 10 * DAY + 3 * HOUR


def test_stays_quiet_on_a_random_graph_with_one_payment_per_pair() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    src = rng.integers(0, 2000, n)
    dst = (src + rng.integers(1, 2000, n)) % 2000
    pairs = np.unique(src * 2000 + dst)
    g = build_transfer_graph((pairs // 2000).tolist(), (pairs % 2000).tolist(),
                             rng.lognormal(5, 1, len(pairs)).tolist(), rng.integers(0, 30 * DAY, len(pairs)).tolist())
    assert find_split_fan_in(g, SplitFanParams(min_senders=2)) == []


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(GraphInputError, match=r"SplitFanParams.min_legs"):
        SplitFanParams(min_legs=1)
    with pytest.raises(GraphInputError, match=r"SplitFanParams.leg_window"):
        SplitFanParams(leg_window=0)


def test_split_groups_join_accounts_linked_by_split_payments_only() -> None:
    edges = _split("a", "b", 0) + _split("b", "c", 2 * DAY) + _split("x", "y", DAY, legs=2)
    edges += [("a", "z", 50.0, HOUR), ("c", "a", 70.0, 3 * DAY), ("y", "b", 10.0, DAY)]  # single payments
    g = _graph(edges)
    groups = sorted(find_split_groups(g, SplitFanParams()), key=lambda a: len(a.nodes))
    assert [set(a.nodes) for a in groups] == [{"x", "y"}, {"a", "b", "c"}]
    assert all(a.typology == "split_group" for a in groups)
    assert groups[1].details == {"split_payments": 2, "legs": 6} and len(groups[1].edges) == 6
    assert {g.nodes[g.src[e]] for e in groups[0].edges} == {"x"}
    spread = _split("p", "q", 0, legs=1) + _split("p", "q", 3 * DAY, legs=1)  # legs days apart: no split
    assert find_split_groups(_graph(spread), SplitFanParams()) == []
