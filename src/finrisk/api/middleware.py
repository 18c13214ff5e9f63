"""Pure ASGI middleware (cheaper than Starlette's ``BaseHTTPMiddleware``): body limits, access log and metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finrisk.api.errors import problem_response
from finrisk.api.logging import ACCESS_LOGGER
from finrisk.api.metrics import ApiMetrics

__all__ = ["AccessMiddleware", "BodyLimitMiddleware", "BodyTooLarge", "declared_within", "read_body",
           "too_large_response"]

access_log = logging.getLogger(ACCESS_LOGGER)


class BodyTooLarge(Exception):
    """A request body is over its limit (answered 413 by :func:`too_large_response`)."""


def too_large_response(path: str, limit: int) -> Response:
    return problem_response(413, f"request body is over the limit of {limit} bytes for {path}",
                            error="PayloadTooLargeError")


def declared_within(length: bytes, limit: int) -> bool:
    """Whether a ``Content-Length`` header value is a number no larger than ``limit`` (garbage is not)."""
    try:
        return int(length) <= limit
    except ValueError:
        return False


async def read_body(receive: Receive, limit: int | None) -> bytes:
    """The whole request body, raising :class:`BodyTooLarge` once more than ``limit`` bytes have come;
    what came before the client went away if it did."""
    message: Message = await receive()
    if message["type"] != "http.request":  # the client went away
        return b""
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: the whole body in one message
        if limit is not None and len(body) > limit:
            raise BodyTooLarge
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class BodyLimitMiddleware:
    """Refuse request bodies over a limit with a 413 problem before any route reads them.

    ``limits`` maps a path prefix to its limit (the longest matching prefix wins, e.g. bulk
    ingestion may be larger); other paths get ``default``. A declared ``Content-Length`` is checked
    at once; a chunked body is read up to the limit and replayed to the app.
    """

    def __init__(self, app: ASGIApp, *, default: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def _limit(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await too_large_response(scope["path"], limit)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
                break
        if length is not None:
            if not declared_within(length, limit):
                await self._refuse(scope, receive, send, limit)
                return
            await self.app(scope, receive, send)
            return
        try:  # no length declared (chunked): buffer up to the limit, then replay
            body = await read_body(receive, limit)
        except BodyTooLarge:
            await self._refuse(scope, receive, send, limit)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class AccessMiddleware:
    """One JSON access line and the request metrics per HTTP request, labelled by route template."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            method = scope["method"]
            self.metrics.observe_request(method, template, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                fields: dict[str, Any] = {"method": method, "route": template, "status": status,
                                          "latency_ms": round(seconds * 1000, 3)}
                state = scope.get("state") or {}
                for key in ("key_id", "action", "decision_id"):
                    if key in state:
                        fields[key] = state[key]
                access_log.info("request", extra={"fields": fields})
