"""``POST /v1/credit/applications``: one loan application in, the fraud decision and the credit verdict out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import ServiceDep
from finrisk.api.keys import ApiKey
from finrisk.api.metrics import ApiMetrics
from finrisk.api.routes._common import PROBLEM_RESPONSES, json_response
from finrisk.api.schemas.credit import CreditApplicationOut
from finrisk.api.schemas.decisions import EventIn
from finrisk.decisions.model import Decision

router = APIRouter(prefix="/v1/credit", tags=["credit"], responses=PROBLEM_RESPONSES)


@router.post(
    "/applications",
    response_model=CreditApplicationOut,
    summary="Score a credit application",
    responses={409: {"description": "The event_id is stored with a different body"}},
)
def create_application(
    key: Annotated[ApiKey, caller(Permission.DECIDE)], event: EventIn, request: Request, service: ServiceDep,
    scorecard: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                           description="Which deployed scorecard (default: the first "
                                           "deployed card by name)")] = None,
) -> Response:
    """Decide the application like any event (features, rules, durable log, idempotent by ``event_id``),
    then score it with the workspace's trained scorecard: 350-950 score, sub-scores per dimension, reason
    codes, and approve / refer / decline with a limit and a price band."""
    out = service.credit_application(event.model_dump(), scorecard=scorecard)
    metrics: ApiMetrics = request.app.state.metrics
    metrics.observe_decision(Decision.from_dict(out["decision"]))
    request.state.action = out["decision"]["action"]
    request.state.decision_id = out["decision"]["decision_id"]
    return json_response(out)
