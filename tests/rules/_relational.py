"""Databases for the list and version tests: a SQLite file, plus PostgreSQL when FINRISK_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

from finrisk.store.relational import Database, metadata, open_database

POSTGRES_URL = os.environ.get("FINRISK_TEST_POSTGRES_URL")
#: SQLite always; PostgreSQL too when FINRISK_TEST_POSTGRES_URL names a database the tests may wipe.
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'finrisk.db'}"
    assert POSTGRES_URL is not None
    return POSTGRES_URL


def fresh_database(backend: str, tmp_path: Path) -> Database:
    """An empty store; on PostgreSQL the shared test database is wiped first."""
    url = database_url(backend, tmp_path)
    if backend == "postgresql":
        db = open_database(url)
        with db.write() as conn:
            metadata.drop_all(conn)
        db.close()
    return open_database(url)
