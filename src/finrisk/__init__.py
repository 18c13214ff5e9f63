"""finrisk: an open platform for financial risk control (events, features, rules, models, graph)."""

from __future__ import annotations

from finrisk.errors import (
    EventConflictError,
    EventValidationError,
    FinriskError,
    GraphEntityNotFoundError,
    GraphInputError,
    InputFileError,
    QueryError,
    SimulationConfigError,
    SnapshotError,
    StoreError,
    UnknownEventTypeError,
    WorkspaceError,
)

__version__ = "0.1.0"

__all__ = [
    "EventConflictError",
    "EventValidationError",
    "FinriskError",
    "GraphEntityNotFoundError",
    "GraphInputError",
    "InputFileError",
    "QueryError",
    "SimulationConfigError",
    "SnapshotError",
    "StoreError",
    "UnknownEventTypeError",
    "WorkspaceError",
    "__version__",
]
