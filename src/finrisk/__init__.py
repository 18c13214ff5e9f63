"""finrisk: an open platform for financial risk control (events, features, rules, models, graph)."""

from __future__ import annotations

from finrisk.errors import (
    EventConflictError,
    EventValidationError,
    FinriskError,
    InputFileError,
    ModelError,
    ModelNotFoundError,
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
    "InputFileError",
    "ModelError",
    "ModelNotFoundError",
    "QueryError",
    "SimulationConfigError",
    "SnapshotError",
    "StoreError",
    "UnknownEventTypeError",
    "WorkspaceError",
    "__version__",
]
