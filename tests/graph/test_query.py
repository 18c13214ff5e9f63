from __future__ import annotations

import pytest

from finrisk.errors import GraphEntityNotFoundError, GraphInputError
from finrisk.graph import build_identity_graph, build_transfer_graph, find_loops
from finrisk.graph.query import neighbourhood


def _graphs():  # type: ignore[no-untyped-def]
    g = build_transfer_graph(["a", "b", "c", "a", "hub"] + ["hub"] * 30, ["b", "c", "a", "hub", "z"]
                             + [f"p{i}" for i in range(30)], [10.0, 10.0, 10.0, 5.0, 1.0] + [1.0] * 30,
                             [1, 2, 3, 4, 5] + list(range(30)))
    ig = build_identity_graph(["a", "d"], ["device_id", "device_id"], ["DEV", "DEV"])
    return g, ig


def test_two_hops_with_identity_links_risk_and_alerts() -> None:
    g, ig = _graphs()
    loops = find_loops(g)
    out = neighbourhood(g, "account", "a", hops=2, identities=ig, alerts=loops, risk={"a": 3.0})
    ids = {(n["type"], n["id"]): n["hops"] for n in out["nodes"]}
    assert ids[("account", "a")] == 0 and ids[("account", "b")] == 1 and ids[("device_id", "DEV")] == 1
    assert ids[("account", "d")] == 2 and ids[("account", "z")] == 2
    assert out["nodes"][0]["risk"] == 3.0
    assert {"kind": "transfer", "source": "a", "target": "b", "count": 1, "amount": 10.0} in out["edges"]
    assert any(e["kind"] == "identity" and e["source"] == "d" for e in out["edges"])
    assert [a["typology"] for a in out["alerts"]] == ["loop"]


def test_hubs_are_capped_and_pages_follow_the_cursor() -> None:
    g, _ = _graphs()
    first = neighbourhood(g, "account", "hub", hops=1, limit=10, per_node=20)
    assert first["truncated"] and len(first["nodes"]) == 10 and first["next_cursor"] == "10"
    rest = neighbourhood(g, "account", "hub", hops=1, limit=100, per_node=20, cursor=first["next_cursor"])
    assert rest["next_cursor"] is None
    everyone = [n["id"] for n in first["nodes"] + rest["nodes"]]
    assert len(everyone) == len(set(everyone)) == 21  # the hub and 20 capped neighbours


def test_unknown_entity_and_bad_arguments() -> None:
    g, ig = _graphs()
    with pytest.raises(GraphEntityNotFoundError, match="no account with that id in the graph"):
        neighbourhood(g, "account", "nobody")
    with pytest.raises(GraphInputError, match="'hops' parameter must be between 1 and 4. Got 9"):
        neighbourhood(g, "account", "a", hops=9)
    with pytest.raises(GraphInputError, match="'cursor' parameter must be a cursor"):
        neighbourhood(g, "account", "a", cursor="abc")
    out = neighbourhood(g, "device_id", "DEV", hops=1, identities=ig)
    assert {n["id"] for n in out["nodes"]} == {"DEV", "a", "d"}
