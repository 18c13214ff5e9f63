from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finrisk.errors import GraphInputError
from finrisk.graph import build_transfer_graph, transfer_graph_from_frame


def test_edges_sorted_by_source_then_time_and_rows_point_back() -> None:
    src = ["b", "a", "a", "c"]
    g = build_transfer_graph(src, ["c", "b", "c", "a"], [1.0, 2.0, 3.0, 4.0], [5, 9, 1, 2])
    assert g.n_nodes == 3 and g.n_edges == 4
    keys = list(zip(g.src.tolist(), g.time.tolist(), strict=True))
    assert keys == sorted(keys)
    frame = g.edge_frame(np.arange(4))
    for rec in frame.itertuples():
        assert src[rec.row] == rec.src
    assert g.out_degree().sum() == 4 and g.in_degree().tolist() == [1, 1, 2]
    assert g.adjacency().sum() == 4


def test_in_order_sorts_by_target_then_time() -> None:
    g = build_transfer_graph(["a", "b", "c"], ["z", "z", "z"], [1.0, 1.0, 1.0], [30, 10, 20])
    assert g.time[g.in_order].tolist() == [10, 20, 30]


def test_timestamps_with_time_zone_become_epoch_seconds() -> None:
    frame = pd.DataFrame({"account_id": ["a"], "counterparty_account": ["b"], "amount": [1.0],
                          "event_time": pd.to_datetime(["2026-01-01T00:00:10Z"], utc=True)})
    g = transfer_graph_from_frame(frame)
    assert g.time.tolist() == [1767225610]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dst": ["b"]}, r"'dst' parameter must have as many rows as 'src' \(2\)"),
    ({"amount": [1.0, float("nan")]}, r"'amount' parameter must be a finite number"),
    ({"time": ["x", "y"]}, r"'time' parameter must be integers or timestamps"),
])
def test_bad_columns_name_the_field(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"src": ["a", "b"], "dst": ["b", "a"], "amount": [1.0, 2.0], "time": [1, 2]}
    args.update(kwargs)
    with pytest.raises(GraphInputError, match=message):
        build_transfer_graph(**args)  # type: ignore[arg-type]


def test_missing_column_is_named() -> None:
    with pytest.raises(GraphInputError, match="'counterparty_account' parameter is a required column"):
        transfer_graph_from_frame(pd.DataFrame({"account_id": ["a"], "amount": [1.0], "event_time": [1]}))
