"""Fixtures for the store tests: a fresh workspace, its validator and event factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from finrisk.config import Workspace, init_workspace
from finrisk.events import EventValidator
from finrisk.store import EmbeddedEventLog, open_log

MakeTxn = Callable[..., dict[str, Any]]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")


@pytest.fixture
def validator(workspace: Workspace) -> EventValidator:
    return EventValidator(workspace.event_types)


@pytest.fixture
def log(workspace: Workspace) -> Iterator[EmbeddedEventLog]:
    with open_log(workspace) as opened:
        yield opened


@pytest.fixture
def make_txn(validator: EventValidator) -> MakeTxn:
    def make(event_id: str, when: str = "2026-01-05T09:00:00Z", amount: float = 10.0, **extra: Any) -> dict[str, Any]:
        body = {
            "event_id": event_id,
            "event_type": "transaction",
            "event_time": when,
            "txn_type": "payment",
            "account_id": "A1",
            "amount": amount,
            **extra,
        }
        return validator.validate(body)

    return make
