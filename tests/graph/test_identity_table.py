"""IdentifierTable answers like the object array of (kind, value) tuples it replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finrisk.graph.identity import identity_graph_from_frames


def test_identifier_table_indexes_like_an_array_of_tuples() -> None:
    frame = pd.DataFrame({"account_id": ["a", "b", "c", "a"], "device_id": ["D1", "D2", "D1", "D3"],
                          "phone": ["P1", "P1", None, "P2"]})
    ig = identity_graph_from_frames([frame.astype("str"), frame.astype(object).iloc[:2]])
    expected = [("device_id", "D1"), ("device_id", "D2"), ("device_id", "D3"), ("phone", "P1"), ("phone", "P2")]
    table = ig.identifiers
    assert len(table) == 5 and table.tolist() == expected and list(table) == expected
    assert table[3] == ("phone", "P1") and table[-1] == ("phone", "P2")
    assert table[np.array([4, 0])].tolist() == [("phone", "P2"), ("device_id", "D1")]
    assert [table.kinds[k] for k in table.kind_codes([0, 2, 3, 4])] == ["device_id", "device_id", "phone", "phone"]
    frame_kinds = ig.link_frame(np.arange(len(ig.link_account)))["kind"].tolist()
    assert frame_kinds == [expected[i][0] for i in ig.link_identifier.tolist()]
