"""Group commit in a process of its own: the log's SQLite writes and fsyncs run beside the GIL, not under it.

Why: with the writer as a thread of the serving process, each commit handed the GIL back and forth
with the event loop. ``sqlite3`` releases and re-takes it around every statement, and the thread
builds its rows in Python. Sampled with ``py-spy --native --idle`` at 2,000 decisions/s, the writer
thread spent ~55% of its time waiting for the GIL (most of it right after the ``COMMIT``'s fsync,
so every request of the batch waited too) and 7% in the fsync itself; the loop lost ~6% waiting
for the GIL and ~5% signalling hand-offs (``docs/api.md``, sixth round).

Here the serving process only sends bytes it already has (the event's canonical JSON and hash,
the decision id and JSON) over a Unix socket, one frame per event, and a thread of its own
reads one small answer per *batch*. The writer process owns the write connection, takes whatever
arrived while it was committing as the next batch (one transaction, one fsync, as the thread
did), runs the background WAL checkpoint, and answers with each event's status and position.
A batch of new events, the usual case, is written without a read
(:meth:`~finrisk.store.embedded_log.EmbeddedEventLog.append_fresh`) and answered with its first
position; a batch holding a logged id is appended the careful way.

The serving process keeps the retry logic (``DecisionService._pending``, ``event_state`` reads
on its own read connection) and the id filter: an id is added when its event is sent, so a
later retry is looked up in the log. A dead writer process fails every waiting commit and every
later submission with :class:`~finrisk.errors.StoreError` (503), never a hang. The writer
process ends on the socket's end of file: when the service closes the writer (after committing
everything it was sent) or when the serving process dies (even by SIGKILL: the kernel closes the
socket). ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that started the child ends,
and ``finrisk serve`` opens the service on a loading thread that ends at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from finrisk.decisions.writer import CommitTicket, resolve, wake_waiters
from finrisk.errors import EventConflictError, StoreError
from finrisk.store.embedded_log import EmbeddedEventLog, body_hash_of, fast_canonical_json
from finrisk.store.log import AppendResult, AppendStatus

__all__ = ["COMMIT_PACE_S", "ProcessCommitWriter", "main"]

# serving process -> writer process, one frame per event:
#   u32 length of the rest, 32-byte hex digest, u16 decision-id length, u32 decision-JSON length,
#   decision id, decision JSON, canonical event JSON (the rest)
_ITEM = struct.Struct("<I32sHI")
_SIZE = struct.Struct("<I")
# writer process -> serving process, one frame per batch: kind, count, then per kind
#   b"S": i64 seq of the first (every event stored, at consecutive positions)
#   b"R": count x (status byte, i64 seq or -1)      b"F": u32 message length, message (UTF-8)
_BATCH = struct.Struct("<cI")
_RESULT = struct.Struct("<cq")
_FIRST = struct.Struct("<q")
_STORED = struct.Struct("<cIq")  # a whole b"S" answer, read in one call
_MESSAGE = struct.Struct("<I")
_STATUS = {b"S": AppendStatus.STORED, b"D": AppendStatus.DUPLICATE, b"C": AppendStatus.CONFLICT}
_CODE = {status: code for code, status in _STATUS.items()}
_READY = b"R"
_SOCKET_BUFFER = 4 << 20  # the kernel caps it (net.core.wmem_max); a full buffer makes submit wait
_INBOX = 1 << 20  # the writer process's receive buffer (grows for a bigger frame)
_ANSWERS = 64 << 10  # the serving process's receive buffer for answers (grows for a bigger one)

COMMIT_PACE_S = 0.0
"""``finrisk serve``'s default ``pace_s`` (``--log-pace-ms``): see ``docs/api.md``, ninth round."""


