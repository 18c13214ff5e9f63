"""The neighbourhood of one entity for the console: nodes, edges, risk and the alerts touching them.

Breadth-first over transfers (both directions) and shared identifiers, at most ``hops`` away. Hubs are capped
(``per_node`` neighbours each) and the node list is paginated with an opaque ``cursor`` (an offset), so one
merchant with a million payers cannot blow up a response.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from finrisk.errors import GraphEntityNotFoundError, GraphInputError
from finrisk.graph.alerts import Alert
from finrisk.graph.build import TransferGraph
from finrisk.graph.identity import IdentityGraph

ACCOUNT_TYPES = ("account", "customer")


@dataclass(frozen=True)
class IdentityIndex:
    """Look-ups over an identity graph's links; build it once per graph (the API caches it with the graph)."""

    accounts: dict[Any, int]
    identifiers: dict[tuple[str, str], int]
    holders: dict[int, list[int]]
    account_ids: dict[int, list[int]]

    @classmethod
    def build(cls, ig: IdentityGraph) -> IdentityIndex:
        holders: dict[int, list[int]] = {}
        account_ids: dict[int, list[int]] = {}
        for a, i in zip(ig.link_account.tolist(), ig.link_identifier.tolist(), strict=True):
            holders.setdefault(i, []).append(a)
            account_ids.setdefault(a, []).append(i)
        return cls({v: i for i, v in enumerate(ig.accounts.tolist())},
                   {tuple(v): i for i, v in enumerate(ig.identifiers.tolist())}, holders, account_ids)


def neighbourhood(
    graph: TransferGraph, entity_type: str, entity_id: str, *, hops: int = 2, limit: int = 200,
    cursor: str | None = None, per_node: int = 50, identities: IdentityGraph | None = None,
    alerts: Sequence[Alert] = (), risk: dict[Any, float] | None = None, identity_index: IdentityIndex | None = None,
) -> dict[str, Any]:
    """Nodes within ``hops`` of the entity (one page of ``limit``), the edges among the page, risk and alerts.

    ``entity_type`` is ``account`` for an account id, or an identifier kind (``device_id``, ``phone``, ``ip``...)
    when ``identities`` is given. Returns ``{"nodes", "edges", "alerts", "next_cursor", "truncated"}``.
    """
    if not 1 <= hops <= 4:
        raise GraphInputError("hops", "must be between 1 and 4", str(hops))
    if not 1 <= limit <= 5000:
        raise GraphInputError("limit", "must be between 1 and 5000", str(limit))
    try:
        offset = int(cursor) if cursor else 0
    except ValueError:
        raise GraphInputError("cursor", "must be a cursor returned by a previous page", repr(cursor)) from None
    acc_index = graph.node_index()
    index = identity_index if identity_index is not None or identities is None else IdentityIndex.build(identities)
    id_acc = index.accounts if index is not None else {}
    id_ids = index.identifiers if index is not None else {}
    id_holders = index.holders if index is not None else {}
    acc_ids = index.account_ids if index is not None else {}
    if entity_type in ACCOUNT_TYPES:
        if entity_id not in acc_index and entity_id not in id_acc:
            raise GraphEntityNotFoundError(entity_type)
        start: tuple[str, Any] = ("account", entity_id)
    else:
        if (entity_type, entity_id) not in id_ids:
            raise GraphEntityNotFoundError(entity_type)
        start = (entity_type, entity_id)
    seen: dict[tuple[str, Any], int] = {start: 0}
    order: list[tuple[str, Any]] = [start]
    truncated = False
    frontier = [start]
    for depth in range(1, hops + 1):
        nxt: list[tuple[str, Any]] = []
        for kind, value in frontier:
            found: list[tuple[str, Any]] = []
            if kind == "account":
                node = acc_index.get(value)
                if node is not None:
                    outs = graph.dst[graph.out_ptr[node]:graph.out_ptr[node + 1]]
                    ins = graph.src[graph.in_order[graph.in_ptr[node]:graph.in_ptr[node + 1]]]
                    peers = np.unique(np.concatenate([outs, ins]))
                    found += [("account", v) for v in graph.nodes[peers[:per_node]].tolist()]
                    truncated |= len(peers) > per_node
                a = id_acc.get(value)
                if a is not None and identities is not None:
                    ids = acc_ids.get(a, [])
                    found += [tuple(identities.identifiers[i]) for i in ids[:per_node]]
                    truncated |= len(ids) > per_node
            elif identities is not None:
                holders = id_holders.get(id_ids[(kind, value)], [])
                found += [("account", identities.accounts[h]) for h in holders[:per_node]]
                truncated |= len(holders) > per_node
            for f in found:
                if f not in seen:
                    seen[f] = depth
                    order.append(f)
                    nxt.append(f)
        frontier = nxt
    page = order[offset:offset + limit]
    on_page = {v for k, v in page if k == "account"}
    nodes = [{"type": k, "id": str(v), "hops": seen[(k, v)],
              "risk": (risk or {}).get(v) if k == "account" else None} for k, v in page]
    edges = _edges_among(graph, on_page, identities, {(k, v) for k, v in page if k != "account"})
    touching = [{"typology": a.typology, "nodes": [str(n) for n in a.nodes], "score": a.score}
                for a in alerts if on_page.intersection(a.nodes)]
    nxt_offset = offset + limit
    return {"nodes": nodes, "edges": edges, "alerts": touching, "truncated": truncated,
            "next_cursor": str(nxt_offset) if nxt_offset < len(order) else None}


def _edges_among(graph: TransferGraph, accounts: set[Any], identities: IdentityGraph | None,
                 idents: set[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Transfers between accounts on the page (aggregated per pair) and their links to identifiers on it."""
    index = graph.node_index()
    ids = np.asarray(sorted(index[a] for a in accounts if a in index), dtype=np.int64)
    edges: list[dict[str, Any]] = []
    if len(ids):
        mask = np.isin(graph.src, ids) & np.isin(graph.dst, ids)
        e = np.nonzero(mask)[0]
        pairs: dict[tuple[int, int], list[float]] = {}
        for s, d, amt in zip(graph.src[e].tolist(), graph.dst[e].tolist(), graph.amount[e].tolist(), strict=True):
            agg = pairs.setdefault((s, d), [0, 0.0])
            agg[0] += 1
            agg[1] += amt
        edges += [{"kind": "transfer", "source": str(graph.nodes[s]), "target": str(graph.nodes[d]),
                   "count": int(c), "amount": round(float(total), 2)} for (s, d), (c, total) in pairs.items()]
    if identities is not None and idents:
        for a, i in zip(identities.link_account.tolist(), identities.link_identifier.tolist(), strict=True):
            ident = tuple(identities.identifiers[i])
            if ident in idents and identities.accounts[a] in accounts:
                edges.append({"kind": "identity", "source": str(identities.accounts[a]), "target": str(ident[1]),
                              "target_type": ident[0]})
    return edges
