"""``GET /health`` (no key: load balancers and ``finrisk serve`` poll it) and ``GET /metrics``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from starlette.responses import Response

from finrisk.api.auth import Permission, caller
from finrisk.api.deps import ServiceHolder
from finrisk.api.keys import ApiKey
from finrisk.api.metrics import ApiMetrics
from finrisk.api.routes._common import PROBLEM_RESPONSES, json_response

router = APIRouter(tags=["service"])


@router.get("/health", summary="Is the service ready?",
            responses={503: {"description": "Still loading, or failed to load (the body says which)"}})
def health(request: Request) -> Response:
    """200 with the service's status once it is ready to decide; 503 while it loads or if it failed."""
    holder: ServiceHolder = request.app.state.services
    service = holder.service
    if service is None:
        body: dict[str, object] = {"ready": False, "status": "failed" if holder.error else "loading"}
        if holder.error:
            body["error"] = holder.error
        if holder.progress:
            body["progress"] = holder.progress
        return json_response(body, status_code=503)
    return json_response({"ready": True, "status": "ready", **service.status()})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, responses=PROBLEM_RESPONSES)
def metrics(request: Request, key: Annotated[ApiKey, caller(Permission.READ_METRICS)]) -> Response:
    registry: ApiMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=registry.content_type)
