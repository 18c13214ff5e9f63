"""The FastAPI application: routes, auth, error mapping, body limits, access log and metrics.

:func:`create_app` takes an opened service (or a :class:`~finrisk.api.deps.ServiceHolder` that
is filled once the service has loaded) and an :class:`~finrisk.api.keys.ApiKeyStore`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema
from starlette.types import ASGIApp, Receive, Scope, Send

import finrisk
from finrisk.api.auth import API_KEY_SCHEME, Authenticator
from finrisk.api.deps import DecisionServiceLike, ServiceHolder
from finrisk.api.errors import install_error_handlers
from finrisk.api.fast_decisions import DECISIONS_PATH, FastDecisions
from finrisk.api.keys import ApiKeyStore
from finrisk.api.metrics import ApiMetrics
from finrisk.api.middleware import AccessMiddleware, BodyLimitMiddleware
from finrisk.api.routes import credit, decisions, events, graph, health, lists, rulesets
from finrisk.api.routes import keys as key_routes
from finrisk.api.schemas.problem import Problem

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_BULK_BODY_BYTES", "FinriskAPI", "create_app"]

DEFAULT_MAX_BODY_BYTES = 1 << 20
"""1 MiB: one event or one list change is a few hundred bytes."""
DEFAULT_MAX_BULK_BODY_BYTES = 32 << 20
"""32 MiB for ``POST /v1/events`` (up to 10,000 events)."""


class FinriskAPI(FastAPI):
    """FastAPI, with ``POST /v1/decisions`` dispatched before any of FastAPI's own layers.

    A request through FastAPI passes its body-limit, telemetry, server-error and exception
    middlewares before ours; for the hot path those wrappers cost a tenth of the request's CPU (a
    py-spy profile of ``finrisk serve`` at 2,000 req/s), and the fast path handles its own errors,
    body limit, access line and metrics. Every other request takes the ordinary FastAPI path.
    """

    fast_path: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and scope["type"] == "http" and scope["path"] == DECISIONS_PATH \
                and scope["method"] == "POST":
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def fastapi_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own entry, bypassing the dispatch above."""
        await super().__call__(scope, receive, send)


def create_app(
    service: DecisionServiceLike | ServiceHolder | None,
    keys: ApiKeyStore,
    *,
    admin_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_bulk_body_bytes: int = DEFAULT_MAX_BULK_BODY_BYTES,
    metrics: ApiMetrics | None = None,
    fast_decisions: bool = True,
) -> FastAPI:
    """Build the HTTP app.

    Parameters
    ----------
    service
        The decision service, or a holder that gets it later (``/health`` answers 503 until then).
    keys
        Where API keys are checked.
    admin_key
        A key accepted with the admin role without being stored (``FINRISK_API_KEY``).
    max_body_bytes, max_bulk_body_bytes
        Larger request bodies get 413; the bulk limit applies to ``POST /v1/events``.
    fast_decisions
        Serve ``POST /v1/decisions`` by :class:`~finrisk.api.fast_decisions.FastDecisions` (plain ASGI,
        same behaviour) rather than through FastAPI's routing; off only to compare the two.
    """
    holder = service if isinstance(service, ServiceHolder) else ServiceHolder(service)
    app = FinriskAPI(
        title="finrisk decision API",
        version=finrisk.__version__,
        description="Real-time risk decisions, event ingestion, lists and rule-set versions. Every endpoint "
        "but `/health` needs an `X-API-Key` header; errors are JSON problem bodies.",
        # FastAPI's OpenTelemetry hook checks its providers (environment look-ups) on every request;
        # the service has its own Prometheus metrics at /metrics.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = holder
    app.state.authenticator = Authenticator(keys, admin_key=admin_key)
    app.state.metrics = metrics if metrics is not None else ApiMetrics()
    install_error_handlers(app)
    for module in (decisions, credit, events, lists, rulesets, graph, health, key_routes):
        app.include_router(module.router)
    limits = {"/v1/events": max_bulk_body_bytes}
    app.add_middleware(BodyLimitMiddleware, default=max_body_bytes, limits=limits)
    app.add_middleware(AccessMiddleware, metrics=app.state.metrics)
    if fast_decisions:  # its own access log, metrics and body limit (one coroutine), nothing else
        app.fast_path = FastDecisions(app.fastapi_call, services=holder, authenticator=app.state.authenticator,
                                      metrics=app.state.metrics, max_body_bytes=max_body_bytes)
    _document_problem(app)
    return app


def _document_problem(app: FastAPI) -> None:
    """Put the ``Problem`` schema the error responses refer to into the OpenAPI document."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = plain()
        for item in schema["paths"].values():
            for operation in item.values():
                requirements = operation.get("security")
                if not requirements:
                    operation["security"] = []  # open (``/health``): say so explicitly
                    continue
                roles = [role for requirement in requirements for role in requirement.get(API_KEY_SCHEME, [])]
                operation["description"] = (operation.get("description", "") +
                                            f"\n\nNeeds an `X-API-Key` of role {' or '.join(roles)}.").strip()
        _, defs = models_json_schema([(Problem, "serialization")], ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
