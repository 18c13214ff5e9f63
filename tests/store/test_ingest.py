"""Loading CSV, JSON lines, Parquet and simulator folders; rejects, summaries, personal data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finrisk.config import Workspace
from finrisk.errors import InputFileError, UnknownEventTypeError
from finrisk.store import open_log, open_warehouse
from finrisk.store.ingest import load_path

CSV = """event_id,event_type,event_time,txn_type,account_id,amount,merchant_id,label_fraud
t1,transaction,2026-01-05T09:00:00Z,payment,A1,12.5,M1,1
t2,transaction,2026-01-05T09:01:00Z,payment,A2,abc,,0
t3,transaction,2026-01-05T09:02:00Z,teleport,A3,3,,
t1,transaction,2026-01-05T09:00:00Z,payment,A1,12.5,M1,1
t4,transaction,2026-01-05T09:03:00Z,payment,,7,,
"""


def _rejects(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _registration(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"r{i}",
        "event_type": "registration",
        "event_time": f"2026-01-0{1 + i % 5}T08:00:00Z",
        "customer_id": f"C{i}",
        "account_id": f"A{i}",
        "name": f"Secret Person {i}",
        **extra,
    }


def test_csv_converts_text_and_rejects_bad_rows(workspace: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "txns.csv"
    src.write_text(CSV)
    rejects = tmp_path / "rejects.jsonl"
    summary = load_path(workspace, src, rejects_path=rejects)
    assert (summary.read, summary.loaded, summary.duplicates, summary.conflicts, summary.rejected) == (5, 1, 1, 0, 3)
    assert summary.labels == 1 and summary.rejects_path == rejects
    records = _rejects(rejects)
    assert [r["row"] for r in records] == [2, 3, 5]
    assert records[0]["problems"] == [{"field": "amount", "expected": "a number", "got": "'abc' (str)"}]
    assert records[1]["problems"][0]["field"] == "txn_type"
    assert records[2]["problems"] == [{"field": "account_id", "expected": "a value (required)", "got": "nothing"}]
    assert records[0]["data"]["event_id"] == "t2"
    with open_log(workspace) as log:
        stored = log.get("t1")
        assert stored is not None and stored["amount"] == 12.5 and stored["merchant_id"] == "M1"
        assert log.get_labels("t1") == {"label_fraud": 1}


def test_jsonl_with_event_type_option_and_broken_lines(workspace: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "logins.jsonl"
    lines = [
        json.dumps({"event_id": "l1", "event_time": "2026-01-05T09:00:00Z", "customer_id": "C1", "success": True}),
        "{not json",
        "[1, 2]",
        json.dumps({"event_id": "l2", "event_time": "2026-01-05T09:00:00Z", "customer_id": "C1", "success": "yes"}),
        "",
        json.dumps({"event_id": "l3", "event_time": "2026-01-05T09:00:00Z", "customer_id": "C2", "success": False}),
    ]
    src.write_text("\n".join(lines) + "\n")
    summary = load_path(workspace, src, event_type="login", rejects_path=tmp_path / "r.jsonl")
    assert (summary.read, summary.loaded, summary.rejected) == (5, 2, 3)
    records = _rejects(tmp_path / "r.jsonl")
    assert [r["row"] for r in records] == [2, 3, 4]
    assert records[0]["problems"][0]["got"].startswith("invalid JSON")
    assert records[2]["problems"] == [{"field": "success", "expected": "true or false", "got": "'yes' (str)"}]


def test_parquet_with_labels_and_pii_masked(workspace: Workspace, tmp_path: Path) -> None:
    rows = [_registration(i, age=None, label_is_fraud=i == 3) for i in range(6)]
    rows[4]["age"] = 7  # too young: rejected, and the name must not leak into the rejects file
    src = tmp_path / "reg.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    summary = load_path(workspace, src, rejects_path=tmp_path / "r.jsonl", batch_size=2)
    assert (summary.read, summary.loaded, summary.rejected, summary.labels) == (6, 5, 1, 5)
    text = (tmp_path / "r.jsonl").read_text()
    assert "Secret Person" not in text
    record = _rejects(tmp_path / "r.jsonl")[0]
    assert record["data"]["name"] == "(hidden: personal data)"
    assert record["problems"] == [{"field": "age", "expected": "integer >= 16", "got": "7 (int)"}]
    with open_log(workspace) as log:
        assert log.get_labels("r3") == {"label_is_fraud": True}


def test_reload_counts_duplicates_and_conflicts(workspace: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "reg.jsonl"
    src.write_text("\n".join(json.dumps(_registration(i)) for i in range(3)) + "\n")
    load_path(workspace, src)
    changed = [_registration(0), _registration(1, city="Elsewhere"), _registration(2)]
    src.write_text("\n".join(json.dumps(r) for r in changed) + "\n")
    summary = load_path(workspace, src, rejects_path=tmp_path / "r.jsonl")
    assert (summary.loaded, summary.duplicates, summary.conflicts, summary.rejected) == (0, 2, 1, 1)
    assert _rejects(tmp_path / "r.jsonl")[0]["problems"][0]["field"] == "event_id"


def test_simulator_folder(workspace: Workspace, tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    (sim / "events" / "registration").mkdir(parents=True)
    (sim / "events" / "login").mkdir(parents=True)
    (sim / "labels" / "login").mkdir(parents=True)
    (sim / "reference").mkdir(parents=True)
    (sim / "manifest.json").write_text(json.dumps({"format": "finrisk-sim", "seed": 1}))
    regs = [{k: v for k, v in _registration(i).items() if k != "event_type"} for i in range(4)]
    for r in regs:
        r["label_is_fraud"] = r["event_id"] == "r1"
    pq.write_table(pa.Table.from_pylist(regs), sim / "events" / "registration" / "part-0000.parquet")
    logins = [
        {"event_id": f"l{i}", "event_time": "2026-01-02T10:00:00Z", "customer_id": f"C{i}", "success": True}
        for i in range(3)
    ]
    (sim / "events" / "login" / "part-0000.jsonl").write_text("\n".join(json.dumps(x) for x in logins) + "\n")
    pq.write_table(pa.table({"event_id": ["l1"], "label_ato": [True]}), sim / "labels" / "login" / "part-0000.parquet")
    pq.write_table(
        pa.table({"customer_id": ["C1", "C2"], "segment": ["a", "b"]}), sim / "reference" / "customers.parquet"
    )

    summary = load_path(workspace, sim)
    assert (summary.read, summary.loaded, summary.rejected, summary.labels) == (7, 7, 0, 5)
    assert summary.reference_tables == ["customers"]
    with open_log(workspace) as log:
        wh = open_warehouse(workspace, log)
        assert wh.sql("SELECT count(*) AS n FROM customers").to_pylist() == [{"n": 2}]
        got = wh.sql("SELECT event_id, label_ato FROM labels_login").to_pylist()
        assert got == [{"event_id": "l1", "label_ato": True}]
        assert wh.sql("SELECT count(*) AS n FROM labels_registration WHERE label_is_fraud").to_pylist() == [{"n": 1}]


def test_unreadable_files(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="nothing.csv: no such file or folder"):
        load_path(workspace, tmp_path / "nothing.csv")
    bad = tmp_path / "events.xlsx"
    bad.write_text("x")
    with pytest.raises(InputFileError, match=r"events.xlsx: cannot read files with suffix '.xlsx'; expected one of"):
        load_path(workspace, bad)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    with pytest.raises(InputFileError, match="broken.parquet: cannot read as parquet"):
        load_path(workspace, broken)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputFileError, match="empty.csv: cannot read as csv .the file is empty"):
        load_path(workspace, empty)
    with pytest.raises(UnknownEventTypeError, match="event_type: expected one of"):
        load_path(workspace, tmp_path / "broken.parquet", event_type="nope")


def test_csv_row_with_wrong_column_count_is_rejected(workspace: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text(
        "event_id,event_time,customer_id,success\n"
        "l1,2026-01-05T09:00:00Z,C1,true\n"
        "l2,2026-01-05T09:00:00Z,C1\n"
        "l3,2026-01-05T09:00:00Z,C1,false\n"
    )
    summary = load_path(workspace, src, event_type="login", rejects_path=tmp_path / "r.jsonl")
    assert (summary.read, summary.loaded, summary.rejected) == (3, 2, 1)
    record = _rejects(tmp_path / "r.jsonl")[0]
    assert record["row"] == 2 and record["problems"] == [
        {"field": "(row)", "expected": "4 columns", "got": "3 columns"}
    ]
