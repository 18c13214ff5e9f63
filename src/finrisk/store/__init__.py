"""Event log, warehouse and file loading.

:func:`open_log` and :func:`open_warehouse` (or ``Warehouse.open``) build the backends a
workspace's ``[store]`` settings choose (``type = "embedded"``: a SQLite event log and a Parquet
warehouse queried by DuckDB); :func:`load_path` loads files into them.
"""

from __future__ import annotations

from finrisk.store.embedded_log import LOG_FILE, EmbeddedEventLog, open_log
from finrisk.store.ingest import LoadSummary, load_path
from finrisk.store.log import AppendResult, AppendStatus, EventLog, Labels
from finrisk.store.warehouse import FlushReport, Warehouse, open_warehouse

__all__ = [
    "AppendResult",
    "AppendStatus",
    "EmbeddedEventLog",
    "EventLog",
    "FlushReport",
    "LOG_FILE",
    "Labels",
    "LoadSummary",
    "Warehouse",
    "load_path",
    "open_log",
    "open_warehouse",
]
