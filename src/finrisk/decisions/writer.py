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
import time
from collections.abc import Callable, Mapping
from typing import Any

from finrisk.errors import StoreError
from finrisk.store.embedded_log import EmbeddedEventLog
from finrisk.store.log import AppendResult

__all__ = ["CommitTicket", "GroupCommitWriter", "committed", "resolve", "wake_waiters", "when_committed"]

_Item = tuple[Mapping[str, Any], tuple[str, bytes] | None, tuple[bytes, str] | None, "CommitTicket"]


class CommitTicket:
    """One submission's place in a group commit: resolved by the writer thread once its batch is on disk.

    Why not a ``concurrent.futures.Future``: each one builds a ``Condition`` (a lock and a waiter
    list) and every waiter adds a callback and a timer; at 2,000 requests/s that plumbing was about
    a tenth of the event loop's time in a profile of ``finrisk serve``. A ticket is four slots and
    shares its writer's lock; an event loop waiting on it is woken once per *batch*
    (:func:`committed`), a thread waits on an ``Event`` made only when it has to wait.
    """

    __slots__ = ("_done", "_error", "_lock", "_result", "_waiters")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._done = False
        self._result: AppendResult | None = None
        self._error: BaseException | None = None
        self._waiters: list[Any] | None = None  # threading.Event, (loop, asyncio future) or a 0-arg callable

    def done(self) -> bool:
        return self._done

    def result(self, timeout: float | None = None) -> AppendResult:
        """The commit's result, waiting up to ``timeout`` seconds (``TimeoutError`` after that)."""
        if not self._done:
            event = threading.Event()
            with self._lock:
                if not self._done:
                    self._add(event)
            if not event.wait(timeout) and not self._done:
                raise TimeoutError(f"the commit took longer than {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def add_done_callback(self, callback: Callable[[CommitTicket], object]) -> None:
        """Call ``callback(ticket)`` once resolved: at once if it is, else in the writer thread."""
        if not self._done:
            with self._lock:
                if not self._done:
                    self._add(lambda: callback(self))  # rare: a request cancelled mid-commit
                    return
        callback(self)

    def _add(self, waiter: Any) -> None:  # under the lock
        if self._waiters is None:
            self._waiters = [waiter]
        else:
            self._waiters.append(waiter)


class GroupCommitWriter:
    """Appends ``(event, decision)`` pairs to the log from one thread, in batches.

    ``submit`` returns a :class:`CommitTicket` that resolves to the event's :class:`AppendResult`
    once the transaction holding it is committed (or fails with :class:`StoreError`).
    ``linger_s`` lets a batch wait that long after its first event for more (fewer commits, each
    ~0.3 ms of CPU; off by default: at 2,000 decisions/s 1 ms cut the writer's CPU 13-15% with no
    p99 gain that showed, ``docs/api.md`` sixth round).
    """

    def __init__(self, log: EmbeddedEventLog, *, max_batch: int = 1024, linger_s: float = 0.0) -> None:
        self.log = log
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.batches = 0
        self.appended = 0
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards every ticket's resolution against a waiter registering
        self._closed = False
        log.checkpoint_in_background(lambda: self.appended)  # no commit pays for a WAL checkpoint
        self._thread = threading.Thread(target=self._run, name="finrisk-log-writer", daemon=True)
        self._thread.start()

    def submit(self, event: Mapping[str, Any], decision: tuple[str, bytes] | None = None, *,
               canonical: tuple[bytes, str] | None = None) -> CommitTicket:
        """Queue ``event`` (with its decision, and its canonical body and hash if known already)."""
        if self._closed:
            raise StoreError("the decision log writer is closed (the service is shutting down)")
        ticket = CommitTicket(self._lock)
        self._queue.put((event, decision, canonical, ticket))
        return ticket

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
            deadline = time.monotonic() + self.linger_s
            while len(batch) < self.max_batch:
                try:
                    left = deadline - time.monotonic()
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            self.log.finish_checkpoint()  # after a background checkpoint: the WAL restarts, stays small

    def _commit(self, batch: list[_Item]) -> None:
        tickets = [item[3] for item in batch]
        try:
            results = self.log.append([item[0] for item in batch], decisions=[item[1] for item in batch],
                                      canonical=[item[2] for item in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting caller must learn the batch failed
            error = exc if isinstance(exc, StoreError) else StoreError(f"decision log: append failed ({exc})")
            resolve(self._lock, tickets, None, error)
            return
        self.batches += 1
        self.appended += len(batch)
        resolve(self._lock, tickets, results, None)


def resolve(lock: threading.Lock, tickets: list[CommitTicket], results: list[AppendResult] | None,
            error: BaseException | None) -> None:
    """Resolve a committed (or failed) batch's tickets; each waiting event loop is woken once."""
    waiting: list[Any] = []
    with lock:
        for i, ticket in enumerate(tickets):
            if results is not None:
                ticket._result = results[i]
            ticket._error = error
            ticket._done = True
            if ticket._waiters is not None:
                waiting.extend(ticket._waiters)
                ticket._waiters = None
    if waiting:
        wake_waiters(waiting)


def wake_waiters(waiting: list[Any]) -> None:
    """Wake a resolved batch's waiters (taken from its tickets under their lock; called outside it).

    On the loop that reads the answers (the writer process's, the usual case) each waiter is woken
    in place, one call per request; another loop gets one thread-safe wake-up per batch.
    """
    running = asyncio._get_running_loop()
    others: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] | None = None
    for waiter in waiting:
        if type(waiter) is tuple:
            loop, future = waiter
            if loop is not running:
                if others is None:
                    others = {}
                others.setdefault(loop, []).append(future)
            elif type(future) is _CallbackWaiter:
                future._call(None)  # a no-op once called (the request timed out meanwhile)
            elif not future.done():
                future.set_result(None)
        elif isinstance(waiter, threading.Event):
            waiter.set()
        else:
            waiter()
    if others is None:
        return
    for loop, futures in others.items():  # one wake-up per loop and batch, not per request
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting any more
            loop.call_soon_threadsafe(_wake, futures)


def _wake(futures: list[asyncio.Future[None]]) -> None:  # in the loop
    for future in futures:
        if not future.done():
            future.set_result(None)


async def committed(ticket: CommitTicket, timeout: float) -> AppendResult:
    """Await a commit from an event loop without a thread: the writer thread wakes the loop.

    The loop-side waiter is separate from the ticket, so a timed-out or cancelled request never
    cancels the commit itself (the event may still be made durable; a retry then finds it).
    Timeouts are enforced by one sweep per loop every quarter second, not one timer per request.
    """
    if not ticket._done:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with ticket._lock:
            registered = not ticket._done
            if registered:
                ticket._add((loop, waiter))
        if registered:
            _Deadlines.of(loop).watch(waiter, timeout)
            await waiter
    return ticket.result()


def when_committed(ticket: CommitTicket, timeout: float, loop: asyncio.AbstractEventLoop,
                   callback: Callable[[Exception | None], object]) -> bool:
    """:func:`committed` without a coroutine, for a caller on the running loop that has no task.

    Returns False, registering nothing, if the ticket is resolved already (read it at once). Else
    True, and ``callback(None)`` runs on ``loop`` (the running one, passed in: asking asyncio for it
    costs a ``getpid`` system call) once the commit is over (the ticket then holds its
    result or error), or ``callback(StoreError)`` after ``timeout`` seconds. Why: a task per request,
    with its coroutine chain and an asyncio future to wake it, was ~8% of the loop thread's time at
    2,000 decisions/s (``docs/api.md``, seventh round); this is one small object per waiting request.
    """
    if ticket._done:
        return False
    waiter = _CallbackWaiter(loop, callback)
    with ticket._lock:
        if ticket._done:
            return False
        ticket._add((loop, waiter))
    _Deadlines.of(loop).watch(waiter, timeout)  # type: ignore[arg-type]
    return True


class _CallbackWaiter:
    """Stands where :func:`committed` puts an asyncio future (``done``, ``set_result``,
    ``set_exception``) and calls its callback instead, once; a failing callback is reported to the
    loop's exception handler, never raised into the code resolving a whole batch."""

    __slots__ = ("_callback", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[Exception | None], object]) -> None:
        self._loop = loop
        self._callback: Callable[[Exception | None], object] | None = callback

    def done(self) -> bool:
        return self._callback is None

    def set_result(self, _: object) -> None:
        self._call(None)

    def set_exception(self, exc: Exception) -> None:
        self._call(exc)

    def _call(self, exc: Exception | None) -> None:
        callback, self._callback = self._callback, None
        if callback is None:
            return
        try:
            callback(exc)
        except Exception as error:  # noqa: BLE001 - one request's failure must not stop the batch's others
            self._loop.call_exception_handler({"message": "commit callback failed", "exception": error})


class _Deadlines:
    """Fails commit waiters that waited past their timeout; one timer per loop, re-armed while needed.

    A waiter joins the current quarter second's list (one append: a clock read and a tuple per
    request cost more, at 2,000 requests/s, than the timer itself); each sweep closes that list
    with its deadline (sweep time + timeout, so a timeout is enforced up to one period late, as a
    per-request check every period would be) and drops the waiters already done from older ones.
    """

    PERIOD_S = 0.25
    _per_loop: dict[asyncio.AbstractEventLoop, _Deadlines] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.current: dict[float, list[asyncio.Future[None]]] = {}  # timeout -> waiters since the last sweep
        self.closed: list[tuple[float, float, list[asyncio.Future[None]]]] = []  # (deadline, timeout, waiters)
        self.armed = False

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        deadlines = cls._per_loop.get(loop)
        if deadlines is None:
            for old in [old for old in cls._per_loop if old.is_closed()]:
                cls._per_loop.pop(old, None)
            deadlines = cls._per_loop[loop] = cls(loop)
        return deadlines

    def watch(self, waiter: asyncio.Future[None], timeout: float) -> None:
        waiters = self.current.get(timeout)
        if waiters is None:
            waiters = self.current[timeout] = []
        waiters.append(waiter)
        if not self.armed:
            self.armed = True
            self.loop.call_later(min(self.PERIOD_S, max(timeout, 0.0)), self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        closed = [(now + timeout, timeout, waiters) for timeout, waiters in self.current.items()]
        self.current = {}
        kept = []
        for deadline, timeout, waiters in self.closed + closed:
            live = [waiter for waiter in waiters if not waiter.done()]
            if not live:
                continue
            if deadline <= now:
                for waiter in live:
                    waiter.set_exception(StoreError(f"event log: the commit took longer than {timeout:.0f} s"))
            else:
                kept.append((deadline, timeout, live))
        self.closed = kept
        if kept:
            self.loop.call_later(self.PERIOD_S, self._sweep)
        else:
            self.armed = False
