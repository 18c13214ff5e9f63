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

The work after the body limit is :meth:`FastDecisions.answer` (bytes in, status, headers and bytes
out; :meth:`FastDecisions.answer_soon` is the same without a coroutine) and :meth:`FastDecisions.record`
(metrics and access line), so that :mod:`finrisk.api.decision_protocol` can answer a plain request
straight from the HTTP parser, without an ASGI cycle or a task, through the same checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from finrisk.api.auth import Authenticator, Permission, authorize
from finrisk.api.deps import ServiceHolder, ready_service
from finrisk.api.errors import error_response
from finrisk.api.json_body import is_json_media_type, parse_json_object, unsupported_media_type
from finrisk.api.logging import ACCESS_LOGGER, log_fields
from finrisk.api.metrics import ApiMetrics
from finrisk.api.middleware import BodyTooLarge, declared_within, read_body, too_large_response
from finrisk.api.schemas.decisions import EventIn
from finrisk.decisions.model import Decision

__all__ = ["DECISIONS_PATH", "Answer", "FastDecisions", "plain_event"]

DECISIONS_PATH = "/v1/decisions"
_CONTENT_TYPE = (b"content-type", b"application/json")
_access_log = logging.getLogger(ACCESS_LOGGER)


class _Route:
    """What the error handler reads from ``scope["route"]``: the route template."""

    path = DECISIONS_PATH


_SCOPE: Scope = {"type": "http", "route": _Route()}  # all the error mapping reads of a request
_new_tuple = tuple.__new__


class Answer(NamedTuple):
    """A finished answer: what to send, and what the access line says about it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    key_id: str | None = None
    action: str | None = None
    decision_id: str | None = None


def plain_event(body: Any) -> bool:
    """True only for a body :class:`EventIn` accepts: an object whose common fields are strings of
    allowed lengths. The event validator checks every field next anyway; skipping the model's own
    validator for these (the usual case) saves a pass over the body (~2% of the loop's time under
    load); anything else gets the model's exact problems."""
    if type(body) is not dict:
        return False
    eid, etype, etime = body.get("event_id"), body.get("event_type"), body.get("event_time")
    return (type(eid) is str and 0 < len(eid) <= 200 and type(etype) is str and 0 < len(etype) <= 100
            and type(etime) is str and 0 < len(etime) <= 64)


