"""The finrisk exception tree.

Every error the platform raises on purpose derives from :class:`FinriskError` and knows the
HTTP status the API layer will turn it into, so domain code never decides status codes::

    FinriskError                      500
    ├── WorkspaceError                400  a workspace file is missing or malformed (file, line, problem)
    ├── EventValidationError          422  an event breaks its type's schema (every problem at once)
    ├── UnknownEventTypeError         422  the event names a type the workspace does not declare
    ├── EventConflictError            409  same event_id, different body
    ├── InputFileError                400  a file given to ``finrisk load`` cannot be read at all
    ├── SimulationConfigError         400  a simulated-world parameter is out of range
    ├── SnapshotError                 400  an online feature-state snapshot cannot be restored
    ├── QueryError                    400  a warehouse SQL query fails (syntax, unknown table or column)
    ├── StoreError                    503  the event log or warehouse cannot do its job
    ├── GraphInputError               400  a graph input column or detector parameter is invalid (field, rule, value)
    └── GraphEntityNotFoundError      404  a graph query names an entity the graph does not hold
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "EventConflictError",
    "EventValidationError",
    "FinriskError",
    "GraphEntityNotFoundError",
    "GraphInputError",
    "InputFileError",
    "Problem",
    "QueryError",
    "SimulationConfigError",
    "SnapshotError",
    "StoreError",
    "UnknownEventTypeError",
    "WorkspaceError",
]


class FinriskError(Exception):
    """Root of every error finrisk raises on purpose."""

    http_status: int = 500


class WorkspaceError(FinriskError):
    """A workspace file is missing or malformed; the message names the file, line and problem."""

    http_status = 400

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(f"{where}{message}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field of an event."""

    field: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "expected": self.expected, "got": self.got}


class EventValidationError(FinriskError):
    """An event breaks its type's schema; ``problems`` lists every problem, not just the first."""

    http_status = 422

    def __init__(self, event_type: str, problems: list[Problem]) -> None:
        self.event_type = event_type
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(f"invalid {event_type} event ({len(problems)} problem(s)): {listed}")


class UnknownEventTypeError(FinriskError):
    """The event's ``event_type`` is not declared in the workspace."""

    http_status = 422

    def __init__(self, event_type: Any, known: list[str]) -> None:
        self.event_type = event_type
        self.known = known
        super().__init__(
            f"event_type: expected one of {', '.join(sorted(known))}, got {event_type!r}"
        )


class EventConflictError(FinriskError):
    """The same ``event_id`` arrived with a different body; the stored event is kept."""

    http_status = 409

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(
            f"event_id {event_id!r} is already stored with a different body; "
            "event_id is the idempotency key, so use a new id for a new event"
        )


class InputFileError(FinriskError):
    """A file given for loading cannot be read at all (bad rows go to the rejects file instead)."""

    http_status = 400


class QueryError(FinriskError):
    """A warehouse SQL query fails; the message is the engine's own, without a traceback."""

    http_status = 400


class SimulationConfigError(FinriskError, ValueError):
    """A :class:`~finrisk.simulate.WorldConfig` parameter is out of range (names field, rule and value)."""

    http_status = 400


class SnapshotError(FinriskError, ValueError):
    """A snapshot cannot be restored: not a snapshot, another format version, or another feature set."""

    http_status = 400


class StoreError(FinriskError):
    """The event log or warehouse cannot do its job (disk, corruption, locking)."""

    http_status = 503


class GraphInputError(FinriskError, ValueError):
    """A graph input column or detector parameter is invalid; names the field, the rule and what it got."""

    http_status = 400

    def __init__(self, field: str, rule: str, got: str) -> None:
        self.field = field
        self.rule = rule
        self.got = got
        super().__init__(f"The {field!r} parameter {rule}. Got {got} instead.")


class GraphEntityNotFoundError(FinriskError, KeyError):
    """A graph query names an entity the graph does not hold (the id is not echoed: it may be personal data)."""

    http_status = 404

    def __init__(self, entity_type: str) -> None:
        self.entity_type = entity_type
        super().__init__(f"no {entity_type} with that id in the graph")

    def __str__(self) -> str:
        return str(self.args[0])
