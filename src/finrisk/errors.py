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
    ├── RuleSyntaxError               422  a rule condition is not in the rule language (line, column, caret)
    ├── RuleSetError                  422  a rule-set file is malformed (file, line, rule, problem)
    ├── ListError                     400  a list or list-entry argument is malformed (names the field)
    │   ├── ListNotFoundError         404  no list by that name, or no entry for that value
    │   ├── ListConflictError         409  a list by that name exists already
    │   └── ListImportError           400  a list CSV has bad rows (row and problem each); nothing was stored
    ├── RuleSetVersionError           400  a rule-set version request is malformed (bad name, nothing to publish)
    │   ├── RuleSetNotFoundError      404  no rule set, version or draft by that name
    │   └── RuleSetConflictError      409  content identical to the live version, or a concurrent publish won
    ├── StoreError                    503  the event log, warehouse or relational store cannot do its job
    ├── AuthenticationError           401  no API key, or one that is unknown or revoked
    ├── PermissionDeniedError         403  the API key's role may not do this
    ├── NotFoundError                 404  the named decision or API key does not exist
    ├── PayloadTooLargeError          413  a request body is over the service's limit
    ├── UnsupportedMediaTypeError     415  a request body is not sent as JSON (names the Content-Type header)
    ├── ServiceNotReadyError          503  the decision service is still loading (or failed to load)
    │   └── GraphNotReadyError        503  the network is still being built from the warehouse (Retry-After says when)
    ├── ScorecardError                400  a scorecard cannot be fitted, loaded or declared (names the problem)
    │   └── ScorecardInputError       422  rows given to a scorecard lack a variable it uses or have the wrong width
    ├── ModelError                    400  a model cannot be trained, stored or served (names the field and value)
    │   └── ModelNotFoundError        404  no registered model has that name, version or stage
    ├── GraphInputError               400  a graph input column or detector parameter is invalid (field, rule, value)
    └── GraphEntityNotFoundError      404  a graph query names an entity the graph does not hold
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuthenticationError",
    "EventConflictError",
    "EventValidationError",
    "FinriskError",
    "GraphEntityNotFoundError",
    "GraphInputError",
    "GraphNotReadyError",
    "ImportProblem",
    "InputFileError",
    "ListConflictError",
    "ListError",
    "ListImportError",
    "ListNotFoundError",
    "ModelError",
    "ModelNotFoundError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Problem",
    "QueryError",
    "RuleSetConflictError",
    "RuleSetError",
    "RuleSetNotFoundError",
    "RuleSetVersionError",
    "RuleSyntaxError",
    "ScorecardError",
    "ScorecardInputError",
    "ServiceNotReadyError",
    "SimulationConfigError",
    "SnapshotError",
    "StoreError",
    "UnknownEventTypeError",
    "UnsupportedMediaTypeError",
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
    """The event log, warehouse or relational store cannot do its job (disk, corruption, locking)."""

    http_status = 503


class ListError(FinriskError, ValueError):
    """A list or list-entry argument is malformed; the message names the field (never an entry's value)."""

    http_status = 400


class ListNotFoundError(ListError):
    """No list by that name, or the list has no entry for that value."""

    http_status = 404


class ListConflictError(ListError):
    """A list by that name exists already."""

    http_status = 409


@dataclass(frozen=True)
class ImportProblem:
    """One bad row of an imported file (``row`` counts the header as row 1, like a spreadsheet)."""

    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.problem}"

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "problem": self.problem}


class ListImportError(ListError):
    """A list CSV has bad rows; ``problems`` lists every one of them and nothing was stored."""

    http_status = 400
    shown = 20  # problems spelled out in the message; all of them stay in ``problems``

    def __init__(self, file: str, problems: list[ImportProblem]) -> None:
        self.file = file
        self.problems = problems
        listed = "; ".join(str(p) for p in problems[: self.shown])
        more = f"; and {len(problems) - self.shown} more" if len(problems) > self.shown else ""
        super().__init__(f"{file}: {len(problems)} bad row(s), nothing imported: {listed}{more}")


class RuleSetVersionError(FinriskError, ValueError):
    """A rule-set version request is malformed: a bad name, nothing to publish, an unknown version."""

    http_status = 400


class RuleSetNotFoundError(RuleSetVersionError):
    """No rule set, version or draft by that name."""

    http_status = 404


class RuleSetConflictError(RuleSetVersionError):
    """The content equals the live version, or another publisher wrote the same version first."""

    http_status = 409
class RuleSyntaxError(FinriskError, ValueError):
    """A rule condition is not in the rule language, or names something unknown.

    ``line`` and ``column`` are 1-based; within the condition text unless ``file`` is set, in which case
    the rule-set loader has already moved them to the position in that file. ``str()`` shows the
    offending line with a caret under the column, so a terminal or an API client can point at it.
    """

    http_status = 422

    def __init__(self, message: str, *, line: int, column: int, source_line: str = "",
                 file: str | None = None, rule: str | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.file = file
        self.rule = rule
        super().__init__(message)

    @property
    def location(self) -> str:
        """``file:line:column`` (or ``line L, column C`` without a file)."""
        if self.file is not None:
            return f"{self.file}:{self.line}:{self.column}"
        return f"line {self.line}, column {self.column}"

    def __str__(self) -> str:
        rule = f"rule {self.rule!r}: " if self.rule is not None else ""
        head = f"{self.location}: {rule}{self.message}"
        if not self.source_line:
            return head
        shown = self.source_line.expandtabs(1).rstrip()
        caret = " " * (max(self.column, 1) - 1) + "^"
        return f"{head}\n    {shown}\n    {caret}"


class RuleSetError(FinriskError, ValueError):
    """A rule-set file is malformed: unknown key, bad action, duplicate rule name, bad level table."""

    http_status = 422

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 rule: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.rule = rule
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        rule_part = f"rule {rule!r}: " if rule is not None else ""
        super().__init__(f"{where}{rule_part}{message}")


class AuthenticationError(FinriskError):
    """No API key came, or it is unknown or revoked; the message never echoes the key."""

    http_status = 401


class PermissionDeniedError(FinriskError):
    """The API key is valid but its role may not do this; the message names the roles that may."""

    http_status = 403


class NotFoundError(FinriskError):
    """The named decision or API key does not exist."""

    http_status = 404


class PayloadTooLargeError(FinriskError):
    """A request body is larger than the service accepts (the limit is in the message)."""

    http_status = 413


class UnsupportedMediaTypeError(FinriskError):
    """A request body came with a ``Content-Type`` other than JSON; the message names the header."""

    http_status = 415


class ServiceNotReadyError(FinriskError):
    """The decision service is still loading its state, or failed to load; health says which."""

    http_status = 503


class GraphNotReadyError(ServiceNotReadyError):
    """The network API's graph is still being built (a large workspace takes a while); retry after ``retry_after``."""

    http_status = 503

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ScorecardError(FinriskError, ValueError):
    """A scorecard cannot be fitted, loaded or declared: a one-class target, a malformed card or declaration."""

    http_status = 400


class ScorecardInputError(ScorecardError):
    """Rows given to a fitted scorecard lack a variable it uses or have another width than in fit."""

    http_status = 422


class ModelError(FinriskError, ValueError):
    """A model cannot be trained, stored or served: bad parameters, unsupported model, unusable data."""

    http_status = 400


class ModelNotFoundError(ModelError):
    """No registered model has that name, version or stage."""

    http_status = 404


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
