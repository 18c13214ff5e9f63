"""``POST /v1/decisions`` (one event in, its decision out) and ``GET /v1/decisions/{decision_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import ServiceDep
from finrisk.api.keys import ApiKey
from finrisk.api.metrics import ApiMetrics
from finrisk.api.routes._common import PROBLEM_RESPONSES, json_response
from finrisk.api.schemas.decisions import DecisionOut, EventIn
from finrisk.errors import NotFoundError

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], responses=PROBLEM_RESPONSES)


# A plain ``def``: FastAPI runs it in its thread pool, and the service group-commits the log
# across the concurrent calls (see docs/api.md for the measurement behind this choice).
@router.post(
    "",
    response_model=DecisionOut,
    summary="Decide on one event",
    responses={409: {"description": "The event_id is stored with a different body"}},
)
def create_decision(
    key: Annotated[ApiKey, caller(Permission.DECIDE)], event: EventIn, request: Request,
    service: ServiceDep,
) -> Response:
    """Validate the event, update features, run the rules and answer once event and decision are durably
    logged. A retry with the same ``event_id`` and body returns the stored decision (``idempotent: true``)."""
    decision = service.decide(event.model_dump())
    metrics: ApiMetrics = request.app.state.metrics
    metrics.observe_decision(decision)
    request.state.action = decision.action
    request.state.decision_id = decision.decision_id
    return json_response(decision.to_dict())


@router.get("/{decision_id}", response_model=DecisionOut, summary="Read a stored decision",
            responses={404: {"description": "No such decision"}})
def get_decision(
    key: Annotated[ApiKey, caller(Permission.READ_DECISIONS)],
    decision_id: Annotated[str, Path(min_length=1, max_length=100)], service: ServiceDep,
) -> Response:
    decision = service.get_decision(decision_id)
    if decision is None:
        raise NotFoundError(f"decision_id: no decision {decision_id!r}")
    return json_response(decision.to_dict())