class ProcessCommitWriter:
    """:class:`~finrisk.decisions.writer.GroupCommitWriter`'s interface, committing in a child process.

    ``log`` is the serving process's own log object: it is not written through, but its id filter
    learns every event sent, and its path and durability are the child's. With ``loop`` (the
    server's event loop) the socket is that loop's: frames submitted during one loop step go out
    in one ``send`` and the answers are read by the loop itself, so no thread of this process
    wakes per batch and nothing crosses threads. Without it, a thread reads the answers.
    ``linger_s``: how long the writer process may wait for more events before it commits a batch
    (fewer fsyncs per event; see ``docs/api.md``, sixth round). ``pace_s``: the writer process starts
    a commit no sooner than that after the previous one started, so at most ``1 / pace_s`` commits
    a second; it waits only when commits end sooner (a quiet disk), and each commit costs the
    process ~150-250 µs of CPU whatever its size (``docs/api.md``, ninth round).
    """

    def __init__(self, log: EmbeddedEventLog, *, loop: asyncio.AbstractEventLoop | None = None,
                 linger_s: float = 0.0, pace_s: float = 0.0, start_timeout_s: float = 60.0) -> None:
        self.log = log
        self.batches = 0
        self.appended = 0
        self._lock = threading.Lock()  # frame order = ticket order; shared with the tickets
        self._waiting: collections.deque[tuple[str, CommitTicket]] = collections.deque()
        self._closed = False
        self._failure: str | None = None
        self._loop = loop
        self._outbox: list[bytes] = []  # loop mode: frames not yet handed to the socket
        self._flushing = False
        self._answers = bytearray(_ANSWERS)  # loop mode: answers received, kept (no buffer made per read)
        self._answers_view = memoryview(self._answers)
        self._answers_end = 0  # bytes of an incomplete answer at the buffer's start
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(OSError):
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
        self._sock = ours
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "finrisk.decisions.writer_process", str(theirs.fileno()), str(log.path),
                 log.durability, str(linger_s), str(pace_s)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            theirs.close()
        ours.settimeout(start_timeout_s)
        try:
            ready = ours.recv(1)
        except OSError:
            ready = b""
        if ready != _READY:
            code = self._stop_child()
            ours.close()
            raise StoreError(f"event log {log.path}: the writer process did not start (exit code {code})")
        self._reader: threading.Thread | None = None
        if loop is None:
            ours.settimeout(None)
            self._reader = threading.Thread(target=self._read_results, name="finrisk-log-results", daemon=True)
            self._reader.start()
        else:
            ours.setblocking(False)
            self._loop_thread: int | None = None
            attached = threading.Event()

            def attach() -> None:
                self._loop_thread = threading.get_ident()
                loop.add_reader(ours.fileno(), self._on_readable)
                attached.set()

            if _running_loop() is loop:
                attach()
            else:
                loop.call_soon_threadsafe(attach)
                if not attached.wait(start_timeout_s):
                    raise StoreError("decision log: the event loop did not take the writer's socket")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def submit(self, event: Mapping[str, Any], decision: tuple[str, bytes] | None = None, *,
               canonical: tuple[bytes, str] | None = None) -> CommitTicket:
        """Send ``event`` (with its decision) to the writer process; the ticket resolves after its commit."""
        body, digest = canonical if canonical is not None else _canonical(event)
        frame = _frame(body, digest, decision)
        eid = str(event["event_id"])
        ticket = CommitTicket(self._lock)
        loop = self._loop
        with self._lock:
            if self._closed or self._failure is not None:
                raise StoreError(self._failure or "the decision log writer is closed (the service is shutting down)")
            if loop is None:
                try:
                    self._sock.sendall(frame)
                except OSError as exc:
                    self._failure = f"decision log: the writer process is gone ({type(exc).__name__})"
                    raise StoreError(self._failure) from None
                schedule = False
            else:
                self._outbox.append(frame)
                schedule = not self._flushing
                self._flushing = True
            self.log.expect_id(eid)  # before the commit: a failed one leaves only a false positive
            self._waiting.append((eid, ticket))
        if schedule:
            assert loop is not None
            if threading.get_ident() == self._loop_thread:
                loop.call_soon(self._flush)  # once per loop step: one send for every frame of the step
            else:
                try:
                    loop.call_soon_threadsafe(self._flush)
                except RuntimeError:  # the loop has closed: close() sends what is left
                    pass
        return ticket

    def close(self) -> None:
        """Commit everything sent, then stop the writer process (it ends on the socket's end of file)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._loop is not None:
            self._detach()
            self._sock.setblocking(True)
            with self._lock:
                pending, self._outbox = b"".join(self._outbox), []
            with contextlib.suppress(OSError):
                self._sock.sendall(pending)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        if self._reader is not None:
            self._reader.join()
        else:
            self._read_results()  # the rest of the answers, on this thread: the loop has let go
        self._stop_child()
        self._sock.close()

    def _detach(self) -> None:
        """Take the socket back from the event loop (at once if it has stopped)."""
        loop = self._loop
        assert loop is not None
        if loop.is_closed():
            return
        if _running_loop() is loop or not loop.is_running():
            loop.remove_reader(self._sock.fileno())
            loop.remove_writer(self._sock.fileno())
            return
        done = threading.Event()

        def detach() -> None:
            loop.remove_reader(self._sock.fileno())
            loop.remove_writer(self._sock.fileno())
            done.set()

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(detach)
            done.wait(10)

    def _stop_child(self, timeout_s: float = 60.0) -> int | None:
        try:
            return self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()

    # -- loop mode: the event loop sends and reads ---------------------------------------------
    def _flush(self) -> None:
        with self._lock:
            data, self._outbox = b"".join(self._outbox), []
            if not data:
                self._flushing = False
                return
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost()
            return
        if sent < len(data):  # the writer process is behind: wait until the socket takes more
            with self._lock:
                self._outbox.insert(0, data[sent:])
            assert self._loop is not None
            self._loop.add_writer(self._sock.fileno(), self._writable)
            return
        with self._lock:
            if not self._outbox:
                self._flushing = False
                return
        assert self._loop is not None
        self._loop.call_soon(self._flush)

    def _writable(self) -> None:
        assert self._loop is not None
        self._loop.remove_writer(self._sock.fileno())
        self._flush()

    def _on_readable(self) -> None:
        """Loop mode: read the answers into the kept buffer and resolve each complete one.

        Why a kept buffer: ``recv(1 MiB)`` makes (and shrinks) a 1 MiB object per read, the cost
        the writer process's :class:`_Inbox` removed on its side (``docs/api.md``, tenth round).
        """
        end = self._answers_end
        if end == len(self._answers):  # an answer bigger than the buffer: make room for it
            self._answers_view.release()
            self._answers += bytearray(len(self._answers))
            self._answers_view = memoryview(self._answers)
        try:
            received = self._sock.recv_into(self._answers_view[end:])
        except BlockingIOError:
            return
        except OSError:
            received = 0
        if not received:
            self._lost()
            return
        end += received
        inbox = self._answers
        pos = 0
        while end - pos >= _BATCH.size:
            kind, count = _BATCH.unpack_from(inbox, pos)
            if kind == b"S":
                if end - pos < _STORED.size:
                    break
                self._resolve_stored(_STORED.unpack_from(inbox, pos)[2], count)
                pos += _STORED.size
                continue
            if kind == b"R":
                stop = pos + _BATCH.size + count * _RESULT.size
                if end < stop:
                    break
                answers = [_RESULT.unpack_from(inbox, pos + _BATCH.size + i * _RESULT.size) for i in range(count)]
                self._resolve_batch(answers, None)
            else:
                if end - pos < _BATCH.size + _MESSAGE.size:
                    break
                (size,) = _MESSAGE.unpack_from(inbox, pos + _BATCH.size)
                stop = pos + _BATCH.size + _MESSAGE.size + size
                if end < stop:
                    break
                message = bytes(inbox[stop - size:stop]).decode("utf-8", "replace")
                self._resolve_batch([(b"", -1)] * count, StoreError(message))
            pos = stop
        if pos and pos < end:
            self._answers_view[:end - pos] = self._answers_view[pos:end]
        self._answers_end = end - pos

    def _lost(self) -> None:
        """Loop mode: the writer process closed its end (it died): fail what waits, stop reading."""
        assert self._loop is not None
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
        self._fail_waiting(wait_s=0.0)

    # -- thread mode (and close): a thread reads the answers -----------------------------------
    def _read_results(self) -> None:
        stream = self._sock.makefile("rb")
        try:
            if self._answers_end:
                stream = _Prefixed(bytes(self._answers_view[:self._answers_end]), stream)  # type: ignore[assignment]
                self._answers_end = 0
            while True:
                head = stream.read(_BATCH.size)
                if len(head) < _BATCH.size:
                    break
                kind, count = _BATCH.unpack(head)
                if kind == b"S":
                    raw = stream.read(_FIRST.size)
                    if len(raw) < _FIRST.size:
                        break
                    self._resolve_stored(_FIRST.unpack(raw)[0], count)
                elif kind == b"R":
                    raw = stream.read(count * _RESULT.size)
                    if len(raw) < count * _RESULT.size:
                        break
                    self._resolve_batch([_RESULT.unpack_from(raw, i * _RESULT.size) for i in range(count)], None)
                else:
                    size = _MESSAGE.unpack(stream.read(_MESSAGE.size))[0]
                    message = stream.read(size).decode("utf-8", "replace")
                    self._resolve_batch([(b"", -1)] * count, StoreError(message))
        except (OSError, struct.error, ValueError):
            pass
        finally:
            stream.close()
            self._fail_waiting()

    def _resolve_stored(self, first: int, count: int) -> None:
        """Every event of the batch was stored, at ``first``, ``first + 1``, ...

        One pass under the lock, no tuple or list per event (the usual answer: ``docs/api.md``,
        tenth round); the waiting requests are woken after it, outside the lock.
        """
        waiting = self._waiting
        stored = AppendStatus.STORED
        wake: list[Any] = []
        with self._lock:  # the id filter under the lock: submit adds to it (read-modify-write bytes)
            self.log.learn_appended(range(first, first + count))
            for seq in range(first, first + count):
                eid, ticket = waiting.popleft()
                ticket._result = AppendResult(eid, stored, seq)
                ticket._done = True
                if ticket._waiters is not None:
                    wake += ticket._waiters
                    ticket._waiters = None
            self.batches += 1
            self.appended += count
        if wake:
            wake_waiters(wake)

    def _resolve_batch(self, answers: list[tuple[bytes, int]], error: StoreError | None) -> None:
        with self._lock:
            taken = [self._waiting.popleft() for _ in answers]
            if error is None:  # under the lock: submit adds to the same filter (read-modify-write bytes)
                self.log.learn_appended([seq for code, seq in answers if code == b"S"])
        if error is not None:
            resolve(self._lock, [t for _, t in taken], None, error)
            return
        results = []
        for (eid, _), (code, seq) in zip(taken, answers, strict=True):
            status = _STATUS[code]
            if status is AppendStatus.CONFLICT:
                results.append(AppendResult(eid, status, None, EventConflictError(eid)))
            else:
                results.append(AppendResult(eid, status, seq))
        self.batches += 1
        self.appended += len(answers)
        resolve(self._lock, [t for _, t in taken], results, None)

    def _fail_waiting(self, wait_s: float = 5.0) -> None:
        """The writer process is gone: everything still waiting, and everything later, fails clearly."""
        code = self._proc.poll()
        if code is None and wait_s > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=wait_s)
        with self._lock:
            if self._failure is None and not (self._closed and not self._waiting):
                ended = "ended" if code is not None else "closed its socket"
                self._failure = f"decision log: the writer process {ended} (exit code {code}); nothing more is logged"
            taken = list(self._waiting)
            self._waiting.clear()
        if taken:
            error = StoreError(self._failure or "decision log: the writer process ended")
            resolve(self._lock, [t for _, t in taken], None, error)


class _Prefixed:
    """A byte stream that first returns ``head``, then reads ``rest`` (answers the loop read in part)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int) -> bytes:
        out = self._head[:n]
        self._head = self._head[n:]
        if len(out) < n:
            out += self._rest.read(n - len(out))
        return out

    def close(self) -> None:
        self._rest.close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _frame(body: bytes, digest: str, decision: tuple[str, bytes] | None) -> bytes:
    did, raw = (b"", b"") if decision is None else (decision[0].encode(), decision[1])
    return b"".join((_ITEM.pack(_ITEM.size - 4 + len(did) + len(raw) + len(body), digest.encode(), len(did), len(raw)),
                     did, raw, body))


