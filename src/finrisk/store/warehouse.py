"""The warehouse: closed time partitions of the log as Parquet, queried with DuckDB.

Layout under ``warehouse_dir`` (hive style)::

    events/event_type=<t>/date=YYYY-MM-DD[/hour=HH]/part-<first seq>-<last seq>.parquet
    labels/event_type=<t>/date=YYYY-MM-DD[/hour=HH]/part-<first seq>-<last seq>.parquet
    reference/<name>.parquet

A partition (a day or an hour of ``event_time``) is *closed* when the log holds an event newer
than the partition's end plus ``lateness_seconds``, or when :meth:`Warehouse.flush` is called with
``all=True``. Flushing a partition writes its unflushed events as one part file (atomically, via a
temporary name) and then marks them flushed in the log, in that order. A crash in between leaves
the events unflushed; the next flush writes them again and deletes the orphaned file (it starts at
a seq that is still unflushed), so nothing is written twice or lost. Late events for a flushed
partition become a new part file.

:meth:`Warehouse.sql` exposes each event type as a view by its name (and ``events_<type>``),
``labels_<type>`` and every reference table; the views union the Parquet files with the events
still waiting in the log, so a query never misses accepted data.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import duckdb
import orjson
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from finrisk.config import Workspace
from finrisk.errors import QueryError, StoreError
from finrisk.events.registry import EventTypeRegistry
from finrisk.events.schema import EventType
from finrisk.store.embedded_log import EmbeddedEventLog, open_log

__all__ = ["FlushReport", "Warehouse", "open_warehouse"]

_PERIOD_US: dict[str, int] = {"day": 86_400_000_000, "hour": 3_600_000_000}
_PART = re.compile(r"^part-(\d+)-(\d+)\.parquet$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class FlushReport:
    """What one :meth:`Warehouse.flush` wrote."""

    files: list[Path] = field(default_factory=list)
    events: int = 0
    labels: int = 0
    open_partitions: int = 0


class Warehouse:
    """Parquet files of closed partitions plus the log's pending events, queried by DuckDB.

    Parameters
    ----------
    root : Path
        The warehouse folder (``[store] warehouse_dir``).
    log : EmbeddedEventLog
        The event log it flushes from and unions pending events from.
    registry : EventTypeRegistry
        Event types; each gets a table with its ``arrow_schema``.
    partition : {"day", "hour"}
        Time partition of the Parquet files.
    lateness_seconds : int
        How long after a partition's end newer events must exist before it closes.
    durability : {"fsync", "os"}
        ``fsync`` also fsyncs each Parquet file before its events are marked flushed.

    Examples
    --------
    >>> import tempfile
    >>> from finrisk.config import init_workspace
    >>> workspace = init_workspace(tempfile.mkdtemp())
    >>> with Warehouse.open(workspace) as wh:
    ...     wh.sql('SELECT count(*) AS n FROM "transaction"').to_pylist()
    [{'n': 0}]
    """

    def __init__(
        self,
        root: Path | str,
        *,
        log: EmbeddedEventLog,
        registry: EventTypeRegistry,
        partition: Literal["day", "hour"] = "day",
        lateness_seconds: int = 3600,
        durability: Literal["fsync", "os"] = "fsync",
    ) -> None:
        self.root = Path(root)
        self.log = log
        self.registry = registry
        self.partition = partition
        self.lateness_seconds = lateness_seconds
        self.durability = durability
        self._owns_log = False

    @classmethod
    def open(cls, workspace: Workspace) -> Warehouse:
        """The workspace's warehouse with its own log; close it (or use ``with``) when done."""
        warehouse = open_warehouse(workspace, open_log(workspace))
        warehouse._owns_log = True
        return warehouse

    def close(self) -> None:
        """Close the log if this warehouse opened it (see :meth:`open`)."""
        if self._owns_log:
            self.log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- flushing --------------------------------------------------------------------------
    def flush(self, *, all: bool = False) -> FlushReport:  # noqa: A002 - mirrors `finrisk flush --all`
        """Write every closed partition (every partition with ``all=True``) to Parquet."""
        report = FlushReport()
        period = _PERIOD_US[self.partition]
        newest = self.log.query("SELECT max(event_time_us) FROM events")[0][0]
        for table in ("events", "labels"):
            groups = self.log.query(
                f"SELECT event_type, event_time_us - (((event_time_us % ?) + ?) % ?) AS p, "
                f"min(seq), max(seq) FROM {table} WHERE flushed = 0 GROUP BY 1, 2 ORDER BY 1, 2",
                (period, period, period),
            )
            for event_type, start, first, last in groups:
                closed = all or (newest is not None and newest > start + period + self.lateness_seconds * 1_000_000)
                if not closed:
                    report.open_partitions += table == "events"
                    continue
                path, n = self._flush_partition(table, event_type, start, start + period, first, last)
                report.files.append(path)
                if table == "events":
                    report.events += n
                else:
                    report.labels += n
        return report

    def _flush_partition(
        self, table: str, event_type: str, start: int, end: int, first: int, last: int
    ) -> tuple[Path, int]:
        where = "flushed = 0 AND event_type = ? AND event_time_us >= ? AND event_time_us < ? AND seq <= ?"
        args = (event_type, start, end, last)
        rows = self.log.query(f"SELECT seq, event_id, body FROM {table} WHERE {where} ORDER BY seq", args)
        if table == "events":
            data = self._events_table(event_type, [r[2] for r in rows])
        else:
            data = _labels_table([r[1] for r in rows], [r[2] for r in rows])
        folder = self.root / table / f"event_type={event_type}" / self._partition_dir(start)
        target = folder / f"part-{first:012d}-{last:012d}.parquet"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".parquet.tmp")
            pq.write_table(data, tmp, compression="zstd")
            if self.durability == "fsync":
                _fsync(tmp)
            os.replace(tmp, target)
            for old in folder.iterdir():  # orphans of a flush that crashed before marking
                m = _PART.match(old.name)
                if m and old != target and int(m.group(1)) >= first:
                    old.unlink()
            if self.durability == "fsync":
                _fsync(folder)
        except OSError as exc:
            raise StoreError(f"warehouse {folder}: cannot write part file ({exc})") from None
        self.log.execute_write([(f"UPDATE {table} SET flushed = 1 WHERE {where}", args)])
        return target, len(rows)

    def _partition_dir(self, start_us: int) -> str:
        dt = datetime.fromtimestamp(start_us / 1_000_000, tz=UTC)
        day = f"date={dt:%Y-%m-%d}"
        return day if self.partition == "day" else f"{day}/hour={dt:%H}"

    def _events_table(self, event_type: str, bodies: list[bytes]) -> pa.Table:
        """Canonical JSON bodies -> an Arrow table with the type's schema (vectorised by Arrow)."""
        schema = self.registry.get(event_type).arrow_schema if event_type in self.registry else None
        if schema is None:
            raise StoreError(f"event_type: {event_type!r} is in the log but no longer declared")
        return _json_to_table(bodies, schema)

    # -- reference tables ------------------------------------------------------------------
    def put_reference(self, name: str, table: pa.Table) -> Path:
        """Store (replace) the reference table ``name`` (customers, merchants, ...)."""
        if not _NAME.match(name):
            raise StoreError(f"reference table name: expected lower-case letters, digits and '_', got {name!r}")
        folder = self.root / "reference"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.parquet"
        tmp = target.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
        return target

    def reference_names(self) -> list[str]:
        folder = self.root / "reference"
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []

    # -- querying --------------------------------------------------------------------------
    def connect(self) -> duckdb.DuckDBPyConnection:
        """A fresh in-memory DuckDB connection with every view defined (see the module docstring).

        Every ``labels_<type>`` view has the same label columns (the union over all types, null
        where a type has none), so one query shape works for every type.
        """
        con = duckdb.connect()
        pending_events, pending_labels = self._pending()
        for et in self.registry:
            pending = _json_to_table(pending_events.get(et.name, []), et.arrow_schema)
            self._define(con, et.name, "events", pending, et)
            con.sql(f'CREATE VIEW "events_{et.name}" AS SELECT * FROM "{et.name}"')
            ids, bodies = pending_labels.get(et.name, ([], []))
            self._define(con, f"_labels_raw_{et.name}", "labels", _labels_table(ids, bodies), et)
        columns: dict[str, str] = {}
        described: dict[str, set[str]] = {}
        for et in self.registry:
            rows = con.sql(f'DESCRIBE "_labels_raw_{et.name}"').fetchall()
            described[et.name] = {r[0] for r in rows}
            for name, dtype, *_ in rows:
                if name != "event_id" and dtype != "NULL":
                    columns.setdefault(name, dtype)
        for et in self.registry:
            have = described[et.name]
            cols = ", ".join(
                f'"{c}"' if c in have else f'CAST(NULL AS {t}) AS "{c}"' for c, t in sorted(columns.items())
            )
            select = f"event_id{', ' + cols if cols else ''}"
            con.sql(f'CREATE VIEW "labels_{et.name}" AS SELECT {select} FROM "_labels_raw_{et.name}"')
        for name in self.reference_names():
            path = self.root / "reference" / f"{name}.parquet"
            con.sql(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{_sql_str(path)}')")
        return con

    def _define(self, con: duckdb.DuckDBPyConnection, view: str, table: str, pending: pa.Table, et: EventType) -> None:
        con.register(f"_pending_{view}", pending)
        files = sorted((self.root / table / f"event_type={et.name}").glob("**/part-*.parquet"))
        sql = f'SELECT * FROM "_pending_{view}"'
        if files:
            listed = ", ".join(f"'{_sql_str(f)}'" for f in files)
            sql = (
                f"SELECT * FROM read_parquet([{listed}], union_by_name=true, hive_partitioning=false) "
                f"UNION ALL BY NAME {sql}"
            )
        con.sql(f'CREATE VIEW "{view}" AS {sql}')

    def _pending(self) -> tuple[dict[str, list[bytes]], dict[str, tuple[list[str], list[bytes]]]]:
        events: dict[str, list[bytes]] = {}
        for event_type, body in self.log.query("SELECT event_type, body FROM events WHERE flushed = 0 ORDER BY seq"):
            events.setdefault(event_type, []).append(body)
        labels: dict[str, tuple[list[str], list[bytes]]] = {}
        for event_type, event_id, body in self.log.query(
            "SELECT event_type, event_id, body FROM labels WHERE flushed = 0 ORDER BY seq"
        ):
            ids, bodies = labels.setdefault(event_type, ([], []))
            ids.append(event_id)
            bodies.append(body)
        return events, labels

    def sql(self, query: str) -> pa.Table:
        """Run one SQL query; DuckDB errors become :class:`~finrisk.errors.QueryError`."""
        con = self.connect()
        try:
            rel = con.sql(query)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {str(exc).strip()}") from None
        finally:
            con.close()


def _json_to_table(bodies: list[bytes], schema: pa.Schema) -> pa.Table:
    if not bodies:
        return schema.empty_table()
    parsed = pajson.read_json(
        io.BytesIO(b"\n".join(bodies)),
        read_options=pajson.ReadOptions(block_size=1 << 24),
        parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )
    return parsed.select(schema.names).cast(schema)


def _labels_table(ids: list[str], bodies: list[bytes]) -> pa.Table:
    """event_id + every label column seen in any row (a row lacking one gets null there)."""
    if not ids:
        return pa.table({"event_id": pa.array([], pa.string())})
    rows: list[dict[str, Any]] = [orjson.loads(b) for b in bodies]
    names = sorted({k for row in rows for k in row})
    columns: dict[str, Any] = {"event_id": pa.array(ids, pa.string())}
    for name in names:
        columns[name] = pa.array([row.get(name) for row in rows])
    return pa.table(columns)


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_warehouse(workspace: Workspace, log: EmbeddedEventLog) -> Warehouse:
    """The workspace's warehouse over ``log``, with the ``[store]`` partition and lateness settings."""
    store = workspace.settings.store
    return Warehouse(
        workspace.warehouse_dir,
        log=log,
        registry=workspace.event_types,
        partition=store.partition,
        lateness_seconds=store.lateness_seconds,
        durability=store.durability,
    )
