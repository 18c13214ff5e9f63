"""The one place that turns errors into HTTP answers: every error is a JSON problem body.

Shape (``application/problem+json``, after RFC 9457)::

    {"status": 422, "title": "Unprocessable Content", "error": "EventValidationError",
     "detail": "invalid login event (1 problem(s)): amount: expected a number, got 'x' (str)",
     "problems": [{"field": "amount", "expected": "a number", "got": "'x' (str)"}]}

A :class:`~finrisk.errors.FinriskError` answers with its own ``http_status`` and message (domain
messages are written to be log-safe). Pydantic's request errors become the same shape with one
problem per field; their ``got`` names the kind of value only, never the value, since a request
field may hold personal data. Anything unexpected answers a bare 500 problem and is logged by type.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from finrisk.api.json_body import unsupported_media_type
from finrisk.errors import EventValidationError, FinriskError

__all__ = ["error_response", "install_error_handlers", "problem_response", "validation_problems"]

log = logging.getLogger("finrisk.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(
    status: int, detail: str, *, error: str, problems: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"status": status, "title": HTTPStatus(status).phrase, "error": error, "detail": detail}
    if problems:
        body["problems"] = problems
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _kind(value: Any) -> str:
    """What came, without the value itself (request fields may hold personal data)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return f"a {type(value).__name__}"


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "entries", 3, "value")`` -> ``entries[3].value``; query/path/header names say where."""
    where, *rest = loc or ("body",)
    text = ""
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if where == "body":
        return text or "(body)"
    return f"{text or where} ({where})"


def validation_problems(exc: RequestValidationError) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors():
        kind = err.get("type", "")
        if kind == "json_invalid":
            ctx = err.get("ctx") or {}
            position = err.get("loc", ("body", "?"))[-1]
            problems.append({"field": "(body)", "expected": "valid JSON",
                             "got": f"{ctx.get('error', 'a syntax error')} at character {position}"})
            continue
        got = "nothing" if kind == "missing" else _kind(err.get("input"))
        problems.append({"field": _field(tuple(err.get("loc", ()))), "expected": str(err.get("msg", "")),
                         "got": got})
    return problems


def error_response(exc: Exception, scope: Scope) -> Response:
    """The problem answer for any exception (the one mapping the handlers below and the fast path share)."""
    if isinstance(exc, FinriskError):
        return _finrisk_problem(exc)
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc)
    return _unexpected_problem(exc, scope)


async def _finrisk_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FinriskError)
    return _finrisk_problem(exc)


def _finrisk_problem(exc: FinriskError) -> Response:
    problems = [p.as_dict() for p in exc.problems] if isinstance(exc, EventValidationError) else None
    headers = {"WWW-Authenticate": "ApiKey"} if exc.http_status == 401 else None
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers = {"Retry-After": str(retry_after)}
    return problem_response(exc.http_status, str(exc), error=type(exc).__name__, problems=problems, headers=headers)


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any(isinstance(e.get("input"), bytes) and tuple(e.get("loc", ())) == ("body",) for e in exc.errors()):
        # FastAPI hands a body it did not parse as JSON (another Content-Type) to the model as bytes.
        return _finrisk_problem(unsupported_media_type(request.headers.get("content-type")))
    return _validation_problem(exc)


def _validation_problem(exc: RequestValidationError) -> Response:
    problems = validation_problems(exc)
    listed = "; ".join(f"{p['field']}: expected {p['expected']}, got {p['got']}" for p in problems)
    return problem_response(422, f"invalid request ({len(problems)} problem(s)): {listed}",
                            error="RequestValidationError", problems=problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no endpoint at {request.url.path}; see /docs for the API"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(exc.status_code, detail, error="HTTPError", headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return _unexpected_problem(exc, request.scope)


def _unexpected_problem(exc: Exception, scope: Scope) -> Response:
    # The type and the route template only: an exception's text may quote the event it choked on,
    # and a concrete path may hold a list value.
    route = getattr(scope.get("route"), "path", None) or "(unmatched)"
    log.error("unhandled error", extra={"fields": {"error": type(exc).__name__, "route": route}})
    return problem_response(500, "internal error; it has been logged", error="InternalError")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FinriskError, _finrisk_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
