"""``POST /v1/decisions`` served below FastAPI's routing: the hot path, in plain ASGI.

At 2,000 requests/s on two shared cores every tenth of a millisecond counts, and FastAPI's
per-request machinery (dependency solving for the key and the service, query parsing, body
sniffing, the ``Request`` objects) cost more CPU than the decision itself in a profile of
``finrisk serve`` under load. This middleware answers that one operation directly and passes
everything else on. It does exactly what the documented FastAPI route in
:mod:`finrisk.api.routes.decisions` does, through the same pieces: :func:`~finrisk.api.auth.authorize`
(401/403), :func:`~finrisk.api.deps.ready_service` (503), :func:`~finrisk.api.json_body.parse_json_object`
(415/422), ``decide_async`` and :func:`~finrisk.api.errors.error_response`; the OpenAPI document
still comes from the route (``tests/api`` runs the same requests against both).

It is also its own access log, metrics and body limit (what :mod:`finrisk.api.middleware` does for
the other routes): one coroutine per request instead of three nested ones with a ``send`` wrapper
and a replayed ``receive`` each, which were a measurable share of the loop's time under load.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from finrisk.api.auth import Authenticator, Permission, authorize
from finrisk.api.deps import ServiceHolder, ready_service
from finrisk.api.errors import error_response
from finrisk.api.json_body import is_json_media_type, parse_json_object, unsupported_media_type
from finrisk.api.logging import ACCESS_LOGGER
from finrisk.api.metrics import ApiMetrics
from finrisk.api.middleware import BodyTooLarge, declared_within, read_body, too_large_response
from finrisk.api.schemas.decisions import EventIn

__all__ = ["DECISIONS_PATH", "FastDecisions"]

DECISIONS_PATH = "/v1/decisions"
_CONTENT_TYPE = (b"content-type", b"application/json")
_access_log = logging.getLogger(ACCESS_LOGGER)


class _Route:
    """What the error handler reads from ``scope["route"]``: the route template."""

    path = DECISIONS_PATH


class FastDecisions:
    """Answers ``POST /v1/decisions`` (with its access line, metrics and body limit); the rest goes to ``app``."""

    def __init__(self, app: ASGIApp, *, services: ServiceHolder, authenticator: Authenticator,
                 metrics: ApiMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.services = services
        self.authenticator = authenticator
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self._route = _Route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != DECISIONS_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope["route"] = self._route
        status = 500
        key_id = action = decision_id = None
        try:
            try:
                key = content_type = length = None
                for name, value in scope["headers"]:
                    if name == b"x-api-key":
                        key = value.decode("latin-1")
                    elif name == b"content-type":
                        content_type = value.decode("latin-1")
                    elif name == b"content-length":
                        length = value
                raw: bytes | None = None
                if length is None:  # chunked: counted as it arrives, refused before anything else
                    raw = await read_body(receive, self.max_body_bytes)
                elif not declared_within(length, self.max_body_bytes):
                    raise BodyTooLarge
                key_id = authorize(self.authenticator, key, Permission.DECIDE).key_id
                service = ready_service(self.services)
                if not is_json_media_type(content_type):  # before reading: refused whatever its size
                    raise unsupported_media_type(content_type)
                if raw is None:
                    raw = await read_body(receive, None)
                event = parse_json_object(content_type, raw, EventIn)
                decision, answer = await service.decide_json_async(event)  # the logged bytes: serialised once
                self.metrics.observe_decision(decision)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a problem answer, as in FastAPI
                if isinstance(exc, BodyTooLarge):
                    response = too_large_response(DECISIONS_PATH, self.max_body_bytes)
                else:
                    response = error_response(exc, scope)
                await response(scope, receive, send)
                status = response.status_code
                return
            action, decision_id = decision.action, decision.decision_id
            await send({"type": "http.response.start", "status": 200,
                        "headers": [_CONTENT_TYPE, (b"content-length", b"%d" % len(answer))]})
            status = 200
            await send({"type": "http.response.body", "body": answer})
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe_request("POST", DECISIONS_PATH, status, seconds)
            if _access_log.isEnabledFor(logging.INFO):
                fields: dict[str, Any] = {"method": "POST", "route": DECISIONS_PATH, "status": status,
                                          "latency_ms": round(seconds * 1000, 3)}
                if key_id is not None:
                    fields["key_id"] = key_id
                if action is not None:
                    fields["action"] = action
                    fields["decision_id"] = decision_id
                _access_log.info("request", extra={"fields": fields})
