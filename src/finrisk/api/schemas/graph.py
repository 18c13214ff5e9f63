"""Shapes of the network endpoints: a page of an entity's neighbourhood and an alert's evidence."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["AlertOut", "AlertSummary", "GraphEdge", "GraphNode", "NeighbourhoodOut"]


class GraphNode(BaseModel):
    type: str = Field(description="`account`, or the identifier kind (`device_id`, `phone`, `ip`...)")
    id: str = Field(description="the entity id; personal identifiers (phone, ID number, name...) as `ps_` pseudonyms")
    hops: int = Field(description="distance from the entity asked for")
    risk: float | None = Field(description="network risk of an account (mean account = 1.0); null for identifiers")


class GraphEdge(BaseModel):
    kind: str = Field(description="`transfer` (aggregated per ordered pair) or `identity`")
    source: str
    target: str
    count: int | None = None
    amount: float | None = None
    target_type: str | None = None


class AlertSummary(BaseModel):
    alert_id: int
    typology: str
    subject: str
    score: float
    nodes: list[str]


class NeighbourhoodOut(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge] = Field(description="edges among the nodes of this page")
    alerts: list[AlertSummary] = Field(description="stored scan alerts with a member among this page's accounts")
    truncated: bool = Field(description="some hub had more neighbours than are followed per node")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class AlertOut(AlertSummary):
    evidence: list[dict[str, Any]] = Field(description="the transfers (or identity links, by kind) that show it")
    details: dict[str, Any]
    scan_from: str
    scan_to: str
