"""Alerts: one detected shape with its evidence subgraph (member entities and the transfer rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd


@dataclass(frozen=True)
class Alert:
    """One detection: the typology, the member entities and the edges that show it.

    Parameters
    ----------
    typology
        ``loop``, ``chain``, ``fan_in``, ``structured_fan_in``, ``fan_out``, ``scatter_gather``, ``gather_scatter``,
        ``pass_through`` or ``ring``.
    nodes
        Entity ids of the members; the first is the subject (loop origin, fan-in receiver, ring's first member).
    edges
        Positions of the evidence edges in the graph the detector ran on (``TransferGraph.edge_frame`` or
        ``IdentityGraph.link_frame`` turn them into rows).
    score
        Strength of the evidence, comparable within one typology (e.g. number of counterparties).
    details
        Typology-specific figures (amounts, time span, bad members...).
    """

    typology: str
    nodes: tuple[Any, ...]
    edges: tuple[int, ...]
    score: float
    details: dict[str, Any] = field(default_factory=dict)


def alerts_to_frame(alerts: list[Alert]) -> pd.DataFrame:
    """One row per alert; lists stay lists (Parquet keeps them), details become a JSON string."""
    return pd.DataFrame({
        "alert_id": list(range(len(alerts))),
        "typology": [a.typology for a in alerts],
        "subject": [str(a.nodes[0]) if a.nodes else "" for a in alerts],
        "nodes": [[str(n) for n in a.nodes] for a in alerts],
        "edges": [list(a.edges) for a in alerts],
        "score": [float(a.score) for a in alerts],
        "details": [orjson.dumps(a.details, option=orjson.OPT_SERIALIZE_NUMPY).decode() for a in alerts],
    })


def flagged_nodes(alerts: list[Alert], typology: str | None = None) -> set[Any]:
    """Every entity that is a member of some alert (of one typology, when given)."""
    out: set[Any] = set()
    for a in alerts:
        if typology is None or a.typology == typology:
            out.update(a.nodes)
    return out
