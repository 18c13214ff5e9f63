"""One account numbering for the transfer graph and the identity tables (``SharedAccounts``): the identity
graph built over it equals the one built by hashing the ids, and propagation joining by number gives the same
scores as matching the ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finrisk.errors import GraphInputError
from finrisk.graph import network_risk, scan
from finrisk.graph.build import build_transfer_graph, transfer_graph_from_frame
from finrisk.graph.identity import IdentityGraph, identity_graph_from_frames


def world(kind: str) -> tuple[pd.DataFrame, list[pd.DataFrame], list[object]]:
    """Transfers among accounts 0-59, identity tables over accounts 30-89 (30 only there, some missing ids,
    a repeated account, shared devices), ids as ``kind``: int, object strings or Arrow strings."""
    rng = np.random.default_rng(7)

    def ids(values: np.ndarray) -> pd.Series:
        if kind == "int":
            return pd.Series(values.astype(np.int64))
        text = pd.Series(np.char.add("acc", values.astype(str)).astype(object), dtype=object)
        return text.astype("string[pyarrow]") if kind == "arrow" else text

    src, dst = rng.integers(0, 60, 400), rng.integers(0, 60, 400)
    tx = pd.DataFrame({"account_id": ids(src), "counterparty_account": ids(dst),
                       "amount": rng.uniform(1, 100, 400).round(2), "event_time": rng.integers(0, 10**6, 400)})
    tables = []
    for t in range(2):
        who = rng.integers(30, 90, 50)
        frame = pd.DataFrame({"account_id": ids(who), "device_id": (rng.integers(0, 25, 50)).astype(str),
                              "phone": who.astype(str), "event_time": rng.integers(0, 10**6, 50) + t})
        tables.append(frame)
    tables[1].loc[[3, 17], "account_id"] = None  # events without an account are skipped, as before
    bad = [tx["account_id"].iloc[0], tables[0]["account_id"].iloc[5]]
    return tx, tables, bad


def same_identity(a: IdentityGraph, b: IdentityGraph) -> None:
    assert a.accounts.tolist() == b.accounts.tolist()
    assert a.identifiers == b.identifiers
    for name in ("link_account", "link_identifier", "first_seen"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("kind", ["int", "object", "arrow"])
def test_shared_numbering_gives_the_same_graphs_and_scores(kind: str) -> None:
    tx, tables, bad = world(kind)
    plain = transfer_graph_from_frame(tx)
    shared = transfer_graph_from_frame(tx, shared_ids=[f["account_id"] for f in tables])
    assert shared.accounts is not None and plain.accounts is None
    assert shared.nodes.tolist() == plain.nodes.tolist()
    assert np.array_equal(shared.src, plain.src) and np.array_equal(shared.dst, plain.dst)
    numbering = shared.accounts
    assert numbering.n_transfer == plain.n_nodes
    ig_plain = identity_graph_from_frames(tables)
    only_identity = [a for a in ig_plain.accounts.tolist() if a not in set(plain.nodes.tolist())]
    assert only_identity  # accounts 60-89 appear only in the identity tables, after the transfer nodes
    assert numbering.names[numbering.n_transfer:].tolist() == only_identity
    ig_shared = identity_graph_from_frames(tables, shared=numbering)
    same_identity(ig_shared, ig_plain)
    assert ig_shared.account_numbers is not None
    assert numbering.names[ig_shared.account_numbers].tolist() == ig_plain.accounts.tolist()
    # the joined run and the matching run agree exactly, and the joined one really took the shared path
    risk_plain = network_risk(bad, transfers=plain, identities=ig_plain)
    risk_shared = network_risk(bad, transfers=shared, identities=ig_shared)
    assert list(risk_shared) == list(risk_plain)
    assert np.array_equal(np.array(list(risk_shared.values())), np.array(list(risk_plain.values())))
    assert risk_shared[numbering.names[-1]] == risk_plain[numbering.names[-1]]


def test_a_numbering_of_other_graphs_is_not_used_for_the_join() -> None:
    tx, tables, bad = world("object")
    other = transfer_graph_from_frame(tx.iloc[::-1], shared_ids=[f["account_id"] for f in tables])
    ig = identity_graph_from_frames(tables, shared=other.accounts)
    plain = transfer_graph_from_frame(tx)
    expected = network_risk(bad, transfers=plain, identities=identity_graph_from_frames(tables))
    assert network_risk(bad, transfers=plain, identities=ig) == expected


def test_mixed_id_types_and_a_node_prefix_keep_the_transfer_numbering() -> None:
    plain = build_transfer_graph([1, 2, 3], [2, 3, 1], [1.0, 2.0, 3.0], [1, 2, 3], nodes=[9, 3])
    shared = build_transfer_graph([1, 2, 3], [2, 3, 1], [1.0, 2.0, 3.0], [1, 2, 3], nodes=[9, 3],
                                  shared_ids=[pd.Series(["x", 2, None, 9, "x"], dtype=object)])
    assert shared.nodes.tolist() == plain.nodes.tolist() == [9, 3, 1, 2]
    assert shared.accounts is not None
    assert shared.accounts.names.tolist() == [9, 3, 1, 2, "x"]
    assert shared.accounts.codes[0].tolist() == [4, 3, -1, 0, 4]


def test_a_numbering_for_other_tables_is_refused_by_name() -> None:
    tx, tables, _ = world("object")
    g = transfer_graph_from_frame(tx, shared_ids=[tables[0]["account_id"]])
    assert g.accounts is not None
    with pytest.raises(GraphInputError, match="shared"):
        identity_graph_from_frames(tables, shared=g.accounts)


def test_scan_shares_the_numbering_and_matches_a_scan_without_it() -> None:
    tx, tables, bad = world("object")
    result = scan(tx, identity_frames=tables, bad=bad)
    assert result.transfers is not None and result.identities is not None
    assert result.identities.shared is result.transfers.accounts is not None
    separate = network_risk(bad, transfers=transfer_graph_from_frame(tx),
                            identities=identity_graph_from_frames(tables))
    assert result.risk == separate


def test_the_api_loader_shares_the_numbering_with_the_same_scores() -> None:
    from finrisk.graph.serving import frames_loader

    tx, tables, bad = world("arrow")
    g, ig, _ = frames_loader(tx, tables, set(bad))()
    assert ig is not None and ig.shared is g.accounts is not None
    separate = network_risk(bad, transfers=transfer_graph_from_frame(tx),
                            identities=identity_graph_from_frames(tables))
    assert network_risk(bad, transfers=g, identities=ig) == separate