def _canonical(event: Mapping[str, Any]) -> tuple[bytes, str]:
    body = fast_canonical_json(event)
    return body, body_hash_of(body)


# -- the writer process ------------------------------------------------------------------------
def _serve_log(sock: socket.socket, log: EmbeddedEventLog, linger_s: float, pace_s: float = 0.0) -> None:
    """Commit whatever arrived while the last commit ran, answer, repeat until EOF.

    ``linger_s``: after a batch's first event, wait that long for more. ``pace_s``: start a commit
    no sooner than that after the previous one started (a wait only when commits are quicker).
    """
    appended = 0
    log.checkpoint_in_background(lambda: appended)  # no commit pays for a WAL checkpoint
    inbox = _Inbox()
    eof = False
    began = 0.0
    while not eof:
        eof = not inbox.fill(sock)
        items = inbox.take()
        if not items:
            continue
        if pace_s > 0 and not eof:
            wait = began + pace_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                eof = not inbox.fill(sock, wait=False)
                items += inbox.take()
            began = time.monotonic()
        if linger_s > 0 and not eof:  # one sleep and one read, not a wake-up per event that comes meanwhile
            time.sleep(linger_s)
            eof = not inbox.fill(sock, wait=False)
            items += inbox.take()
        sock.sendall(_commit(log, items))
        appended += len(items)
        log.finish_checkpoint()  # after a background checkpoint: the WAL restarts, stays small


