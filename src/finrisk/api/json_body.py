"""Read a JSON request body cheaply on the hot path, with the same problem answers as FastAPI's.

``POST /v1/decisions`` takes its body as a plain :class:`~starlette.requests.Request` rather than a
pydantic parameter: FastAPI's body machinery (form/JSON sniffing, a model instance, ``model_dump``)
costs more than the decision itself. Here the bytes are parsed once with orjson and the common
fields checked by the model's own compiled validator, so the rules and messages stay those of
:class:`~finrisk.api.schemas.decisions.EventIn`; errors become the usual 422 problem bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from finrisk.errors import UnsupportedMediaTypeError

__all__ = ["is_json_media_type", "parse_json_object", "read_json_object", "unsupported_media_type"]


def is_json_media_type(value: str | None) -> bool:
    """``application/json`` or any ``+json`` type, parameters (``; charset=utf-8``) allowed."""
    if value == "application/json":  # what nearly every client sends: no split, strip and lower (twice per decision)
        return True
    if not value:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def unsupported_media_type(value: str | None) -> UnsupportedMediaTypeError:
    got = f"got {value!r}" if value else "it is missing"
    return UnsupportedMediaTypeError(f"Content-Type: expected application/json, {got}; send the body as JSON")


async def read_json_object(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    """The request's body as a dict checked against ``model``: see :func:`parse_json_object`."""
    content_type = request.headers.get("content-type")
    if not is_json_media_type(content_type):  # before reading: a wrong type is refused whatever its size
        raise unsupported_media_type(content_type)
    return parse_json_object(content_type, await request.body(), model)


def parse_json_object(content_type: str | None, raw: bytes, model: type[BaseModel],
                      surely_valid: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """The body as a dict, checked against ``model`` (extra keys kept as they came).

    Raises :class:`UnsupportedMediaTypeError` (415) for a non-JSON ``Content-Type`` and
    :class:`RequestValidationError` (422, one problem per field) for bad JSON or fields.
    ``surely_valid(body)``, if given, is a cheaper check that is true only for bodies the model
    accepts: those skip the model's validator (anything else still gets the model's own problems).
    """
    if not is_json_media_type(content_type):
        raise unsupported_media_type(content_type)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from None
    if surely_valid is not None and surely_valid(body):
        return body  # type: ignore[no-any-return]
    try:
        model.__pydantic_validator__.validate_python(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
    if not isinstance(body, dict):  # pragma: no cover - the model refuses anything but an object first
        raise RequestValidationError([{"type": "model_type", "loc": ("body",), "msg": "Input should be an object",
                                       "input": body}])
    return body
