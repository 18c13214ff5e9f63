"""kill -9 in the middle of appends: every acknowledged event survives and the log is consistent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from finrisk.events import EventTypeRegistry
from finrisk.store import EmbeddedEventLog

WRITER = textwrap.dedent(
    """
    import sys
    from finrisk.events import EventTypeRegistry, EventValidator
    from finrisk.store import EmbeddedEventLog

    path, durability = sys.argv[1], sys.argv[2]
    validator = EventValidator(EventTypeRegistry.builtin())
    log = EmbeddedEventLog(path, durability=durability)
    n = 0
    while True:
        batch = []
        for _ in range(50):
            n += 1
            batch.append(validator.validate({
                "event_id": f"e{n}", "event_type": "transaction", "event_time": "2026-01-05T09:00:00Z",
                "txn_type": "payment", "account_id": "A1", "amount": float(n),
            }))
        for result in log.append(batch):
            print(result.seq, result.event_id)
        sys.stdout.flush()
    """
)


@pytest.mark.parametrize("durability", ["os", "fsync"])
def test_acknowledged_events_survive_sigkill(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "events.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), durability],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    acknowledged: dict[str, int] = {}
    for line in proc.stdout:
        seq, event_id = line.split()
        acknowledged[event_id] = int(seq)
        if len(acknowledged) >= 1_500:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
    with EmbeddedEventLog(path, registry=EventTypeRegistry.builtin()) as log:
        count = log.count()
        assert count >= len(acknowledged)
        assert count % 50 == 0, "a batch is one transaction: never part of one"
        seqs = [seq for seq, _ in log.read()]
        assert seqs == list(range(1, count + 1))
        for event_id in acknowledged:
            event = log.get(event_id)
            assert event is not None, f"acknowledged event {event_id} is lost"
            assert event["amount"] == float(event_id[1:])
        assert {e["event_id"]: s for s, e in log.read() if e["event_id"] in acknowledged} == acknowledged
