"""Group expansion: accounts tied to a detected group beyond chance join it; hubs and strangers do not."""

from __future__ import annotations

import numpy as np
import pytest

from finrisk.errors import GraphInputError
from finrisk.graph import Alert, ExpandParams, build_transfer_graph, expand_alerts


def _world(seed: int = 3) -> tuple[list[int], list[int]]:
    """A sparse random transfer graph on 2,000 accounts, one hub (0) paying 300 of them, a 5-account group."""
    rng = np.random.default_rng(seed)
    src = rng.integers(10, 2000, 8000).tolist()
    dst = rng.integers(10, 2000, 8000).tolist()
    hub_to = rng.choice(np.arange(10, 2000), 300, replace=False).tolist()
    src += [0] * 300
    dst += hub_to
    group = [1, 2, 3, 4, 5]
    links = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 1), (1, 3), (2, 4), (5, 2), (4, 1)]
    src += [a for a, _ in links]
    dst += [b for _, b in links]
    # the hub also pays the two seed members: linked to them by its size, not by the group
    src += [0, 0]
    dst += group[:2]
    return src, dst


def _graph(src: list[int], dst: list[int]):  # type: ignore[no-untyped-def]
    return build_transfer_graph(src, dst, [100.0] * len(src), list(range(len(src))))


def test_members_tied_to_the_seed_join_and_the_hub_does_not() -> None:
    src, dst = _world()
    g = _graph(src, dst)
    seed = Alert("chain", (1, 2), (), 1.0)
    other = Alert("fan_in", (1, 2), (), 1.0)
    out = expand_alerts(g, [seed, other], ["chain"])
    assert set(out[0].nodes) == {1, 2, 3, 4, 5}
    assert out[0].nodes[:2] == (1, 2) and out[0].typology == "chain"
    assert sorted(out[0].details["joined"]) == ["3", "4", "5"]
    assert out[1] is other  # typologies not asked for are left as they are


def test_a_single_link_is_not_evidence() -> None:
    src, dst = _world()
    g = _graph(src, dst)
    # a one-account seed: every neighbour has exactly one link into it, below min_links=2
    alone = Alert("loop", (1,), (), 1.0)
    assert expand_alerts(g, [alone], ["loop"])[0] is alone
    # one round from (1, 2): 3, 4 and 5 each have two links into the seed; the hub 0 too, but by its size
    out = expand_alerts(g, [Alert("loop", (1, 2), (), 1.0)], ["loop"], ExpandParams(rounds=1))
    assert set(out[0].nodes) == {1, 2, 3, 4, 5}


def test_a_counterparty_paid_both_ways_counts_twice_when_directed() -> None:
    src, dst = _world()
    src += [1, 7]  # 7 pays the seed member 1 and is paid back: one counterparty, two directions
    dst += [7, 1]
    g = _graph(src, dst)
    seed = Alert("chain", (1, 2), (), 1.0)
    assert 7 in expand_alerts(g, [seed], ["chain"])[0].nodes
    assert 7 not in expand_alerts(g, [seed], ["chain"], ExpandParams(directed=False))[0].nodes


def test_stays_quiet_around_a_random_seed() -> None:
    src, dst = _world(seed=11)
    g = _graph(src, dst)
    seeds = [Alert("chain", (int(a), int(b)), (), 1.0) for a, b in zip(src[:50], dst[:50], strict=True)]
    out = expand_alerts(g, seeds, ["chain"])
    joined = sum(len(a.nodes) - len(s.nodes) for a, s in zip(out, seeds, strict=True))
    assert joined <= 2


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(GraphInputError, match=r"ExpandParams.min_links"):
        ExpandParams(min_links=0)
    with pytest.raises(GraphInputError, match=r"ExpandParams.max_p_value"):
        ExpandParams(max_p_value=0.0)


def test_the_scan_expands_its_loop_alerts_by_default_and_not_when_switched_off() -> None:
    import pandas as pd

    from finrisk.graph import ScanParams, scan

    src, dst = _world()
    amounts = [100.0] * len(src)
    times = list(range(len(src)))
    # a three-hop fund loop 101 -> 102 -> 103 -> 101, later hops later, amounts shrinking a little
    src += [101, 102, 103]
    dst += [102, 103, 101]
    amounts += [5000.0, 4950.0, 4900.0]
    times += [20_000, 20_100, 20_200]
    # 104 pays every loop member ordinary amounts: tied to the group far beyond chance
    src += [104, 104, 104]
    dst += [101, 102, 103]
    amounts += [10.0, 10.0, 10.0]
    times += [1, 2, 3]
    frame = pd.DataFrame({"account_id": src, "counterparty_account": dst, "amount": amounts, "event_time": times})
    loops = [a for a in scan(frame).alerts if a.typology == "loop" and 101 in a.nodes]
    assert loops and 104 in loops[0].nodes and loops[0].details["joined"] == ["104"]
    plain = [a for a in scan(frame, params=ScanParams(expand=None)).alerts if a.typology == "loop" and 101 in a.nodes]
    assert plain and 104 not in plain[0].nodes


def test_a_second_unrelated_world_beside_the_first_changes_nothing() -> None:
    # The chance term is taken per connected component: a data set holding two unrelated worlds side by side
    # (two AMLSim runs unioned) must expand each as if alone; over the whole graph it would halve the chance term.
    src, dst = _world(seed=5)
    rng = np.random.default_rng(8)
    seeds = [Alert("chain", (1, 2), (), 1.0)]
    seeds += [Alert("chain", (int(a), int(b), int(c)), (), 1.0)
              for a, b, c in rng.choice(np.arange(10, 2000), (60, 3))]
    alone = expand_alerts(_graph(src, dst), seeds, ["chain"])
    other_src, other_dst = _world(seed=6)
    both = _graph(src + [s + 5000 for s in other_src], dst + [d + 5000 for d in other_dst])
    side_by_side = expand_alerts(both, seeds, ["chain"])
    assert [a.nodes for a in side_by_side] == [a.nodes for a in alone]
    whole = expand_alerts(both, seeds, ["chain"], ExpandParams(per_component=False))
    assert sum(map(len, (a.nodes for a in whole))) > sum(map(len, (a.nodes for a in alone)))
