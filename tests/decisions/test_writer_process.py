"""The log writer process: commits durably, answers per batch, keeps retries and conflicts right, and fails
clearly (never hangs) when it dies; it ends with the process that started it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from finrisk.config import init_workspace
from finrisk.decisions.service import DecisionService
from finrisk.decisions.writer import committed
from finrisk.decisions.writer_process import ProcessCommitWriter
from finrisk.errors import EventConflictError, StoreError
from finrisk.store import EmbeddedEventLog, open_log
from finrisk.store.log import AppendStatus

from .test_service import make_workspace, txn


def _event(eid: str, amount: float = 10.0) -> dict[str, Any]:
    return {"event_id": eid, "event_type": "transaction", "event_time": "2026-01-05T09:00:00Z",
            "customer_id": "C1", "account_id": "A1", "card_id": "K1", "amount": amount, "currency": "CNY",
            "txn_type": "payment", "device_id": "D1"}


@pytest.fixture
def log(tmp_path: Path) -> Iterator[EmbeddedEventLog]:
    with open_log(init_workspace(tmp_path / "ws")) as opened:
        opened.track_ids()
        yield opened


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True
        if "zombie" in state:
            return True
        time.sleep(0.05)
    return False


def test_thread_read_answers_carry_status_and_position_and_the_log_has_them(log: EmbeddedEventLog) -> None:
    writer = ProcessCommitWriter(log)
    try:
        tickets = [writer.submit(_event(f"t{i}"), (f"d{i}", b'{"n": %d}' % i)) for i in range(200)]
        results = [t.result(timeout=30) for t in tickets]
        assert [r.status for r in results] == [AppendStatus.STORED] * 200
        assert [r.seq for r in results] == list(range(1, 201))
        assert writer.batches < 200  # events sent while a commit ran went into the next one together
        again = writer.submit(_event("t7"), ("d-again", b"{}")).result(timeout=30)
        clash = writer.submit(_event("t8", amount=99.0)).result(timeout=30)
        assert again.status is AppendStatus.DUPLICATE and again.seq == 8
        assert clash.status is AppendStatus.CONFLICT and isinstance(clash.error, EventConflictError)
    finally:
        writer.close()
    assert log.count() == 200 and log.get_decision("d5") == b'{"n": 5}' and log.get_decision("d-again") is None
    # every id sent is in the serving process's filter: a retry is looked up, not taken for new
    assert log.event_state("t199")[0] is not None


def test_close_commits_everything_sent_before_the_writer_process_ends(log: EmbeddedEventLog) -> None:
    writer = ProcessCommitWriter(log)
    tickets = [writer.submit(_event(f"c{i}"), (f"d{i}", b"{}")) for i in range(500)]
    writer.close()
    assert all(t.done() and t.result().status is AppendStatus.STORED for t in tickets)
    assert log.count() == 500 and log.count_decisions() == 500
    assert _gone(writer.pid)
    with pytest.raises(StoreError, match="closed"):
        writer.submit(_event("late"))


def test_loop_mode_sends_and_reads_on_the_event_loop(log: EmbeddedEventLog) -> None:
    async def run() -> tuple[list[Any], int, set[str]]:
        writer = ProcessCommitWriter(log, loop=asyncio.get_running_loop())
        threads_before = {t.name for t in threading.enumerate()}
        try:
            results = await asyncio.gather(*[committed(writer.submit(_event(f"l{i}"), (f"d{i}", b"{}")), 30)
                                             for i in range(300)])
            # a submission from another thread (ingest runs in the thread pool) is sent by the loop too
            ticket = await asyncio.to_thread(writer.submit, _event("from-thread"))
            results.append(await committed(ticket, 30))
        finally:
            await asyncio.to_thread(writer.close)
        return results, writer.batches, threads_before

    results, batches, threads = asyncio.run(run())
    assert [r.status for r in results] == [AppendStatus.STORED] * 301 and batches < 301
    assert "finrisk-log-results" not in threads  # no reader thread in this mode
    assert log.count() == 301


@pytest.mark.parametrize("on_loop", [False, True])
def test_a_dead_writer_process_fails_waiting_and_later_commits_clearly(log: EmbeddedEventLog, on_loop: bool) -> None:
    async def run() -> tuple[BaseException | None, BaseException | None]:
        writer = ProcessCommitWriter(log, loop=asyncio.get_running_loop() if on_loop else None)
        try:
            await committed(writer.submit(_event("before")), 30)
            os.kill(writer.pid, signal.SIGSTOP)  # stopped: the next event waits, uncommitted
            waiting = writer.submit(_event("waiting"))
            os.kill(writer.pid, signal.SIGKILL)
            first: BaseException | None = None
            try:
                await committed(waiting, 10)
            except StoreError as exc:
                first = exc
            later: BaseException | None = None
            try:
                writer.submit(_event("after"))
            except StoreError as exc:
                later = exc
            return first, later
        finally:
            await asyncio.to_thread(writer.close)

    first, later = asyncio.run(run())
    assert first is not None and "writer process" in str(first)
    assert later is not None and "writer process" in str(later)
    assert log.event_state("before")[0] is not None and log.count() == 1


def test_learns_ids_another_process_logged_in_between(log: EmbeddedEventLog, tmp_path: Path) -> None:
    writer = ProcessCommitWriter(log)
    try:
        writer.submit(_event("ours-1")).result(timeout=30)
        with EmbeddedEventLog(log.path, durability="os") as other:  # e.g. `finrisk load` beside the service
            other.append([_event("theirs")])
        assert not log._ids.may_contain("theirs")  # type: ignore[union-attr]
        writer.submit(_event("ours-2")).result(timeout=30)
        assert log.event_state("theirs")[0] is not None  # learnt from the gap in positions
    finally:
        writer.close()


def test_the_writer_process_ends_when_the_serving_process_is_killed(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    script = textwrap.dedent(f"""
        import sys, time
        from finrisk.config import load_workspace
        from finrisk.store import open_log
        from finrisk.decisions.writer_process import ProcessCommitWriter
        log = open_log(load_workspace({str(ws.root)!r}))
        writer = ProcessCommitWriter(log)
        print(writer.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not _gone(child, timeout_s=0.2)
        parent.kill()
        parent.wait(timeout=10)
        assert _gone(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def test_service_with_the_writer_process_keeps_retries_conflicts_and_decisions(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    with DecisionService.open(ws, log_writer="process") as service:
        first = service.decide(txn("t1", minute=1))
        again = service.decide(txn("t1", minute=1))
        assert again.idempotent and again.decision_id == first.decision_id
        with pytest.raises(EventConflictError):
            service.decide(txn("t1", amount=2.0, minute=1))
        ids: list[str] = []
        threads = [threading.Thread(target=lambda: ids.append(service.decide(txn("same", minute=5)).decision_id))
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == 8 and len(set(ids)) == 1
        assert service.ingest([txn("i1", minute=6), txn("t1", minute=1)]).accepted == 1
        assert service.decide(txn("t2", minute=7)).features["cust_txn_1h"] == 3  # t1, same, i1 counted once each
    with DecisionService.open(ws) as reopened:  # everything acknowledged is in the log
        assert reopened.get_decision(first.decision_id) == first
        assert reopened.log.count() == 4 and reopened.log.count_decisions() == 3


def test_an_unknown_log_writer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="log_writer"):
        DecisionService.open(make_workspace(tmp_path / "ws"), log_writer="fork")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_linger_gathers_events_sent_just_after_the_first_into_one_commit(log: EmbeddedEventLog, kind: str) -> None:
    from finrisk.decisions.writer import GroupCommitWriter

    writer = (GroupCommitWriter(log, linger_s=0.3) if kind == "thread"
              else ProcessCommitWriter(log, linger_s=0.3))
    try:
        first = writer.submit(_event("g0"))
        time.sleep(0.02)
        rest = [writer.submit(_event(f"g{i}")) for i in range(1, 6)]
        assert all(t.result(timeout=30).status is AppendStatus.STORED for t in [first, *rest])
        assert writer.batches == 1
    finally:
        writer.close()


def test_the_writer_process_checkpoints_the_wal_in_the_background(log: EmbeddedEventLog) -> None:
    writer = ProcessCommitWriter(log)
    try:
        before = log.path.stat().st_size  # pages reach the database file only through a checkpoint
        tickets = [writer.submit(_event(f"w{i}"), (f"d{i}", b"{}")) for i in range(2_500)]
        assert all(t.result(timeout=30).status is AppendStatus.STORED for t in tickets)
        deadline = time.monotonic() + 10
        while log.path.stat().st_size <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.path.stat().st_size > before  # nobody in this process checkpointed: the child did
    finally:
        writer.close()


def test_loop_mode_sends_more_than_the_socket_holds_in_one_step(log: EmbeddedEventLog) -> None:
    big = b'{"note": "' + b"x" * 4_000 + b'"}'  # 3,000 frames of ~4 KB: far over the socket's buffer

    async def run() -> list[Any]:
        writer = ProcessCommitWriter(log, loop=asyncio.get_running_loop())
        try:
            tickets = [writer.submit(_event(f"b{i}"), (f"d{i}", big)) for i in range(3_000)]  # one loop step
            return list(await asyncio.gather(*[committed(t, 60) for t in tickets]))
        finally:
            await asyncio.to_thread(writer.close)

    results = asyncio.run(run())
    assert [r.seq for r in results] == list(range(1, 3_001))
    assert log.count_decisions() == 3_000 and log.get_decision("d2999") == big


def test_the_writer_process_inbox_keeps_partial_frames_and_grows_for_a_big_one() -> None:
    from finrisk.decisions.writer_process import _canonical, _frame, _Inbox

    frames = [_frame(*_canonical(_event(f"i{i}")), (f"d{i}", b'{"n": %d}' % i)) for i in range(3)]
    huge = _frame(*_canonical(_event("huge")), ("d-huge", b'"' + b"y" * 5_000 + b'"'))  # 40x the buffer
    ours, theirs = socket.socketpair()
    with ours, theirs:
        inbox = _Inbox(size=128)  # smaller than any frame
        data = b"".join([*frames, huge])
        taken: list[Any] = []
        for cut in range(0, len(data), 50):  # arrives in pieces that split frames anywhere
            theirs.sendall(data[cut:cut + 50])
            assert inbox.fill(ours)
            taken += inbox.take()
        theirs.close()
        assert not inbox.fill(ours) and inbox.take() == []
    assert [orjson.loads(body)["event_id"] for body, _, _ in taken] == ["i0", "i1", "i2", "huge"]
    assert taken[1][2] == ("d1", b'{"n": 1}') and taken[3][2] is not None and len(taken[3][2][1]) == 5_002
    assert taken[0][1] == _canonical(_event("i0"))[1]


def test_pace_starts_a_commit_no_sooner_than_pace_after_the_last_one(log: EmbeddedEventLog) -> None:
    writer = ProcessCommitWriter(log, pace_s=0.4)
    try:
        start = time.monotonic()
        assert writer.submit(_event("p0")).result(timeout=30).seq == 1  # the first commit does not wait
        first = time.monotonic() - start
        rest = [writer.submit(_event(f"p{i}")) for i in range(1, 6)]
        assert [t.result(timeout=30).seq for t in rest] == [2, 3, 4, 5, 6]
        assert writer.batches == 2  # the five came while the pace held the next commit back: one batch
        assert time.monotonic() - start >= 0.4 > first
    finally:
        writer.close()


def test_loop_mode_reads_answers_split_across_reads_into_a_buffer_that_grows(
        log: EmbeddedEventLog, monkeypatch: pytest.MonkeyPatch) -> None:
    import finrisk.decisions.writer_process as writer_process

    monkeypatch.setattr(writer_process, "_ANSWERS", 4, raising=False)  # smaller than any answer: every one is split

    async def run() -> list[Any]:
        writer = ProcessCommitWriter(log, loop=asyncio.get_running_loop())
        try:
            first = [writer.submit(_event(f"s{i}")) for i in range(50)]  # new events: "S" answers
            results = list(await asyncio.gather(*[committed(t, 30) for t in first]))
            again = [writer.submit(_event("s3")), writer.submit(_event("s4", amount=99.0)),
                     writer.submit(_event("new"))]  # one batch with logged ids: an "R" answer per event
            for ticket in again:
                try:
                    results.append(await committed(ticket, 30))
                except EventConflictError as exc:
                    results.append(exc)
            return results
        finally:
            await asyncio.to_thread(writer.close)

    results = asyncio.run(run())
    assert [r.seq for r in results[:50]] == list(range(1, 51))
    assert results[50].status is AppendStatus.DUPLICATE and results[50].seq == 4
    assert results[51].status is AppendStatus.CONFLICT and results[52].seq == 51
    assert log.count() == 51
