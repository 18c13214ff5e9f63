"""``POST /v1/decisions`` (one event in, its decision out) and ``GET /v1/decisions/{decision_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import ServiceDep
from finrisk.api.json_body import read_json_object
from finrisk.api.keys import ApiKey
from finrisk.api.metrics import ApiMetrics
from finrisk.api.routes._common import PROBLEM_CONTENT, PROBLEM_RESPONSES, json_response
from finrisk.api.schemas.decisions import DecisionOut, EventIn
from finrisk.errors import NotFoundError

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], responses=PROBLEM_RESPONSES)


# ``async`` on the event loop: the decision takes tens of microseconds under the service's lock, and the
# wait for the group commit holds no thread (the writer thread wakes the loop). The body is read by
# ``read_json_object`` rather than a pydantic parameter; ``openapi_extra`` documents it as ``EventIn``.
@router.post(
    "",
    response_model=DecisionOut,
    summary="Decide on one event",
    responses={409: {"description": "The event_id is stored with a different body"},
               415: {"description": "The body is not sent as `application/json`", **PROBLEM_CONTENT}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": EventIn.model_json_schema(ref_template="#/components/schemas/{model}")}}}},
)
async def create_decision(
    key: Annotated[ApiKey, caller(Permission.DECIDE)], request: Request, service: ServiceDep,
) -> Response:
    """Validate the event, update features, run the rules and answer once event and decision are durably
    logged. A retry with the same ``event_id`` and body returns the stored decision (``idempotent: true``)."""
    event = await read_json_object(request, EventIn)
    decision = await service.decide_async(event)
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