_Item = tuple[bytes, str, "tuple[str, bytes] | None"]


class _Inbox:
    """The writer process's frames, received into one buffer that is kept.

    Why: ``recv(1 MiB)`` makes a new 1 MiB bytes object per call, which glibc maps, shrinks and
    unmaps (``mmap``, ``mremap``, ``munmap`` and page faults every batch): ~12% of the process's
    CPU in ``perf`` at 2,000 events/s (``docs/api.md``, ninth round).
    """

    def __init__(self, size: int = _INBOX) -> None:
        self._buffer = bytearray(size)
        self._view = memoryview(self._buffer)
        self._end = 0

    def fill(self, sock: socket.socket, *, wait: bool = True) -> bool:
        """Receive what the socket holds (with ``wait``, waiting for something); False at its end of file."""
        if self._end == len(self._buffer):  # a frame bigger than the buffer: make room for it
            self._view.release()
            self._buffer = self._buffer + bytearray(len(self._buffer))
            self._view = memoryview(self._buffer)
        try:
            received = sock.recv_into(self._view[self._end:], 0, 0 if wait else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        self._end += received
        return received > 0

    def take(self) -> list[_Item]:
        """The complete frames received so far (the rest of a partial one stays for the next fill)."""
        items, used = _parse_items(self._buffer, self._end)
        if used:
            rest = self._end - used
            self._view[:rest] = self._view[used:self._end]
            self._end = rest
        return items


def _parse_items(buffer: bytearray, end: int) -> tuple[list[_Item], int]:
    items: list[_Item] = []
    pos = 0
    while end - pos >= 4:
        (size,) = _SIZE.unpack_from(buffer, pos)
        if end - pos - 4 < size:
            break
        _, digest, did_len, raw_len = _ITEM.unpack_from(buffer, pos)
        start = pos + _ITEM.size
        pos += 4 + size
        if did_len:
            did = buffer[start:start + did_len].decode()
            raw = bytes(buffer[start + did_len:start + did_len + raw_len])
            items.append((bytes(buffer[start + did_len + raw_len:pos]), digest.decode(), (did, raw)))
        else:
            items.append((bytes(buffer[start + raw_len:pos]), digest.decode(), None))
    return items, pos


def _commit(log: EmbeddedEventLog, items: list[_Item]) -> bytes:
    try:
        first = log.append_fresh(items)  # the usual case: every event new, nothing read before writing
        if first is not None:
            return _BATCH.pack(b"S", len(items)) + _FIRST.pack(first)
        events = [orjson.loads(body) for body, _, _ in items]
        results = log.append(events, decisions=[d for _, _, d in items],
                             canonical=[(body, digest) for body, digest, _ in items])
    except Exception as exc:  # noqa: BLE001 - every waiting caller must learn the batch failed
        message = str(exc) if isinstance(exc, StoreError) else f"decision log: append failed ({exc})"
        data = message.encode()
        return _BATCH.pack(b"F", len(items)) + _MESSAGE.pack(len(data)) + data
    out = [_BATCH.pack(b"R", len(results))]
    out += [_RESULT.pack(_CODE[r.status], -1 if r.seq is None else r.seq) for r in results]
    return b"".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m finrisk.decisions.writer_process FD PATH DURABILITY LINGER_S PACE_S`` (see ProcessCommitWriter)."""
    fd, path, durability, linger, pace = (argv if argv is not None else sys.argv[1:])[:5]
    sock = socket.socket(fileno=int(fd))
    try:
        log = EmbeddedEventLog(Path(path), durability=durability)  # type: ignore[arg-type]
    except StoreError as exc:
        print(f"finrisk log writer: {exc}", file=sys.stderr)
        return 1
    try:
        sock.sendall(_READY)
        _serve_log(sock, log, float(linger), float(pace))
    except OSError:  # the serving process is gone mid-answer: what was committed stays committed
        return 0
    finally:
        log.close()
        with contextlib.suppress(OSError):
            sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
