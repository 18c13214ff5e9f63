"""``finrisk serve``: the decision API on uvicorn.

The socket is bound first and its address printed, so callers (and ``--port 0``) know where to
poll ``GET /health``; the service then loads its state in a background thread while health
answers 503, and health turns 200 once decisions can be made. ``FINRISK_API_KEY`` is accepted as
an admin key without being stored. SIGINT/SIGTERM stop the server gracefully and close the service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from finrisk.api.app import create_app
from finrisk.api.coalescing import CoalescingHttpToolsProtocol
from finrisk.api.decision_protocol import DecisionHttpProtocol
from finrisk.api.deps import ServiceHolder
from finrisk.api.gil import SERVING_SWITCH_INTERVAL_S, set_switch_interval
from finrisk.api.heap import freeze_loaded_state
from finrisk.api.logging import configure_logging
from finrisk.api.store import open_key_store
from finrisk.cli._common import WorkspaceOption, err_console, open_workspace, user_errors
from finrisk.config import Workspace
from finrisk.decisions.service import DecisionService, LogWriterKind
from finrisk.decisions.writer_process import COMMIT_PACE_S

ADMIN_KEY_ENV = "FINRISK_API_KEY"


class LogWriter(StrEnum):
    """Where ``finrisk serve`` commits the decision log (docs/api.md, sixth round)."""

    PROCESS = "process"
    THREAD = "thread"


def _say(text: str) -> None:
    """Status lines go to stdout (flushed: scripts wait for them); logs go to stderr as JSON."""
    print(f"finrisk serve: {text}", flush=True)


def _load(ws: Workspace, holder: ServiceHolder, server: uvicorn.Server, base_url: str, has_key: bool,
          log_writer: LogWriterKind, loop: asyncio.AbstractEventLoop, log_pace_s: float = 0.0) -> None:
    try:
        service = DecisionService.open(ws, log_writer=log_writer, loop=loop, log_pace_s=log_pace_s)
    except Exception as exc:  # report and stop: a server that can never decide should not linger
        message = str(exc) or type(exc).__name__
        holder.fail(f"{type(exc).__name__}: {message}")
        _say(f"the decision service failed to load: {message}")
        server.should_exit = True
        return
    freeze_loaded_state()  # no full garbage-collector pass walks the loaded state while serving
    holder.set(service)
    status = service.status()
    ruleset = status.get("ruleset", "?")
    _say(f"ready: rule set {ruleset}; GET {base_url}/health answers 200")
    hint = "$FINRISK_API_KEY" if has_key else "<key from 'finrisk keys create'>"
    _say(f"try: curl -s -H 'X-API-Key: {hint}' -H 'Content-Type: application/json' "
         f"-d '{{\"event_id\": \"e1\", \"event_type\": \"login\", \"event_time\": \"2026-01-05T09:00:00Z\", "
         f"\"customer_id\": \"C1\", \"success\": true}}' {base_url}/v1/decisions")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: [service] host).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (0 picks a free one; default: "
                                             "[service] port).")] = None,
    access_log: Annotated[bool, typer.Option(help="One JSON line per request on stderr.")] = True,
    coalesce_writes: Annotated[bool, typer.Option(hidden=True, help="One socket write per response "
                                                  "(off only to compare).")] = True,
    direct_decisions: Annotated[bool, typer.Option(hidden=True, help="Answer plain POST /v1/decisions "
                                                   "requests from the HTTP parser, without an ASGI cycle "
                                                   "(off only to compare).")] = True,
    switch_interval_ms: Annotated[float, typer.Option(hidden=True, min=0.01, help="The GIL switch interval while "
                                                      "serving (CPython's default is 5; to compare).")]
    = SERVING_SWITCH_INTERVAL_S * 1000,
    log_writer: Annotated[LogWriter, typer.Option(help="Commit the decision log from a child process (its "
                                                  "SQLite work then runs beside the GIL: a lower p99 when a core "
                                                  "is free) or from a thread of this process (less CPU in all; "
                                                  "docs/api.md, sixth round).")]
    = LogWriter.PROCESS,
    log_pace_ms: Annotated[float, typer.Option(hidden=True, min=0.0, help="The log writer process starts a group "
                                               "commit no sooner than this after the previous one (fewer "
                                               "commits, less CPU; to compare, docs/api.md ninth round).")]
    = COMMIT_PACE_S * 1000,
) -> None:
    """Serve the decision API for a workspace (keys: 'finrisk keys create', or FINRISK_API_KEY)."""
    with user_errors():
        ws = open_workspace(workspace)
        keys = open_key_store(ws)
    service_settings: Any = getattr(ws.settings, "service", None)
    host = host or str(getattr(service_settings, "host", "127.0.0.1"))
    port = port if port is not None else int(getattr(service_settings, "port", 8000))
    admin_key = os.environ.get(ADMIN_KEY_ENV) or None
    set_switch_interval(switch_interval_ms / 1000)  # bounded GIL hand-offs between the loop and the writer
    handler = configure_logging(buffer_access_s=0.05)  # access lines: one write per 50 ms, not per request
    # uvicorn's own errors ("Exception in ASGI application") go through the same JSON formatter, which
    # keeps the exception type and drops its text and traceback (they may quote an event).
    uvicorn_log = logging.getLogger("uvicorn")
    uvicorn_log.handlers = [handler]
    uvicorn_log.setLevel(logging.WARNING)
    uvicorn_log.propagate = False
    logging.getLogger("finrisk.api.access").disabled = not access_log
    holder = ServiceHolder()
    app = create_app(holder, keys, admin_key=admin_key)
    try:
        sock = _bind(host, port)
    except OSError as exc:
        err_console.print(f"error: cannot listen on {host}:{port}: {exc.strerror}", markup=False)
        raise typer.Exit(1) from None
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    base_url = f"http://{shown}:{bound_port}"
    http: Any = "auto"
    if coalesce_writes:
        http = DecisionHttpProtocol if direct_decisions else CoalescingHttpToolsProtocol
    config = uvicorn.Config(app, http=http, log_config=None, access_log=False, timeout_graceful_shutdown=10,
                            backlog=2048, server_header=False,
                            proxy_headers=False)  # no client addresses are used: skip the per-request rewrite
    server = uvicorn.Server(config)
    _say(f"listening on {base_url} (loading workspace {ws.root}; GET /health answers 503 until ready)")
    if admin_key is None and not keys.list():
        _say("no API keys yet: make one with 'finrisk keys create --role admin --name me' or set FINRISK_API_KEY")
    stop_signals: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # uvicorn stops gracefully on these and then re-raises them; recording them here (instead of
        # the default handlers, which would end the process at once) lets the service close cleanly.
        signal.signal(signum, lambda received, _frame: stop_signals.append(received))
    loaders: list[threading.Thread] = []

    async def load_and_serve() -> None:
        # the service loads on a thread of its own and is handed this loop, which then drives the
        # log writer process's socket (no thread of this process wakes per group commit)
        loader = threading.Thread(target=_load, args=(ws, holder, server, base_url, admin_key is not None,
                                                      log_writer.value, asyncio.get_running_loop(),
                                                      log_pace_ms / 1000),
                                  name="finrisk-load", daemon=True)
        loaders.append(loader)
        loader.start()
        await server.serve(sockets=[sock])

    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:  # what server.run() does
            runner.run(load_and_serve())
    finally:
        for loader in loaders:
            loader.join(timeout=0.1)
        service = holder.service
        if service is not None:
            service.close()
    if holder.error:
        raise typer.Exit(1)
    _say("stopped")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command()(serve)
