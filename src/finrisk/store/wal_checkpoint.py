"""WAL checkpoints from a thread of their own, so no commit (and no request waiting on it) pays for one.

With SQLite's automatic checkpoint the commit that grows the WAL past 1,000 pages copies them into
the database file and fsyncs it before returning: tens of milliseconds added to every request
waiting on that commit, once a second or two at 2,000 decisions/s, which is the p99. In WAL mode a
checkpoint needs no write lock, so a second connection can do it while the writer keeps
committing; the writer's own automatic checkpoint is only raised to a safety cap (should this
thread stall, the WAL still stays bounded).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["BackgroundCheckpointer"]

log = logging.getLogger(__name__)

SAFETY_CAP_PAGES = 20_000
"""The writer's own automatic checkpoint while this thread runs (80 MB of WAL at 4 KiB pages)."""


class BackgroundCheckpointer:
    """``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection whenever enough has been written.

    ``written`` tells how much the writer has appended so far (any counter that grows); a
    checkpoint runs when it grew by ``every`` since the last one, or when anything at all was
    written and ``idle_s`` passed. PASSIVE never waits for the writer or for readers; what it could
    not copy is copied next time.
    """

    def __init__(self, path: Path, written: Callable[[], int], *, every: int = 1_000, poll_s: float = 0.1,
                 idle_s: float = 5.0) -> None:
        self.path = path
        self.checkpoints = 0
        self._written = written
        self._every = every
        self._poll_s = poll_s
        self._idle_polls = max(1, round(idle_s / poll_s))
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=1000")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finrisk-log-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        done = self._written()
        polls = 0
        while not self._stop.wait(self._poll_s):
            polls += 1
            now = self._written()
            if now - done >= self._every or (now > done and polls >= self._idle_polls):
                self.checkpoint()
                done, polls = now, 0

    def checkpoint(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # a busy database or a full disk: the next round (or the cap) retries
            log.warning("event log checkpoint failed", extra={"fields": {"error": type(exc).__name__}})

    def close(self) -> None:
        """Stop the thread (a checkpoint in progress finishes first)."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self._db.close()
