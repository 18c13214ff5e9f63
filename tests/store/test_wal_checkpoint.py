"""WAL checkpoints run on their own thread for the group-commit writer, never inside its commits."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from finrisk.decisions.writer import GroupCommitWriter
from finrisk.store import EmbeddedEventLog
from finrisk.store.log import AppendStatus
from finrisk.store.wal_checkpoint import SAFETY_CAP_PAGES, BackgroundCheckpointer

from .conftest import MakeTxn


def _wal_frames(log: EmbeddedEventLog) -> int:
    with sqlite3.connect(log.path) as db:  # a NOOP-like probe: PASSIVE reports the WAL's frames
        return int(db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_the_writer_leaves_checkpoints_to_the_background_thread(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    writer = GroupCommitWriter(log)
    try:
        assert log._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_CAP_PAGES
        checkpointer = log._checkpointer
        assert checkpointer is not None
        futures = [writer.submit(make_txn(f"t{i}"), (f"d{i}", b"{}")) for i in range(2_500)]
        assert all(f.result(timeout=30).status is AppendStatus.STORED for f in futures)
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints >= 1  # at 1,000 appended events (all may land in one poll)
    finally:
        writer.close()
    assert log.count() == 2_500 and log.get_decision("d2499") == b"{}"


def test_an_idle_log_with_new_writes_is_checkpointed_after_a_while(log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    written = [0]
    checkpointer = BackgroundCheckpointer(log.path, lambda: written[0], every=1_000, poll_s=0.01, idle_s=0.05)
    try:
        time.sleep(0.2)
        assert checkpointer.checkpoints == 0  # nothing written: nothing to do
        log.append([make_txn("t1")])
        written[0] = 1
        deadline = time.monotonic() + 5
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints == 1
        assert _wal_frames(log) > 0  # the WAL is kept (and reused), its frames now in the database file
    finally:
        checkpointer.close()
    assert log.count() == 1



def test_after_a_background_checkpoint_the_writer_catches_up_and_the_wal_restarts(
        log: EmbeddedEventLog, make_txn: MakeTxn) -> None:
    writer = GroupCommitWriter(log)

    def append(prefix: str, n: int) -> None:
        futures = [writer.submit(make_txn(f"{prefix}{i}"), (f"d{prefix}{i}", b"{}")) for i in range(n)]
        assert all(f.result(timeout=30).status is AppendStatus.STORED for f in futures)

    try:
        checkpointer = log._checkpointer
        assert checkpointer is not None
        append("a", 200)
        # A reader's snapshot keeps the background pass from copying what comes after it, as commits
        # landing during the pass do under load: the pass ends with part of the WAL not copied.
        with sqlite3.connect(log.path) as reader:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM events").fetchone()
            append("b", 200)
            checkpointer.checkpoint()
            reader.rollback()
        frames = (Path(f"{log.path}-wal").stat().st_size - 32) // (24 + 4096)  # header; frame header + page
        append("c", 1)  # its commit is followed by the writer's catch-up ...
        assert log._finished == checkpointer.checkpoints
        for i in range(3):  # ... so the next ones write the WAL from its start again
            append(f"d{i}-", 1)
        assert _wal_frames(log) < frames  # the last three commits' frames, not the whole history
    finally:
        writer.close()
    assert log.count() == 404 and log.get_decision("dd2-0") == b"{}"
