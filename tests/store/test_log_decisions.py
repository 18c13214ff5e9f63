"""Decisions are stored in their event's transaction, once per event, and read back by id or event."""

from __future__ import annotations

import threading

import pytest

from finrisk.decisions.writer import GroupCommitWriter
from finrisk.errors import StoreError
from finrisk.store import EmbeddedEventLog
from finrisk.store.log import AppendStatus

from .conftest import MakeTxn


def test_decision_stored_with_its_event_and_found_by_both_ids(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    [r] = log.append([make_txn("t1")], decisions=[("d1", b'{"action": "pass"}')])
    assert r.status is AppendStatus.STORED
    assert log.get_decision("d1") == b'{"action": "pass"}'
    assert log.decision_for_event("t1") == b'{"action": "pass"}'
    assert log.get_decision("nope") is None and log.decision_for_event("nope") is None
    assert log.count_decisions() == 1


def test_first_decision_stands_and_a_duplicate_event_may_gain_one(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append([make_txn("t1")])  # ingested without a decision
    [r] = log.append([make_txn("t1")], decisions=[("d1", b"{}")])
    assert r.status is AppendStatus.DUPLICATE
    assert log.decision_for_event("t1") == b"{}"
    log.append([make_txn("t1")], decisions=[("d2", b'{"second": true}')])
    assert log.decision_for_event("t1") == b"{}" and log.get_decision("d2") is None


def test_conflicting_event_stores_no_decision(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append([make_txn("t1", amount=1.0)])
    [r] = log.append([make_txn("t1", amount=2.0)], decisions=[("d1", b"{}")])
    assert r.status is AppendStatus.CONFLICT and log.get_decision("d1") is None


def test_decisions_length_must_match(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    with pytest.raises(StoreError, match="decisions: expected 1 entries"):
        log.append([make_txn("t1")], decisions=[])


def test_group_commit_writer_commits_every_submission(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    writer = GroupCommitWriter(log)
    futures = []
    lock = threading.Lock()

    def submit(start: int) -> None:
        for i in range(start, start + 100):
            f = writer.submit(make_txn(f"t{i}"), (f"d{i}", b"{}"))
            with lock:
                futures.append(f)

    threads = [threading.Thread(target=submit, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [f.result(timeout=30) for f in futures]
    writer.close()
    assert all(r.status is AppendStatus.STORED for r in results)
    assert log.count() == 400 and log.count_decisions() == 400
    assert writer.appended == 400 and 1 <= writer.batches <= 400
    with pytest.raises(StoreError, match="writer is closed"):
        writer.submit(make_txn("late"))


def test_group_commit_writer_reports_a_failed_batch_to_every_caller(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    writer = GroupCommitWriter(log)
    bad = make_txn("t1")
    del bad["event_time"]  # the log cannot place it: the whole batch fails
    future = writer.submit(bad)
    with pytest.raises(StoreError, match="append failed"):
        future.result(timeout=30)
    ok = writer.submit(make_txn("t2"))  # the writer goes on after a failed batch
    assert ok.result(timeout=30).status is AppendStatus.STORED
    writer.close()
