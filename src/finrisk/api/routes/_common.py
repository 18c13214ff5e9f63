"""Helpers shared by routes: JSON answers without a second validation pass, and error docs."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from finrisk.api.keys import ApiKey

__all__ = ["PROBLEM_CONTENT", "PROBLEM_RESPONSES", "actor", "json_response"]


def json_response(content: Any, *, status_code: int = 200) -> Response:
    """Serialise with orjson directly: the shapes are documented by ``response_model`` but not re-validated."""
    return Response(orjson.dumps(content, default=str), status_code=status_code, media_type="application/json")


def actor(key: ApiKey) -> str:
    """How a change is attributed in audits: the key's name and id (never the key)."""
    return f"{key.name} ({key.key_id})"


PROBLEM_CONTENT = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one", **PROBLEM_CONTENT},
    403: {"description": "The key's role may not call this endpoint", **PROBLEM_CONTENT},
    422: {"description": "The request is malformed; `problems` names each field", **PROBLEM_CONTENT},
    503: {"description": "The service is loading, or its store cannot do its job", **PROBLEM_CONTENT},
}
