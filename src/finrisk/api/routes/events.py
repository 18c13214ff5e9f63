"""``POST /v1/events``: bulk asynchronous ingestion (events update features; no decisions are made)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import ServiceDep
from finrisk.api.keys import ApiKey
from finrisk.api.metrics import ApiMetrics
from finrisk.api.routes._common import PROBLEM_RESPONSES, json_response
from finrisk.api.schemas.decisions import MAX_BULK_EVENTS, EventIn, IngestOut

router = APIRouter(prefix="/v1/events", tags=["events"], responses=PROBLEM_RESPONSES)


@router.post("", response_model=IngestOut, status_code=202, summary="Ingest events in bulk")
def ingest_events(
    key: Annotated[ApiKey, caller(Permission.INGEST)],
    events: Annotated[list[EventIn], Body(min_length=1, max_length=MAX_BULK_EVENTS)],
    request: Request, service: ServiceDep,
) -> Response:
    """Log the events and feed them to the features (logins, repayments, ... that need no answer).
    Each refused event is reported with its index and problems; the others are kept (202)."""
    result = service.ingest([e.model_dump() for e in events])
    metrics: ApiMetrics = request.app.state.metrics
    metrics.observe_ingest(result)
    return json_response(result.to_dict(), status_code=202)
