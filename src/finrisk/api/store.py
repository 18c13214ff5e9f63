"""Where a workspace keeps its API keys: its relational store (``state/finrisk.db`` by default)."""

from __future__ import annotations

from finrisk.api.keys import ApiKeyStore
from finrisk.config import Workspace
from finrisk.store.relational import open_database

__all__ = ["open_key_store"]


def open_key_store(ws: Workspace) -> ApiKeyStore:
    return ApiKeyStore(open_database(ws.database_url))
