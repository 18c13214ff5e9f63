"""The warehouse: closed partitions as Parquet, no duplicates, late events, SQL views."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finrisk.config import Workspace
from finrisk.errors import QueryError
from finrisk.store import EmbeddedEventLog, Warehouse, open_warehouse

from .conftest import MakeTxn


def _files(root: Path, kind: str = "events") -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / kind).rglob("*.parquet"))


def _n(wh: Warehouse, sql: str) -> int:
    return int(wh.sql(sql).column(0)[0].as_py())


def test_closed_partitions_land_as_parquet_with_the_schema(
    workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn
) -> None:
    wh = open_warehouse(workspace, log)
    log.append([make_txn("a", "2026-01-01T10:00:00Z"), make_txn("b", "2026-01-01T23:00:00Z")])
    log.append([make_txn("c", "2026-01-02T00:30:00Z")])  # day 1 ends + 1h lateness = not yet closed
    assert wh.flush().files == []
    log.append([make_txn("d", "2026-01-02T01:00:01Z")])  # now day 1 is closed, day 2 is open
    report = wh.flush()
    assert report.events == 2 and report.open_partitions == 1
    root = workspace.warehouse_dir
    assert _files(root) == ["events/event_type=transaction/date=2026-01-01/part-000000000001-000000000002.parquet"]
    table = pq.read_table(root / _files(root)[0])
    assert table.schema.equals(workspace.event_types.get("transaction").arrow_schema)
    assert table.column("event_id").to_pylist() == ["a", "b"]
    assert pq.ParquetFile(root / _files(root)[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_second_flush_writes_nothing_and_late_events_get_a_new_part(
    workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn
) -> None:
    wh = open_warehouse(workspace, log)
    log.append([make_txn("a", "2026-01-01T10:00:00Z"), make_txn("b", "2026-01-03T10:00:00Z")])
    wh.flush()
    assert wh.flush().files == []
    log.append([make_txn("late", "2026-01-01T12:00:00Z")])
    wh.flush()
    assert _files(workspace.warehouse_dir) == [
        "events/event_type=transaction/date=2026-01-01/part-000000000001-000000000001.parquet",
        "events/event_type=transaction/date=2026-01-01/part-000000000003-000000000003.parquet",
    ]
    assert _n(wh, 'SELECT count(*) FROM "transaction"') == 3
    assert _n(wh, 'SELECT count(DISTINCT event_id) FROM "transaction"') == 3


def test_orphan_of_a_crashed_flush_is_replaced_not_duplicated(
    workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn
) -> None:
    wh = open_warehouse(workspace, log)
    log.append([make_txn("a", "2026-01-01T10:00:00Z")])
    wh.flush(all=True)
    log.execute_write([("UPDATE events SET flushed = 0", ())])  # as if it crashed before marking
    log.append([make_txn("b", "2026-01-01T11:00:00Z")])
    wh.flush(all=True)
    assert _files(workspace.warehouse_dir) == [
        "events/event_type=transaction/date=2026-01-01/part-000000000001-000000000002.parquet"
    ]
    assert _n(wh, 'SELECT count(*) FROM "transaction"') == 2


def test_hour_partitions(workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    wh = Warehouse(
        workspace.warehouse_dir, log=log, registry=workspace.event_types, partition="hour", lateness_seconds=0
    )
    log.append([make_txn("a", "2026-01-01T10:15:00Z"), make_txn("b", "2026-01-01T11:15:00Z")])
    assert wh.flush().events == 1
    assert _files(workspace.warehouse_dir) == [
        "events/event_type=transaction/date=2026-01-01/hour=10/part-000000000001-000000000001.parquet"
    ]


def test_sql_sees_flushed_and_pending_events(workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    wh = open_warehouse(workspace, log)
    log.append([make_txn("a", "2026-01-01T10:00:00Z", amount=1.0), make_txn("b", "2026-01-05T10:00:00Z", amount=2.0)])
    wh.flush()
    log.append([make_txn("c", "2026-01-05T11:00:00Z", amount=4.0)])
    assert _n(wh, 'SELECT sum(amount) FROM "transaction"') == 7
    assert _n(wh, "SELECT count(*) FROM events_transaction") == 3
    empty = wh.sql("SELECT * FROM login")
    assert empty.num_rows == 0 and empty.schema.names == list(workspace.event_types.get("login").field_names)


def test_labels_and_reference_views(workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    wh = open_warehouse(workspace, log)
    log.append(
        [make_txn("a", "2026-01-01T10:00:00Z"), make_txn("b", "2026-01-05T10:00:00Z")],
        labels=[{"label_fraud": 1}, {"label_fraud": 0}],
    )
    wh.flush()
    assert _files(workspace.warehouse_dir, "labels") == [
        "labels/event_type=transaction/date=2026-01-01/part-000000000001-000000000001.parquet"
    ]
    rows = wh.sql("SELECT event_id, label_fraud FROM labels_transaction ORDER BY event_id").to_pylist()
    assert rows == [{"event_id": "a", "label_fraud": 1}, {"event_id": "b", "label_fraud": 0}]
    assert wh.sql("SELECT * FROM labels_login").schema.names == ["event_id", "label_fraud"]  # same shape for all
    wh.put_reference("merchants", pa.table({"merchant_id": ["M1", "M2"], "category": ["food", "game"]}))
    assert _n(wh, "SELECT count(*) FROM merchants") == 2
    assert wh.reference_names() == ["merchants"]


def test_sql_errors_are_query_errors(workspace: Workspace, log: EmbeddedEventLog) -> None:
    wh = open_warehouse(workspace, log)
    with pytest.raises(QueryError, match="query failed: .*nope"):
        wh.sql("SELECT * FROM nope")
    with pytest.raises(QueryError, match="query failed: Parser Error"):
        wh.sql("SELEC 1")


def test_label_columns_missing_from_early_rows_are_kept(
    workspace: Workspace, log: EmbeddedEventLog, make_txn: MakeTxn
) -> None:
    wh = open_warehouse(workspace, log)
    log.append(
        [make_txn("a", "2026-01-01T10:00:00Z"), make_txn("b", "2026-01-01T11:00:00Z")],
        labels=[{"label_is_fraud": False}, {"label_is_fraud": True, "label_pattern": "card_testing"}],
    )
    query = "SELECT event_id, label_pattern FROM labels_transaction WHERE label_is_fraud"
    assert wh.sql(query).to_pylist() == [{"event_id": "b", "label_pattern": "card_testing"}]
    wh.flush(all=True)
    assert wh.sql(query).to_pylist() == [{"event_id": "b", "label_pattern": "card_testing"}]
