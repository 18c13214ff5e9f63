"""Group commit: many concurrent callers, one durable transaction per batch.

An fsync costs a fraction of a millisecond to several milliseconds whatever the batch size, so
committing each decision alone caps the service at a few thousand decisions a second and puts
every fsync on some caller's latency. One writer thread takes whatever has queued while the
previous commit was on disk and commits it as one transaction; each caller waits only for the
commit that holds its own event. Under light load a batch is one event (no added delay); under
heavy load batches grow and throughput follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from finrisk.errors import StoreError
from finrisk.store.embedded_log import EmbeddedEventLog
from finrisk.store.log import AppendResult

__all__ = ["GroupCommitWriter", "committed"]

_Item = tuple[Mapping[str, Any], tuple[str, bytes] | None, tuple[bytes, str] | None, "Future[AppendResult]"]


class GroupCommitWriter:
    """Appends ``(event, decision)`` pairs to the log from one thread, in batches.

    ``submit`` returns a future that resolves to the event's :class:`AppendResult` once the
    transaction holding it is committed (or fails with :class:`StoreError`).
    """

    def __init__(self, log: EmbeddedEventLog, *, max_batch: int = 1024) -> None:
        self.log = log
        self.max_batch = max_batch
        self.batches = 0
        self.appended = 0
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        log.checkpoint_in_background(lambda: self.appended)  # no commit pays for a WAL checkpoint
        self._thread = threading.Thread(target=self._run, name="finrisk-log-writer", daemon=True)
        self._thread.start()

    def submit(self, event: Mapping[str, Any], decision: tuple[str, bytes] | None = None, *,
               canonical: tuple[bytes, str] | None = None) -> Future[AppendResult]:
        """Queue ``event`` (with its decision, and its canonical body and hash if known already)."""
        if self._closed:
            raise StoreError("the decision log writer is closed (the service is shutting down)")
        future: Future[AppendResult] = Future()
        self._queue.put((event, decision, canonical, future))
        return future

    def close(self) -> None:
        """Commit everything queued, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Item]) -> None:
        try:
            results = self.log.append([e for e, _, _, _ in batch], decisions=[d for _, d, _, _ in batch],
                                      canonical=[c for _, _, c, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting caller must learn the batch failed
            error = exc if isinstance(exc, StoreError) else StoreError(f"decision log: append failed ({exc})")
            for *_, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        self.appended += len(batch)
        for (*_, future), result in zip(batch, results, strict=True):
            future.set_result(result)


async def committed(future: Future[AppendResult], timeout: float) -> AppendResult:
    """Await a commit from an event loop without a thread: the writer thread wakes the loop.

    The loop-side waiter is separate from ``future``, so a timed-out or cancelled request never
    cancels the commit itself (the event may still be made durable; a retry then finds it).
    """
    if not future.done():
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        waker = _wakers.get(loop)
        if waker is None:
            waker = _wakers[loop] = _LoopWaker(loop)
        future.add_done_callback(lambda _: waker.wake(waiter))
        # One timer on the waiter (cheaper than ``asyncio.wait_for``, which wraps it in another future).
        timer = loop.call_later(timeout, _expire, waiter, timeout)
        try:
            await waiter
        finally:
            timer.cancel()
    return future.result()


def _expire(waiter: asyncio.Future[None], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(StoreError(f"event log: the commit took longer than {timeout:.0f} s"))


class _LoopWaker:
    """Wakes an event loop once per batch of finished commits, not once per request.

    Each ``call_soon_threadsafe`` writes to the loop's wake-up pipe; a batch of fifty commits
    resolved by the writer thread needs only the first of them.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ready: list[asyncio.Future[None]] = []
        self._lock = threading.Lock()

    def wake(self, waiter: asyncio.Future[None]) -> None:  # in the writer thread
        with self._lock:
            first = not self._ready
            self._ready.append(waiter)
        if first:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
                self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:  # in the loop
        with self._lock:
            ready, self._ready = self._ready, []
        for waiter in ready:
            if not waiter.done():
                waiter.set_result(None)


_wakers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaker] = weakref.WeakKeyDictionary()
