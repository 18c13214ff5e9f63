"""Where a workspace keeps its API keys: the relational store (``state/finrisk.db`` by default)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from finrisk.api.keys import ApiKeyStore
from finrisk.config import Workspace

__all__ = ["open_key_store", "workspace_database_url"]


def workspace_database_url(ws: Workspace) -> str:
    url = getattr(ws, "database_url", None)
    if isinstance(url, str) and url:
        return url
    path = Path(ws.root) / "state" / "finrisk.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_key_store(ws: Workspace) -> ApiKeyStore:
    return ApiKeyStore(sa.create_engine(workspace_database_url(ws)))
