"""The relational store: SQLite settings, schema version, URLs and the workspace default."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from finrisk.config import init_workspace, load_workspace
from finrisk.errors import StoreError, WorkspaceError
from finrisk.store.relational import (
    SCHEMA_VERSION,
    audit_log,
    datetime_to_us,
    open_database,
    read_audit,
    record_audit,
    schema_version,
    us_to_datetime,
)


def test_sqlite_file_is_created_with_wal_foreign_keys_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state" / "finrisk.db"
    with open_database(f"sqlite:///{path}") as db:
        assert path.is_file() and db.dialect == "sqlite"
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
            assert conn.scalar(select(schema_version.c.version)) == SCHEMA_VERSION
    with open_database(f"sqlite:///{path}") as again, again.read() as conn:  # reopening is idempotent
        assert conn.scalar(select(schema_version.c.version)) == SCHEMA_VERSION


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    with open_database(url) as db, db.write() as conn:
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than this finrisk"):
        open_database(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", r"database_url: expected a URL such as sqlite:///"),
        ("nosuchdb://host/x", r"database_url nosuchdb://host/x"),
    ],
)
def test_bad_urls_are_store_errors(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_database(url)


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(StoreError) as info:
        open_database("nosuchdb://user:s3cret@host/x")
    assert "s3cret" not in str(info.value)


def test_failures_become_store_errors_without_sql(tmp_path: Path) -> None:
    with open_database(f"sqlite:///{tmp_path / 'f.db'}") as db:
        with pytest.raises(StoreError, match=r"relational store sqlite:///.*OperationalError: no such table"):
            with db.read() as conn:
                conn.exec_driver_sql("SELECT * FROM nowhere")


def test_write_transactions_roll_back_on_error(tmp_path: Path) -> None:
    with open_database(f"sqlite:///{tmp_path / 'f.db'}") as db:
        with pytest.raises(RuntimeError, match="boom"), db.write() as conn:
            record_audit(conn, actor="a", object_type="list", object_name="x", action="add")
            raise RuntimeError("boom")
        with db.read() as conn:
            assert read_audit(conn, object_type="list") == []


def test_write_transactions_take_the_lock_up_front(tmp_path: Path) -> None:
    """Two read-modify-write transactions never interleave: the counter ends at exactly 2 x 20."""
    with open_database(f"sqlite:///{tmp_path / 'f.db'}") as db:
        with db.write() as conn:
            conn.execute(insert(audit_log).values(at_us=0, actor="n", object_type="t", object_name="c",
                                                  action="0"))

        def bump() -> None:
            for _ in range(20):
                with db.write() as conn:
                    n = int(conn.scalar(select(audit_log.c.action)) or 0)
                    conn.execute(update(audit_log).values(action=str(n + 1)))

        threads = [threading.Thread(target=bump) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with db.read() as conn:
            assert conn.scalar(select(audit_log.c.action)) == "40"


def test_audit_records_round_trip_newest_first(tmp_path: Path) -> None:
    with open_database("sqlite://") as db:
        with db.write() as conn:
            record_audit(conn, actor="ana", object_type="list", object_name="a", action="add", value="v1",
                         new={"reason": "r"}, at_us=1_000_000)
            record_audit(conn, actor="bo", object_type="list", object_name="b", action="remove", value="v2",
                         old={"reason": "r"}, at_us=2_000_000)
            record_audit(conn, actor="cy", object_type="ruleset", object_name="a", action="publish")
        with db.read() as conn:
            records = read_audit(conn, object_type="list")
            only_a = read_audit(conn, object_type="list", object_name="a")
    assert [(r.actor, r.action, r.value) for r in records] == [("bo", "remove", "v2"), ("ana", "add", "v1")]
    assert records[0].old == {"reason": "r"} and records[0].new is None
    assert records[1].to_dict()["at"] == "1970-01-01T00:00:01Z"
    assert [r.actor for r in only_a] == ["ana"]


def test_time_conversions_round_trip() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    assert us_to_datetime(datetime_to_us(at)) == at
    assert datetime_to_us(at.replace(tzinfo=None)) == datetime_to_us(at)  # naive is UTC


def test_workspace_default_and_configured_database_url(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    assert ws.database_url == f"sqlite:///{(tmp_path / 'ws').resolve() / 'state' / 'finrisk.db'}"
    config = tmp_path / "ws" / "finrisk.toml"
    config.write_text(config.read_text().replace("\nlateness_seconds", '\ndatabase_url = "sqlite:///x.db"\nlateness_seconds'))
    assert load_workspace(tmp_path / "ws").database_url == "sqlite:///x.db"


def test_database_url_setting_is_validated(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    config = tmp_path / "finrisk.toml"
    config.write_text(config.read_text().replace("\nlateness_seconds", "\ndatabase_url = 5\nlateness_seconds"))
    with pytest.raises(WorkspaceError, match=r"toml:\d+: store.database_url: Input should be a valid string, got 5"):
        load_workspace(tmp_path)
