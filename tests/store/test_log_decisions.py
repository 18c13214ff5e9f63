"""Decisions are stored in their event's transaction, once per event, and read back by id or event."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from finrisk.decisions.writer import CommitTicket, GroupCommitWriter, committed, resolve, when_committed
from finrisk.errors import StoreError
from finrisk.store import EmbeddedEventLog
from finrisk.store.embedded_log import body_hash_of, fast_canonical_json
from finrisk.store.log import AppendResult, AppendStatus

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


def test_commit_tickets_wake_threads_and_event_loops_once_resolved(log: EmbeddedEventLog,
                                                                   make_txn: MakeTxn) -> None:
    idle = CommitTicket(threading.Lock())  # never submitted: nothing will resolve it
    with pytest.raises(TimeoutError):
        idle.result(timeout=0.01)

    async def gives_up() -> None:
        await committed(idle, 0.05)

    with pytest.raises(StoreError, match="longer than"):
        asyncio.run(gives_up())

    writer = GroupCommitWriter(log)
    try:
        async def many() -> list[str]:  # waiters on one loop, woken together per batch
            tickets = [writer.submit(make_txn(f"w{i}"), (f"dw{i}", b"{}")) for i in range(200)]
            results = await asyncio.gather(*(committed(t, 30.0) for t in tickets))
            return [r.event_id for r in results]

        assert asyncio.run(many()) == [f"w{i}" for i in range(200)]
        late = writer.submit(make_txn("late-cb"))
        seen: list[str] = []
        late.add_done_callback(lambda t: seen.append(t.result().event_id))
        assert late.result(timeout=30).event_id == "late-cb"
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == ["late-cb"]
        late.add_done_callback(lambda t: seen.append("again"))  # already done: called at once
        assert seen == ["late-cb", "again"]
    finally:
        writer.close()


def test_when_committed_calls_back_once_after_the_commit_or_its_timeout(tmp_path: Path) -> None:
    """The task-free wait of the direct protocol: a callback per waiting request, on the loop."""
    async def run() -> tuple[list[Any], list[Any], bool]:
        loop = asyncio.get_running_loop()
        lock = threading.Lock()
        calls: list[Any] = []
        reported: list[Any] = []
        loop.set_exception_handler(lambda _, context: reported.append(context["exception"]))
        tickets = [CommitTicket(lock) for _ in range(3)]

        def failing(_: Any) -> None:
            raise RuntimeError("boom")

        assert when_committed(tickets[0], 30, loop, calls.append)
        assert when_committed(tickets[1], 30, loop, failing)  # must not keep the others from their answer
        assert when_committed(tickets[2], 0.0, loop, calls.append)  # times out at the first sweep
        await asyncio.sleep(0.05)
        results = [AppendResult(f"e{i}", AppendStatus.STORED, i) for i in range(2)]
        threading.Thread(target=resolve, args=(lock, tickets[:2], results, None)).start()  # the writer thread
        for _ in range(200):
            if len(calls) == 2 and reported:
                break
            await asyncio.sleep(0.01)
        done = CommitTicket(lock)
        resolve(lock, [done], [AppendResult("e9", AppendStatus.STORED, 9)], None)
        return calls, reported, when_committed(done, 30, loop, calls.append)

    calls, reported, registered = asyncio.run(run())
    assert len(calls) == 2 and None in calls  # the committed one, once
    timed_out = [c for c in calls if c is not None]
    assert isinstance(timed_out[0], StoreError) and "longer than" in str(timed_out[0])  # at the next sweep
    assert [str(e) for e in reported] == ["boom"]
    assert registered is False  # already resolved: read it at once, nothing registered


def _fresh(make_txn: MakeTxn, eid: str, decision: tuple[str, bytes] | None = None,
           **extra: Any) -> tuple[bytes, str, tuple[str, bytes] | None]:
    body = fast_canonical_json(make_txn(eid, **extra))
    return body, body_hash_of(body), decision


def test_append_fresh_stores_events_and_decisions_at_the_positions_append_gives(
        log: EmbeddedEventLog, make_txn: MakeTxn, tmp_path: Path) -> None:
    log.append([make_txn("before")])
    items = [_fresh(make_txn, f"f{i}", (f"d{i}", b'{"n": %d}' % i) if i % 3 else None,
                    when=f"2026-01-05T{i // 60:02d}:{i % 60:02d}:07.5Z") for i in range(70)]  # three statements' worth
    assert log.append_fresh(items) == 2
    assert log.last_seq() == 71 and log.count_decisions() == 46
    assert log.decision_for_event("f1") == b'{"n": 1}' and log.decision_for_event("f3") is None
    rows = log.query("SELECT seq, event_id, event_type, event_time_us, body, body_hash FROM events WHERE seq > 1")
    # the same rows the careful path writes for the same events
    with EmbeddedEventLog(tmp_path / "other.sqlite", durability="os") as other:
        other.append([make_txn("before")])
        other.append([orjson.loads(body) for body, _, _ in items], canonical=[(b, h) for b, h, _ in items])
        assert other.query("SELECT seq, event_id, event_type, event_time_us, body, body_hash FROM events "
                           "WHERE seq > 1") == rows


def test_append_fresh_leaves_a_batch_with_a_logged_id_to_append(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    log.append([make_txn("old")])
    batch = [_fresh(make_txn, "new-1", ("d1", b"{}")), _fresh(make_txn, "old", ("d2", b"{}"))]
    assert log.append_fresh(batch) is None
    assert log.count() == 1 and log.count_decisions() == 0  # rolled back whole: nothing of it stays
    twice = [_fresh(make_txn, "same"), _fresh(make_txn, "same")]  # the same id twice in one batch
    assert log.append_fresh(twice) is None and log.count() == 1
    assert log.append_fresh([]) is None
    log.track_ids()  # a log that keeps an id filter must learn every id: append does that
    assert log.append_fresh([_fresh(make_txn, "new-2")]) is None and log.count() == 1
