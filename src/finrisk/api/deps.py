"""What routes receive: the decision service (once it is ready) and the caller's key, as ``Annotated`` types."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from finrisk.decisions.model import Decision, IngestResult
from finrisk.errors import ServiceNotReadyError

__all__ = ["DecisionServiceLike", "ServiceDep", "ServiceHolder", "get_service", "ready_service"]


class DecisionServiceLike(Protocol):
    """The part of :class:`finrisk.decisions.service.DecisionService` the API calls."""

    @property
    def lists(self) -> Any: ...

    @property
    def rulesets(self) -> Any: ...

    def decide(self, body: Mapping[str, Any]) -> Decision: ...

    async def decide_async(self, body: Mapping[str, Any]) -> Decision: ...

    async def decide_json_async(self, body: Mapping[str, Any]) -> tuple[Decision, bytes]: ...

    def decide_json_soon(self, body: Mapping[str, Any], loop: asyncio.AbstractEventLoop,
                         then: Callable[[tuple[Decision, bytes] | Exception], object],
                         ) -> tuple[Decision, bytes] | None: ...

    def get_decision(self, decision_id: str) -> Decision | None: ...

    def credit_application(self, body: Mapping[str, Any], *, scorecard: str | None = None) -> dict[str, Any]: ...

    def ingest(self, bodies: Sequence[Mapping[str, Any]]) -> IngestResult: ...

    def reload_rules(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class ServiceHolder:
    """The service the app serves, set once it has loaded: ``finrisk serve`` listens (and answers
    ``/health`` with 503) while the service rebuilds its state, and swaps it in when ready."""

    def __init__(self, service: DecisionServiceLike | None = None) -> None:
        self._service = service
        self._lock = threading.Lock()
        self.error: str | None = None
        self.progress: str | None = None

    @property
    def service(self) -> DecisionServiceLike | None:
        return self._service

    def set(self, service: DecisionServiceLike) -> None:
        with self._lock:
            self._service = service
            self.error = None

    def fail(self, message: str) -> None:
        """Record why the service could not load; health reports it, every route answers 503."""
        with self._lock:
            self.error = message


async def get_service(request: Request) -> DecisionServiceLike:
    return ready_service(request.app.state.services)


def ready_service(holder: ServiceHolder) -> DecisionServiceLike:
    """The loaded service, or 503 saying whether it is still loading or failed to."""
    service = holder.service
    if service is None:
        reason = f"failed to load: {holder.error}" if holder.error else "still loading; poll GET /health"
        raise ServiceNotReadyError(f"the decision service is {reason}")
    return service


ServiceDep = Annotated[DecisionServiceLike, Depends(get_service)]
