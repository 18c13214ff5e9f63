"""The relational store: lists, rule-set versions and the audit trail (SQLAlchemy 2 Core).

Why SQLAlchemy Core and not raw ``sqlite3``: the same table definitions and statements run on
SQLite (one machine, the default: ``sqlite:///<workspace>/state/finrisk.db``) and on PostgreSQL
(``[store] database_url = "postgresql+psycopg://..."``) without two code paths.

SQLite connections get WAL (readers never wait for the writer), foreign keys, a 10 s busy
timeout and ``synchronous=FULL`` (a committed list change or published rule set survives power
loss). Python's ``sqlite3`` would open transactions lazily and never take the write lock up front,
so two writers could both read "version 3" and then race; :meth:`Database.write` therefore
starts SQLite transactions with ``BEGIN IMMEDIATE`` (one writer at a time, the other waits up to
the busy timeout) while :meth:`Database.read` uses a plain deferred ``BEGIN``.

Schema changes: :data:`SCHEMA_VERSION` is stored in the ``schema_version`` table. Tables are made
with ``metadata.create_all``; Alembic migrations arrive with the first change to these tables, and
until then a database written by a newer finrisk is refused with a clear error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    make_url,
    select,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from finrisk.errors import StoreError

__all__ = [
    "AuditRecord",
    "Database",
    "LIST_CHANGES_COUNTER",
    "SCHEMA_VERSION",
    "audit_log",
    "datetime_to_us",
    "list_changes",
    "list_entries",
    "lists",
    "metadata",
    "now_us",
    "open_database",
    "read_audit",
    "record_audit",
    "ruleset_drafts",
    "ruleset_shadows",
    "ruleset_versions",
    "schema_version",
    "store_counters",
    "us_to_datetime",
]

#: The counter every list write bumps (see :data:`store_counters`).
LIST_CHANGES_COUNTER = "list_changes"

#: Version of the tables below; bump it (and add an Alembic migration) when they change.
SCHEMA_VERSION = 1

NAME_LENGTH = 64
VALUE_LENGTH = 256
ACTOR_LENGTH = 128

# SQLite only auto-assigns INTEGER PRIMARY KEY columns, so 64-bit ids are INTEGER there.
_Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("component", String(NAME_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applied_at_us", BigInteger, nullable=False),
)

#: Named counters. ``list_changes`` is bumped (row-locked) by every list write, so change numbers
#: commit in order even on PostgreSQL, where plain sequences may commit out of order.
store_counters = Table(
    "store_counters",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

lists = Table(
    "lists",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("field", String(NAME_LENGTH), nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", String(ACTOR_LENGTH), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
)

list_entries = Table(
    "list_entries",
    metadata,
    Column("list_id", _Id, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("value", String(VALUE_LENGTH), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("added_by", String(ACTOR_LENGTH), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("updated_by", String(ACTOR_LENGTH), nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("expires_at_us", BigInteger, nullable=True),
)

#: One row per list write: ``value`` NULL means "the whole list changed" (create, delete, import).
list_changes = Table(
    "list_changes",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("list_name", String(NAME_LENGTH), nullable=False),
    Column("value", String(VALUE_LENGTH), nullable=True),
    Column("at_us", BigInteger, nullable=False),
)

ruleset_versions = Table(
    "ruleset_versions",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("author", String(ACTOR_LENGTH), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
)

ruleset_drafts = Table(
    "ruleset_drafts",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("text", Text, nullable=False),
    Column("author", String(ACTOR_LENGTH), nullable=False),
    Column("saved_at_us", BigInteger, nullable=False),
)

ruleset_shadows = Table(
    "ruleset_shadows",
    metadata,
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("set_by", String(ACTOR_LENGTH), nullable=False),
    Column("set_at_us", BigInteger, nullable=False),
    ForeignKeyConstraint(["name", "version"], ["ruleset_versions.name", "ruleset_versions.version"]),
)

#: Who changed what, when: list entries and rule-set versions alike (values are stored here in
#: clear because the audit is access-controlled; they never go to logs or error texts).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at_us", BigInteger, nullable=False),
    Column("actor", String(ACTOR_LENGTH), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_name", String(NAME_LENGTH), nullable=False),
    Column("action", String(32), nullable=False),
    Column("value", String(VALUE_LENGTH), nullable=True),
    Column("old", Text, nullable=True),
    Column("new", Text, nullable=True),
    Index("audit_log_object", "object_type", "object_name", "id"),
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_us() -> int:
    """Wall-clock time in microseconds since the Unix epoch (the unit every table stores)."""
    return time.time_ns() // 1_000


def datetime_to_us(value: datetime) -> int:
    """An aware (or naive, taken as UTC) datetime -> microseconds since the epoch."""
    dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_datetime(us: int) -> datetime:
    """Microseconds since the epoch -> aware UTC datetime."""
    return datetime.fromtimestamp(us // 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)


def record_audit(
    conn: Connection,
    *,
    actor: str,
    object_type: str,
    object_name: str,
    action: str,
    value: str | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    at_us: int | None = None,
) -> None:
    """Append one audit record inside the caller's transaction (so the change and its record commit together)."""
    conn.execute(
        insert(audit_log).values(
            at_us=now_us() if at_us is None else at_us,
            actor=actor,
            object_type=object_type,
            object_name=object_name,
            action=action,
            value=value,
            old=None if old is None else orjson.dumps(old, option=orjson.OPT_SORT_KEYS).decode(),
            new=None if new is None else orjson.dumps(new, option=orjson.OPT_SORT_KEYS).decode(),
        )
    )


