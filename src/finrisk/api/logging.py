"""Structured logs: one JSON object per line, and one access line per request.

The access line holds the method, the route *template* (``/v1/decisions/{decision_id}``, never
the concrete path, which may carry a list value), the status, the latency, the caller's key id
and, for decisions, the action and decision id. Event bodies and personal data are never logged;
error handlers log exception types, not their texts.

``finrisk serve`` writes access lines through a :class:`BufferedStreamHandler`: a line per request
written and flushed at once cost the decision path as much CPU as the decision itself (measured in
process, ``docs/api.md``), because every write gives up the GIL on the event loop's thread. The
lines are formatted on the request's thread and written by a thread of their own a few times a
second; at most that interval's lines are lost if the process is killed with SIGKILL.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sys
import threading
import time
from typing import IO, Any

import orjson

__all__ = ["ACCESS_LOGGER", "BufferedStreamHandler", "JsonFormatter", "configure_logging", "log_fields"]

ACCESS_LOGGER = "finrisk.api.access"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}``; fields come from ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] is not None else None
        return json_line(record.created, record.levelname, record.name, record.getMessage(),
                         fields if isinstance(fields, dict) else None, error)


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def json_line(created: float, level: str, logger: str, msg: str, fields: dict[str, Any] | None,
              error: str | None = None) -> str:
    """One log line (what :class:`JsonFormatter` writes for a record with these attributes)."""
    second = int(created)
    if _second[0] != second:
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second[0] = second
    line: dict[str, Any] = {"ts": f"{_second[1]}.{int((created - second) * 1000):03d}Z",
                            "level": level.lower(), "logger": logger, "msg": msg}
    if fields is not None:
        line.update(fields)
    if error is not None:
        line["error"] = error  # the type only: texts may quote data
    return orjson.dumps(line, default=str).decode()


def log_fields(logger: logging.Logger, msg: str, fields: dict[str, Any]) -> None:
    """``logger.info(msg, extra={"fields": fields})``, cheaper when ``finrisk serve`` set the logger up.

    When the logger's one handler is the :class:`BufferedStreamHandler` of :func:`configure_logging`
    (no filters, no propagation), the JSON line is made here and queued without a ``LogRecord`` or
    the handler chain: 6% of the event loop's time under load for the access line, in a profile of
    ``finrisk serve`` at 2,000 decisions/s. Any other set-up (a test's capture, a filter, another
    handler) takes the ordinary ``logging`` call, so it sees every record.
    """
    if logger.disabled or not logger.isEnabledFor(logging.INFO):
        return
    handlers = logger.handlers
    if len(handlers) == 1 and not logger.propagate and not logger.filters:
        handler = handlers[0]
        if (type(handler) is BufferedStreamHandler and type(handler.formatter) is JsonFormatter
                and not handler.filters and handler.level <= logging.INFO):
            handler.append(json_line(time.time(), "INFO", logger.name, msg, fields))
            return
    logger.info(msg, extra={"fields": fields})


class BufferedStreamHandler(logging.Handler):
    """Formats records on the caller's thread; a thread of its own writes them every ``interval_s``."""

    def __init__(self, stream: IO[str], interval_s: float = 0.05) -> None:
        super().__init__()
        self.stream = stream
        self.interval_s = interval_s
        self._lines: list[str] = []
        self._batches: collections.deque[list[str]] = collections.deque()  # taken, in order, not yet written
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finrisk-access-log", daemon=True)
        self._thread.start()

    def append(self, line: str) -> None:
        """Queue a line formatted already (:func:`log_fields`)."""
        with self.lock or contextlib.nullcontext():
            self._lines.append(line)

    def emit(self, record: logging.LogRecord) -> None:  # under the handler's lock (``Handler.handle``)
        try:
            self._lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)

    def flush(self) -> None:
        # Never both locks at once: ``logging.shutdown`` calls this holding the handler's lock, and a
        # writer that held the write lock while waiting for the handler's (the order this once had)
        # deadlocked ``finrisk serve``'s exit on SIGTERM. Batches keep the lines in order whichever
        # flush writes them.
        with self.lock or contextlib.nullcontext():
            if self._lines:
                self._batches.append(self._lines)
                self._lines = []
        with self._write_lock:
            batches = self._batches
            if not batches:
                return
            lines: list[str] = []
            while batches:
                lines += batches.popleft()
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush()
            except (OSError, ValueError):  # the stream went away (closed pipe, closed file)
                return


def configure_logging(*, level: int = logging.INFO, stream: IO[str] | None = None,
                      buffer_access_s: float | None = None) -> logging.Handler:
    """Send every ``finrisk`` logger to ``stream`` (stderr) as JSON lines; returns the handler.

    ``buffer_access_s`` (``finrisk serve``): write the access lines from a thread of their own at
    this interval (:class:`BufferedStreamHandler`) instead of one write per request, and stop
    gathering the record attributes the JSON lines never show.
    """
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("finrisk")
    access = logging.getLogger(ACCESS_LOGGER)
    for logger in (root, access):
        for old in list(logger.handlers):
            if isinstance(old.formatter, JsonFormatter):
                logger.removeHandler(old)
                if logger is access:
                    old.close()
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    access.propagate = buffer_access_s is None
    if buffer_access_s is not None:
        # What no line here uses, not gathered per record (logging's documented "Optimization"):
        # the caller's file and line (a walk up the stack), thread, process and process names.
        logging._srcfile = None
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
        buffered = BufferedStreamHandler(target, buffer_access_s)
        buffered.setFormatter(JsonFormatter())
        access.addHandler(buffered)
    return handler
