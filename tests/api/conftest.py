"""Fixtures for the API tests: a relational store, keys of each role, and apps over real stores."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finrisk.api import ApiKeyStore, Role, create_app
from finrisk.decisions.model import Decision, IngestResult
from finrisk.errors import ServiceNotReadyError
from finrisk.rules.lists import ListStore
from finrisk.rules.versions import RuleSetRepository
from finrisk.store.relational import Database, open_database

ADMIN_ENV_KEY = "env-admin-key-for-tests-0123456789"


class StoresOnlyService:
    """The real list and rule-set stores, without the decision engine: for routes that use only them.

    ``decide`` and ``ingest`` answer 503 as a service that has not loaded would; the decision
    routes are tested against the real :class:`DecisionService` elsewhere.
    """

    def __init__(self, db: Database) -> None:
        self.lists = ListStore(db, check_interval_ms=None)
        self.rulesets = RuleSetRepository(db)
        self.reloads = 0

    def decide(self, body: Mapping[str, Any]) -> Decision:
        raise ServiceNotReadyError("no decision engine in this test service")

    async def decide_async(self, body: Mapping[str, Any]) -> Decision:
        raise ServiceNotReadyError("no decision engine in this test service")

    async def decide_json_async(self, body: Mapping[str, Any]) -> tuple[Decision, bytes]:
        raise ServiceNotReadyError("no decision engine in this test service")

    def decide_json_soon(self, body: Mapping[str, Any], loop: Any, then: Any) -> tuple[Decision, bytes] | None:
        raise ServiceNotReadyError("no decision engine in this test service")

    def get_decision(self, decision_id: str) -> Decision | None:
        return None

    def credit_application(self, body: Mapping[str, Any], *, scorecard: str | None = None) -> dict[str, Any]:
        raise ServiceNotReadyError("no decision engine in this test service")

    def ingest(self, bodies: Sequence[Mapping[str, Any]]) -> IngestResult:
        raise ServiceNotReadyError("no decision engine in this test service")

    def reload_rules(self) -> None:
        self.reloads += 1

    def status(self) -> dict[str, Any]:
        return {"ruleset": None}

    def close(self) -> None:
        pass


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    # A file, not sqlite:// : routes run in worker threads and an in-memory database is one shared connection.
    with open_database(f"sqlite:///{tmp_path / 'state' / 'finrisk.db'}") as opened:
        yield opened


@pytest.fixture
def key_store(db: Database) -> ApiKeyStore:
    return ApiKeyStore(db, cache_seconds=0)


@pytest.fixture
def role_keys(key_store: ApiKeyStore) -> dict[Role, str]:
    return {role: key_store.create(name=f"test {role.value}", role=role)[1] for role in Role}


@pytest.fixture
def stores_service(db: Database) -> StoresOnlyService:
    return StoresOnlyService(db)


@pytest.fixture
def app(stores_service: StoresOnlyService, key_store: ApiKeyStore) -> FastAPI:
    return create_app(stores_service, key_store, admin_key=ADMIN_ENV_KEY)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