@dataclass(frozen=True)
class AuditRecord:
    """One audited change: who did what to which object, when, with the state before and after."""

    id: int
    at: datetime
    actor: str
    object_type: str
    object_name: str
    action: str
    value: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat().replace("+00:00", "Z")}


def read_audit(
    conn: Connection, *, object_type: str, object_name: str | None = None, limit: int = 100
) -> list[AuditRecord]:
    """The newest ``limit`` audit records of one object type (optionally one object), newest first."""
    query = select(audit_log).where(audit_log.c.object_type == object_type)
    if object_name is not None:
        query = query.where(audit_log.c.object_name == object_name)
    rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).mappings()
    return [
        AuditRecord(
            id=row["id"],
            at=us_to_datetime(row["at_us"]),
            actor=row["actor"],
            object_type=row["object_type"],
            object_name=row["object_name"],
            action=row["action"],
            value=row["value"],
            old=None if row["old"] is None else orjson.loads(row["old"]),
            new=None if row["new"] is None else orjson.loads(row["new"]),
        )
        for row in rows
    ]


class Database:
    """An opened relational store: a SQLAlchemy engine plus read and write transactions.

    Parameters
    ----------
    engine : Engine
        Made by :func:`open_database`, which also prepares the schema.

    Examples
    --------
    >>> db = open_database("sqlite://")
    >>> with db.read() as conn:
    ...     conn.scalar(select(schema_version.c.version))
    1
    >>> db.close()
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        """The database URL with any password hidden (safe to print)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"`` (statements that differ, such as upserts, branch on it)."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (SQLite: deferred; it never blocks writers in WAL mode)."""
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock at the start (``BEGIN IMMEDIATE``)."""
        with self._guard(), self.engine.connect().execution_options(finrisk_write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn driver failures (locked, disk full, connection lost) into a StoreError without the SQL."""
        try:
            yield
        except SQLAlchemyError as exc:
            if _is_integrity_error(exc):
                raise  # callers turn constraint violations into domain errors
            cause = getattr(exc, "orig", None) or exc
            raise StoreError(f"relational store {self.url}: {type(cause).__name__}: {_first_line(cause)}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_integrity_error(exc: BaseException) -> bool:
    return isinstance(exc, IntegrityError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else "no detail"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Per-connection SQLite settings; isolation_level None lets the 'begin' hook below issue BEGIN itself."""
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("finrisk_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    if database in ("", ":memory:"):
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def open_database(url: str) -> Database:
    """Open (and on first use create) the relational store at ``url``.

    ``sqlite:///path/to/file.db`` (the folder is created), ``sqlite://`` for a private in-memory
    database, or a PostgreSQL URL such as ``postgresql+psycopg://user:pw@host/db`` (install the
    driver yourself; it is not a finrisk dependency).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"database_url: expected a URL such as sqlite:///state/finrisk.db or postgresql+psycopg://host/db, "
            f"got {url.split('@')[-1]!r}"
        ) from None
    try:
        engine = _make_engine(parsed)
    except (ArgumentError, ImportError) as exc:  # unknown dialect or missing driver
        raise StoreError(f"database_url {parsed.render_as_string(hide_password=True)}: {exc}") from None
    db = Database(engine)
    try:
        _prepare_schema(db)
    except BaseException:
        db.close()
        raise
    return db


def _prepare_schema(db: Database) -> None:
    """Create missing tables and check the stored schema version, in one write transaction."""
    with db.write() as conn:
        metadata.create_all(conn)
        found = conn.scalar(select(schema_version.c.version).where(schema_version.c.component == "finrisk"))
        if found is None:
            conn.execute(
                insert(schema_version).values(component="finrisk", version=SCHEMA_VERSION, applied_at_us=now_us())
            )
        elif found > SCHEMA_VERSION:
            raise StoreError(
                f"relational store {db.url} has schema version {found}, newer than this finrisk "
                f"understands ({SCHEMA_VERSION}); upgrade finrisk"
            )
        elif found < SCHEMA_VERSION:  # pragma: no cover - no migration exists yet
            raise StoreError(f"relational store {db.url} has schema version {found}; run the migrations")
        counter = select(store_counters.c.value).where(store_counters.c.name == LIST_CHANGES_COUNTER)
        if conn.scalar(counter) is None:
            conn.execute(insert(store_counters).values(name=LIST_CHANGES_COUNTER, value=0))
