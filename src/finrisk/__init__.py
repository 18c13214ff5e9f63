"""finrisk: an open platform for financial risk control (events, features, rules, models, graph)."""

from __future__ import annotations

from finrisk.errors import (
    AuthenticationError,
    EventConflictError,
    EventValidationError,
    FinriskError,
    ImportProblem,
    InputFileError,
    ListConflictError,
    ListError,
    ListImportError,
    ListNotFoundError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QueryError,
    RuleSetConflictError,
    RuleSetNotFoundError,
    RuleSetVersionError,
    ServiceNotReadyError,
    SimulationConfigError,
    SnapshotError,
    StoreError,
    UnknownEventTypeError,
    WorkspaceError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "EventConflictError",
    "EventValidationError",
    "FinriskError",
    "ImportProblem",
    "InputFileError",
    "ListConflictError",
    "ListError",
    "ListImportError",
    "ListNotFoundError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "QueryError",
    "RuleSetConflictError",
    "RuleSetNotFoundError",
    "RuleSetVersionError",
    "ServiceNotReadyError",
    "SimulationConfigError",
    "SnapshotError",
    "StoreError",
    "UnknownEventTypeError",
    "WorkspaceError",
    "__version__",
]
