"""Event log, warehouse and file loading.

:func:`open_log` and :func:`open_warehouse` build the backends a workspace's ``[store]`` settings
choose (``type = "embedded"``: a SQLite event log and a Parquet warehouse queried by DuckDB).
"""

from __future__ import annotations

from finrisk.config import Workspace
from finrisk.store.embedded_log import EmbeddedEventLog
from finrisk.store.log import AppendResult, AppendStatus, EventLog, Labels
from finrisk.store.warehouse import FlushReport, Warehouse

__all__ = [
    "AppendResult",
    "AppendStatus",
    "EmbeddedEventLog",
    "EventLog",
    "FlushReport",
    "LOG_FILE",
    "Labels",
    "Warehouse",
    "open_log",
    "open_warehouse",
]

#: The embedded log's database file inside ``[store] log_dir``.
LOG_FILE = "events.sqlite"


def open_log(workspace: Workspace) -> EmbeddedEventLog:
    """The workspace's event log (``[store] type`` chooses the backend; ``embedded`` for now)."""
    return EmbeddedEventLog(
        workspace.log_dir / LOG_FILE,
        durability=workspace.settings.store.durability,
        registry=workspace.event_types,
    )


def open_warehouse(workspace: Workspace, log: EmbeddedEventLog) -> Warehouse:
    """The workspace's warehouse over ``log``, with the ``[store]`` partition and lateness settings."""
    store = workspace.settings.store
    return Warehouse(
        workspace.warehouse_dir,
        log=log,
        registry=workspace.event_types,
        partition=store.partition,
        lateness_seconds=store.lateness_seconds,
        durability=store.durability,
    )
