from __future__ import annotations

import copy
from typing import Any

from finrisk.graph.live import LiveGraph

DAY = 86400


def _login(t: float, account: str, **ids: str) -> dict[str, Any]:
    return {"event_type": "login", "event_time": t, "account_id": account, **ids}


def _transfer(t: float, src: str, dst: str, amount: float = 100.0) -> dict[str, Any]:
    return {"event_type": "transaction", "txn_type": "transfer", "event_time": t, "account_id": src,
            "counterparty_account": dst, "amount": amount}


def test_shared_identifier_counts_ever_and_in_window() -> None:
    g = LiveGraph(window=10 * DAY)
    g.update(_login(0, "a", device_id="D", ip="1.1.1.1"))
    g.update(_login(20 * DAY, "b", device_id="D"))
    f = g.features(_login(25 * DAY, "c", device_id="D", phone="P"))
    assert f["device_accounts_ever"] == 2 and f["device_accounts_window"] == 1
    assert f["phone_accounts_ever"] == 0 and f["ip_accounts_ever"] is None


def test_cluster_size_bad_share_and_hops_to_bad() -> None:
    g = LiveGraph()
    g.update(_login(0, "a", device_id="D1"))
    g.update(_login(1, "b", device_id="D1", phone="P"))
    g.update(_login(2, "c", phone="P"))
    g.update(_login(3, "z", device_id="D9"))
    g.mark_bad("a")
    f = g.features(_login(4, "c"))
    assert f["cluster_size"] == 3 and abs(float(f["cluster_bad_share"] or 0) - 1 / 3) < 1e-12
    assert g.features(_login(4, "b"))["hops_to_bad"] == 2  # b - D1 - a
    assert f["hops_to_bad"] is None  # c - P - b - D1 - a is 4 hops
    g.update(_transfer(5, "c", "a"))
    assert g.features(_login(6, "c"))["hops_to_bad"] == 1
    assert g.features(_login(6, "z"))["hops_to_bad"] is None
    assert g.features(_login(6, "a"))["hops_to_bad"] == 0


def test_hub_identifier_stops_linking() -> None:
    g = LiveGraph(max_accounts_per_identifier=3)
    for i in range(10):
        g.update(_login(i, f"u{i}", ip="PUBLIC"))
    assert g.features(_login(20, "u0"))["cluster_size"] == 3  # linked before the IP became a hub
    assert g.features(_login(20, "u9"))["cluster_size"] == 1


def test_receiver_senders_in_the_last_hour() -> None:
    g = LiveGraph()
    for i in range(5):
        g.update(_transfer(i * 60, f"s{i}", "mule"))
    g.update(_transfer(0, "old", "mule2"))
    f = g.features(_transfer(600, "s9", "mule"))
    assert f["receiver_senders_1h"] == 6
    assert g.features(_transfer(2 * 3600, "x", "mule2"))["receiver_senders_1h"] == 1


def test_closes_loop_only_for_a_time_respecting_return_path() -> None:
    g = LiveGraph(loop_window=DAY)
    g.update(_transfer(10, "a", "b"))
    g.update(_transfer(20, "b", "c"))
    g.update(_transfer(30, "c", "d"))
    assert g.features(_transfer(40, "d", "b"))["closes_loop"] == 1  # b -> c -> d, now d -> b
    assert g.features(_transfer(40, "d", "a"))["closes_loop"] == 1
    assert g.features(_transfer(40, "d", "x"))["closes_loop"] == 0
    assert g.features(_transfer(2 * DAY, "d", "a"))["closes_loop"] == 0  # outside the window
    late = LiveGraph()
    late.update(_transfer(30, "b", "c"))
    late.update(_transfer(20, "c", "a"))  # c -> a happened before b -> c: no time-respecting path b -> a
    assert late.features(_transfer(40, "a", "b"))["closes_loop"] == 0


def test_features_do_not_change_the_graph_and_work_before_any_update() -> None:
    empty = LiveGraph()
    assert empty.features(_transfer(0, "a", "b"))["cluster_size"] is None
    g = LiveGraph()
    g.update(_login(0, "a", device_id="D"))
    g.update(_transfer(1, "a", "b"))
    before = copy.deepcopy(g.__dict__)
    g.features(_transfer(2, "b", "a", 50.0))
    g.features(_login(3, "q", device_id="D"))
    assert g.__dict__ == before
