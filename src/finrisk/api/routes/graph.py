"""``/v1/graph``: an entity's neighbourhood (nodes, edges, risk, alerts; paged for hubs) and an alert's evidence.

The graph is built from the workspace's warehouse on first use and cached (``finrisk.graph.serving``);
alerts are those ``finrisk graph scan`` stored. Personal identifiers leave only as pseudonyms.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import DecisionServiceLike, ServiceDep
from finrisk.api.keys import ApiKey
from finrisk.api.routes._common import PROBLEM_RESPONSES, json_response
from finrisk.api.schemas.graph import AlertOut, NeighbourhoodOut
from finrisk.errors import GraphEntityNotFoundError, ServiceNotReadyError
from finrisk.graph.alert_store import GraphAlertStore
from finrisk.graph.serving import CachedGraph, Pseudonymiser, warehouse_loader
from finrisk.store import open_warehouse
from finrisk.store.relational import open_database

router = APIRouter(prefix="/v1/graph", tags=["graph"], responses={
    **PROBLEM_RESPONSES,
    400: {"description": "A bad `hops`, `limit`, `cursor` or entity type (the problem names it)"},
    404: {"description": "The graph holds no such entity or alert"},
})

Reader = Annotated[ApiKey, caller(Permission.READ_GRAPH)]


@dataclass
class GraphState:
    """What the routes serve from: the cached network and the stored alerts."""

    graph: CachedGraph
    alerts: GraphAlertStore | None


_lock = threading.Lock()


def graph_state(request: Request, service: DecisionServiceLike) -> GraphState:
    """``app.state.graph`` if set (tests, embedders), else one built over the service's workspace."""
    with _lock:
        state: GraphState | None = getattr(request.app.state, "graph", None)
        if state is None:
            workspace, log = getattr(service, "workspace", None), getattr(service, "log", None)
            if workspace is None or log is None:
                raise ServiceNotReadyError("the network API needs a service opened over a workspace")
            state = GraphState(CachedGraph(warehouse_loader(lambda: open_warehouse(workspace, log)),
                                           Pseudonymiser.for_workspace(workspace.root)),
                               GraphAlertStore(open_database(workspace.database_url)))
            request.app.state.graph = state
        return state


@router.get("/alerts/{alert_id}", response_model=AlertOut, summary="A stored alert with its evidence subgraph")
def get_alert(key: Reader, request: Request, service: ServiceDep,
              alert_id: Annotated[int, Path(ge=1, le=1 << 62)]) -> Response:
    state = graph_state(request, service)
    found = state.alerts.get(alert_id) if state.alerts is not None else None
    if found is None:
        raise GraphEntityNotFoundError("alert")
    return json_response(asdict(found))


@router.get("/{entity_type}/{entity_id}", response_model=NeighbourhoodOut,
            summary="An entity's neighbourhood: nodes, edges, network risk and the alerts touching them")
def get_neighbourhood(
    key: Reader, request: Request, service: ServiceDep,
    entity_type: Annotated[str, Path(min_length=1, max_length=40, description="`account` or an identifier kind")],
    entity_id: Annotated[str, Path(min_length=1, max_length=256)],
    hops: Annotated[int, Query(description="how far to walk, 1 to 4")] = 2,
    limit: Annotated[int, Query(description="nodes per page, 1 to 5000")] = 200,
    cursor: Annotated[str | None, Query(max_length=64, description="`next_cursor` of the previous page")] = None,
) -> Response:
    state = graph_state(request, service)
    page = state.graph.view().neighbourhood(entity_type, entity_id, hops=hops, limit=limit, cursor=cursor,
                                            alerts=state.alerts)
    return json_response(page)
