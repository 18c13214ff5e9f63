"""The event log interface: append-only, durable, idempotent by ``event_id``, replayable.

Every backend (the embedded SQLite log today; Redis Streams or Kafka later) implements
:class:`EventLog`. The contract:

- ``append`` takes *normalised* events (the output of
  :meth:`~finrisk.events.EventValidator.validate`) and returns one :class:`AppendResult` per event,
  in input order. When it returns, every stored event is durable (acknowledged = durable).
- An ``event_id`` seen before with the same :func:`~finrisk.events.body_hash` is a duplicate: it is
  stored once and the result carries the original ``seq``. The same ``event_id`` with another body
  is a conflict: the stored event is kept, the result carries an
  :class:`~finrisk.errors.EventConflictError`, and the other events of the batch are unaffected.
- ``seq`` numbers are positive, strictly increasing in append order and never reused.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

from finrisk.errors import EventConflictError

__all__ = ["AppendResult", "AppendStatus", "EventLog", "Labels"]

#: Ground-truth label columns of one event (``label_*`` name -> value), kept apart from its body.
Labels = Mapping[str, Any]


class AppendStatus(StrEnum):
    """What happened to one appended event."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class AppendResult:
    """The outcome of appending one event.

    Attributes
    ----------
    event_id : str
        The event's idempotency key.
    status : AppendStatus
        ``stored`` (new), ``duplicate`` (already stored with the same body) or ``conflict``.
    seq : int or None
        The log position of the stored event (the original one for a duplicate); ``None`` for a
        conflict.
    error : EventConflictError or None
        Set only for a conflict.
    """

    event_id: str
    status: AppendStatus
    seq: int | None = None
    error: EventConflictError | None = None

    @property
    def ok(self) -> bool:
        """True when the event is in the log (stored now or before)."""
        return self.status is not AppendStatus.CONFLICT


class EventLog(abc.ABC):
    """Append-only, durable, replayable log of validated events (see the module docstring)."""

    @abc.abstractmethod
    def append(
        self, events: Sequence[Mapping[str, Any]], *, labels: Sequence[Labels | None] | None = None
    ) -> list[AppendResult]:
        """Append normalised events; ``labels[i]`` (optional) is the ground truth of ``events[i]``."""

    def append_one(self, event: Mapping[str, Any], *, labels: Labels | None = None) -> AppendResult:
        """Append one event; a conflict raises :class:`~finrisk.errors.EventConflictError`."""
        result = self.append([event], labels=None if labels is None else [labels])[0]
        if result.error is not None:
            raise result.error
        return result

    @abc.abstractmethod
    def read(
        self, after_seq: int = 0, *, batch: int = 10_000, event_type: str | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Yield ``(seq, event)`` in log order for every event with ``seq > after_seq``."""

    @abc.abstractmethod
    def get(self, event_id: str) -> dict[str, Any] | None:
        """The stored event with this id, or ``None``."""

    @abc.abstractmethod
    def count(self, event_type: str | None = None) -> int:
        """How many events the log holds (of one type, or all)."""

    @abc.abstractmethod
    def counts(self) -> dict[str, int]:
        """Number of events per event type."""

    @abc.abstractmethod
    def last_seq(self) -> int:
        """The highest ``seq`` stored (0 for an empty log)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release files and connections; the log cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
