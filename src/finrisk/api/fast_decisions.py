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
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finrisk.api.auth import Authenticator, Permission, authorize
from finrisk.api.deps import ServiceHolder, ready_service
from finrisk.api.errors import error_response
from finrisk.api.json_body import is_json_media_type, parse_json_object, unsupported_media_type
from finrisk.api.metrics import ApiMetrics
from finrisk.api.schemas.decisions import EventIn

__all__ = ["DECISIONS_PATH", "FastDecisions"]

DECISIONS_PATH = "/v1/decisions"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class _Route:
    """What the access middleware reads from ``scope["route"]``: the route template."""

    path = DECISIONS_PATH


class FastDecisions:
    """Answers ``POST /v1/decisions``; every other request goes to ``app``."""

    def __init__(self, app: ASGIApp, *, services: ServiceHolder, authenticator: Authenticator,
                 metrics: ApiMetrics) -> None:
        self.app = app
        self.services = services
        self.authenticator = authenticator
        self.metrics = metrics
        self._route = _Route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != DECISIONS_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route
        try:
            body = await self._decide(scope, receive)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a problem answer, as in FastAPI
            await error_response(exc, scope)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _decide(self, scope: Scope, receive: Receive) -> bytes:
        key = content_type = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        record = authorize(self.authenticator, key, Permission.DECIDE)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["key_id"] = record.key_id
        service = ready_service(self.services)
        if not is_json_media_type(content_type):  # before reading: a wrong type is refused whatever its size
            raise unsupported_media_type(content_type)
        event = parse_json_object(content_type, await _read_body(receive), EventIn)
        decision, body = await service.decide_json_async(event)  # the logged bytes: serialised once
        self.metrics.observe_decision(decision)
        state["action"] = decision.action
        state["decision_id"] = decision.decision_id
        return body


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
