"""Structured logs: one JSON object per line, and one access line per request.

The access line holds the method, the route *template* (``/v1/decisions/{decision_id}``, never
the concrete path, which may carry a list value), the status, the latency, the caller's key id
and, for decisions, the action and decision id. Event bodies and personal data are never logged;
error handlers log exception types, not their texts.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

import orjson

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "configure_logging"]

ACCESS_LOGGER = "finrisk.api.access"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}``; fields come from ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__  # the type only: texts may quote data
        return orjson.dumps(line, default=str).decode()


def configure_logging(*, level: int = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Send every ``finrisk`` logger to ``stream`` (stderr) as JSON lines; returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("finrisk")
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    return handler