def _error_answer(exc: Exception, key_id: str | None) -> Answer:
    """The problem answer for ``exc`` (the mapping FastAPI's exception handlers use)."""
    response = error_response(exc, _SCOPE)
    return Answer(response.status_code, response.raw_headers, bytes(response.body), key_id)


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

    def too_large(self) -> Answer:
        """413: the body is over :attr:`max_body_bytes` (declared, or counted as it came)."""
        response = too_large_response(DECISIONS_PATH, self.max_body_bytes)
        return Answer(response.status_code, response.raw_headers, bytes(response.body))

    async def answer(self, key: str | None, content_type: str | None, raw: bytes | None,
                     read: Callable[[], Awaitable[bytes]] | None = None) -> Answer:
        """The answer to a request within the body limit; never raises (errors are problem answers).

        ``raw`` is the whole body, or None to read it with ``read`` once the key, the service and the
        media type have passed (a wrong request is refused without reading what it sent).
        """
        key_id = None
        try:
            key_id = authorize(self.authenticator, key, Permission.DECIDE).key_id
            service = ready_service(self.services)
            if not is_json_media_type(content_type):  # before reading: refused whatever its size
                raise unsupported_media_type(content_type)
            if raw is None:
                assert read is not None
                raw = await read()
            event = parse_json_object(content_type, raw, EventIn, plain_event)
            outcome = await service.decide_json_async(event)  # the logged bytes: serialised once
        except Exception as exc:  # noqa: BLE001 - every failure becomes a problem answer, as in FastAPI
            return _error_answer(exc, key_id)
        return self._decided(outcome, key_id)

    def answer_soon(self, key: str | None, content_type: str | None, raw: bytes, loop: asyncio.AbstractEventLoop,
                    reply: Callable[[Answer], object]) -> Answer | None:
        """:meth:`answer` without a coroutine, for a caller on the event loop (the direct protocol).

        Returns the answer when it is ready at once (every error, a stored retry); else None, and
        ``reply(answer)`` is called on ``loop`` (the running one) once the decision's commit is over. Never raises.
        Why: a task per request and its coroutine chain were ~8% of the loop thread's time at
        2,000 decisions/s (``docs/api.md``, seventh round).
        """
        key_id = None
        try:
            key_id = authorize(self.authenticator, key, Permission.DECIDE).key_id
            service = self.services.service
            if service is None:
                service = ready_service(self.services)  # the 503, loading or failed
            if not is_json_media_type(content_type):
                raise unsupported_media_type(content_type)
            # The usual body parsed here; anything else (bad JSON, another shape) gets
            # parse_json_object's problems. In ``finrisk serve`` under load every Python call on this
            # path costs several times its tight-loop figure, so the common case makes few.
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                event = None
            if event is None or not plain_event(event):
                event = parse_json_object(content_type, raw, EventIn, plain_event)
            outcome = service.decide_json_soon(event, loop, lambda later: reply(self._decided(later, key_id)))
        except Exception as exc:  # noqa: BLE001 - as in answer()
            return _error_answer(exc, key_id)
        return None if outcome is None else self._decided(outcome, key_id)

    def _decided(self, outcome: tuple[Decision, bytes] | Exception, key_id: str | None) -> Answer:
        """The answer to a decision (its logged JSON), counted in the metrics; or to its failure."""
        if isinstance(outcome, Exception):
            return _error_answer(outcome, key_id)
        decision, body = outcome
        try:
            self.metrics.observe_decision(decision)
        except Exception as exc:  # noqa: BLE001 - as in answer()
            return _error_answer(exc, key_id)
        # tuple.__new__ directly: the NamedTuple's own __new__ is a Python function (a call more per decision)
        return _new_tuple(Answer, (200, [_CONTENT_TYPE, (b"content-length", b"%d" % len(body))], body, key_id,
                                   decision.action, decision.decision_id))

    def record(self, status: int, started: float, answer: Answer | None) -> None:
        """The request's metrics and access line (``started``: its ``time.perf_counter()`` at arrival)."""
        seconds = time.perf_counter() - started
        self.metrics.observe_request("POST", DECISIONS_PATH, status, seconds)
        if not _access_log.disabled and _access_log.isEnabledFor(logging.INFO):  # --no-access-log: no call
            fields: dict[str, Any] = {"method": "POST", "route": DECISIONS_PATH, "status": status,
                                      "latency_ms": round(seconds * 1000, 3)}
            if answer is not None:
                if answer.key_id is not None:
                    fields["key_id"] = answer.key_id
                if answer.action is not None:
                    fields["action"] = answer.action
                    fields["decision_id"] = answer.decision_id
            log_fields(_access_log, "request", fields)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != DECISIONS_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope["route"] = self._route
        status = 500
        answer: Answer | None = None
        try:
            key = content_type = length = None
            for name, value in scope["headers"]:
                if name == b"x-api-key":
                    key = value.decode("latin-1")
                elif name == b"content-type":
                    content_type = value.decode("latin-1")
                elif name == b"content-length":
                    length = value
            limit = self.max_body_bytes
            try:
                raw: bytes | None = None
                if length is None:  # chunked: counted as it arrives, refused before anything else
                    raw = await read_body(receive, limit)
                elif not declared_within(length, limit):
                    raise BodyTooLarge
            except BodyTooLarge:
                answer = self.too_large()
            except Exception as exc:  # noqa: BLE001 - as in answer()
                answer = _error_answer(exc, None)
            else:
                answer = await self.answer(key, content_type, raw, lambda: read_body(receive, None))
            await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
            status = answer.status
            await send({"type": "http.response.body", "body": answer.body})
        finally:
            self.record(status, started, answer)
