"""The embedded event log: one SQLite file in WAL mode (stdlib ``sqlite3``).

Why SQLite and not a home-made segment file: a batch is one transaction, so a crash (kill -9 or
power loss) leaves either the whole batch or none of it, and the ``UNIQUE(event_id)`` index gives
idempotency and conflict detection without keeping every id in memory or rebuilding an index on
start. ``benchmarks/log_append.py --quick`` measured, against the simplest durable segment log
(JSON lines, one fsync per batch, no idempotency, no atomic batches), in events/s:

==================  ==========  ===============
case                SQLite log  JSON-lines file
==================  ==========  ===============
fsync, batch 1           3,900            7,950
fsync, batch 100        34,800           83,500
fsync, batch 10000      39,700          103,200
os, batch 10000         40,700          129,800
==================  ==========  ===============

The segment file is 2-3x faster on raw appends, but it would need its own id index, torn-write
recovery and compaction to offer the same contract, and appends are not the bottleneck of
loading (validation and row conversion are). So SQLite stays; a segment log is worth revisiting
only if single-event fsync latency becomes the limit.

Durability: ``"fsync"`` sets ``synchronous=FULL`` (the WAL is fsynced at every commit: an
acknowledged event survives power loss); ``"os"`` sets ``synchronous=NORMAL`` (the commit is in
the OS page cache: it survives a killed process, not a power cut).

Ground-truth labels live in a second table of the same file, written in the same transaction as
their events, and carry the event's time so the warehouse flushes them with its partition.
Decisions live in a third table, also written in their event's transaction: an acknowledged
decision and its event are both on disk, or neither is. Lookups of decisions use a second,
read-only connection so they never wait behind a commit's fsync (WAL lets readers run beside
the writer).
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

import orjson

from finrisk.config import Workspace
from finrisk.errors import EventConflictError, StoreError
from finrisk.events.registry import EventTypeRegistry
from finrisk.events.schema import FieldType
from finrisk.events.validate import canonical_json, parse_timestamp, sent_time_text
from finrisk.store.id_filter import IdFilter
from finrisk.store.log import AppendResult, AppendStatus, EventLog, Labels
from finrisk.store.wal_checkpoint import SAFETY_CAP_PAGES, BackgroundCheckpointer

__all__ = [
    "LOG_FILE",
    "Durability",
    "EmbeddedEventLog",
    "body_hash_of",
    "fast_canonical_json",
    "open_log",
    "time_to_us",
]

#: The embedded log's database file inside ``[store] log_dir``.
LOG_FILE = "events.sqlite"

Durability = Literal["fsync", "os"]
_SYNC: dict[str, str] = {"fsync": "FULL", "os": "NORMAL"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 5_000  # ids per "IN (...)" lookup, well under SQLite's variable limit
_FRESH_ROWS = 32  # rows per multi-row INSERT of append_fresh: 32 statement texts per table at most (cached)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    event_time_us INTEGER NOT NULL,
    body BLOB NOT NULL,
    body_hash TEXT NOT NULL,
    flushed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_pending ON events(event_type, event_time_us) WHERE flushed = 0;
CREATE TABLE IF NOT EXISTS labels (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    event_time_us INTEGER NOT NULL,
    body BLOB NOT NULL,
    flushed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS labels_pending ON labels(event_type, event_time_us) WHERE flushed = 0;
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
);
"""


def time_to_us(value: Any) -> int:
    """Microseconds since the Unix epoch of a datetime or ISO 8601 string."""
    dt = value if isinstance(value, datetime) else parse_timestamp(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class EmbeddedEventLog(EventLog):
    """The one-machine event log: a SQLite database in WAL mode.

    Parameters
    ----------
    path : Path or str
        The database file (its folder is created).
    durability : {"fsync", "os"}
        ``fsync`` survives power loss; ``os`` survives a killed process.
    registry : EventTypeRegistry, optional
        When given, :meth:`read` and :meth:`get` return events in the validator's normalised form
        (every declared field present, timestamps as UTC datetimes); otherwise only
        ``event_time`` is parsed.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with EmbeddedEventLog(os.path.join(d, "events.sqlite"), durability="os") as log:
    ...     r = log.append([{"event_id": "e1", "event_type": "login",
    ...                      "event_time": "2026-01-05T09:00:00Z", "customer_id": "C1", "success": True}])
    ...     (r[0].status.value, r[0].seq, log.count())
    ('stored', 1, 1)
    """

    def __init__(
        self,
        path: Path | str,
        *,
        durability: Durability = "fsync",
        registry: EventTypeRegistry | None = None,
    ) -> None:
        if durability not in _SYNC:
            raise StoreError(f"durability: expected one of {', '.join(sorted(_SYNC))}, got {durability!r}")
        self.path = Path(path)
        self.durability = durability
        self.registry = registry
        self._lock = threading.Lock()
        self._rlock = threading.Lock()
        self._times: dict[str, tuple[str, ...]] = {}
        self._ids: IdFilter | None = None
        self._ids_seq = 0  # the filter holds every id up to this seq
        self._checkpointer: BackgroundCheckpointer | None = None
        self._finished = 0  # background checkpoints the writer has caught up after (finish_checkpoint)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={_SYNC[durability]}")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
            self._rdb = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._rdb.execute("PRAGMA busy_timeout=30000")
            self._rdb.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            raise StoreError(f"event log {self.path}: cannot open ({exc})") from None

    # -- writing ---------------------------------------------------------------------------
    def append(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        labels: Sequence[Labels | None] | None = None,
        decisions: Sequence[tuple[str, bytes] | None] | None = None,
        canonical: Sequence[tuple[bytes, str] | None] | None = None,
    ) -> list[AppendResult]:
        """Append a batch in one transaction; ``decisions[i]`` is ``(decision_id, json body)`` for event i.

        A decision is stored with a newly stored event, and also with a duplicate (same body) that has
        none yet; a decision for an event that already has one is ignored (the first one stands).
        ``canonical[i]``, when given, is event i's :func:`fast_canonical_json` and its
        :func:`body_hash_of`, computed already by the caller (the decision service hashes every event
        to tell retries apart), so the writer does not compute them a second time.
        """
        if labels is not None and len(labels) != len(events):
            raise StoreError(f"labels: expected {len(events)} entries (one per event), got {len(labels)}")
        if decisions is not None and len(decisions) != len(events):
            raise StoreError(f"decisions: expected {len(events)} entries (one per event), got {len(decisions)}")
        if canonical is not None and len(canonical) != len(events):
            raise StoreError(f"canonical: expected {len(events)} entries (one per event), got {len(canonical)}")
        prepared: list[tuple[Any, bytes]] = []
        hashes: list[str] = []
        for i, e in enumerate(events):
            given = None if canonical is None else canonical[i]
            body, digest = given if given is not None else (body := fast_canonical_json(e), body_hash_of(body))
            prepared.append((e["event_id"], body))
            hashes.append(digest)
        results: list[AppendResult | None] = [None] * len(events)
        with self._lock, self._write() as db:
            stored: dict[str, tuple[int, str]] = {}
            seq = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            ids = list({eid for eid, _ in prepared})
            if self._ids is not None:  # ids the filter has never seen are certainly not stored: no read
                if seq > self._ids_seq:  # another process appended (e.g. `finrisk load`): learn its ids
                    others = [r[0] for r in db.execute("SELECT event_id FROM events WHERE seq > ?", (self._ids_seq,))]
                    self._ids.add_many(others, len(others))
                ids = [eid for eid in ids if self._ids.may_contain(eid)]
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for eid, at, h in db.execute(  # not ``seq``: that is the next new event's position
                    f"SELECT event_id, seq, body_hash FROM events WHERE event_id IN ({marks})", chunk
                ):
                    stored[eid] = (at, h)
            rows: list[tuple[Any, ...]] = []
            label_rows: list[tuple[Any, ...]] = []
            decision_rows: list[tuple[str, str, bytes]] = []
            for i, ((eid, body), h) in enumerate(zip(prepared, hashes, strict=True)):
                found = stored.get(eid)
                if found is not None:
                    if found[1] == h:
                        results[i] = AppendResult(eid, AppendStatus.DUPLICATE, found[0])
                        made = None if decisions is None else decisions[i]
                        if made is not None:
                            decision_rows.append((made[0], eid, made[1]))
                    else:
                        results[i] = AppendResult(eid, AppendStatus.CONFLICT, None, EventConflictError(eid))
                    continue
                seq += 1
                event = events[i]
                t_us = time_to_us(event["event_time"])
                rows.append((seq, eid, event["event_type"], t_us, body, h))
                if self._ids is not None:  # before the commit: a failed one leaves only a false positive
                    self._ids.add(eid)
                stored[eid] = (seq, h)
                results[i] = AppendResult(eid, AppendStatus.STORED, seq)
                if labels is not None and labels[i]:
                    label_rows.append((eid, event["event_type"], t_us, orjson.dumps(dict(labels[i] or {}))))
                made = None if decisions is None else decisions[i]
                if made is not None:
                    decision_rows.append((made[0], eid, made[1]))
            db.executemany(
                "INSERT INTO events(seq, event_id, event_type, event_time_us, body, body_hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            if label_rows:
                db.executemany(
                    "INSERT OR IGNORE INTO labels(event_id, event_type, event_time_us, body) VALUES (?, ?, ?, ?)",
                    label_rows,
                )
            if decision_rows:
                db.executemany(
                    "INSERT OR IGNORE INTO decisions(decision_id, event_id, body) VALUES (?, ?, ?)", decision_rows
                )
        if self._ids is not None:  # committed: every id up to seq is in the filter
            self._ids_seq = max(self._ids_seq, seq)
        return [r for r in results if r is not None]

    def append_fresh(self, items: Sequence[tuple[bytes, str, tuple[str, bytes] | None]]) -> int | None:
        """Append canonical events that are expected to be new, with their decisions: the first position, or None.

        ``items[i]`` is event i's :func:`fast_canonical_json`, its :func:`body_hash_of` and its
        ``(decision_id, json body)`` (or None). For the decision service's writer process, whose
        events the serving process has already told from retries: nothing is read before writing
        (no ``max(seq)``, no id lookup); SQLite numbers the rows (``max(seq) + 1`` each, as
        :meth:`append` does), one multi-row ``INSERT`` per table and up to :data:`_FRESH_ROWS` rows.
        When an id is already logged (a retry or a conflict, or an event another process appended),
        the ``UNIQUE(event_id)`` index refuses the batch; it is rolled back and None returned, and the
        caller appends it with :meth:`append`, which tells stored, duplicate and conflicting events
        apart. With an id filter (:meth:`track_ids`) it always returns None: the filter must learn
        every id, which :meth:`append` does. Why: per commit the writer process spent more CPU on
        statements and Python than on the events themselves (``docs/api.md``, ninth round).
        """
        if self._ids is not None or not items:
            return None
        params: list[Any] = []
        made: list[Any] = []
        for body, digest, decision in items:
            event = orjson.loads(body)
            eid = event["event_id"]
            params += (eid, event["event_type"], time_to_us(event["event_time"]), body, digest)
            if decision is not None:
                made += (decision[0], eid, decision[1])
        with self._lock:
            try:
                with self._write() as db:
                    try:
                        first = _insert_rows(db, _INSERT_EVENTS, params, 5)
                        for i in range(0, len(made), 3 * _FRESH_ROWS):
                            chunk = made[i:i + 3 * _FRESH_ROWS]
                            db.execute(_values(_INSERT_DECISIONS, 3, len(chunk) // 3), chunk)
                    except sqlite3.IntegrityError:
                        raise _Clash from None
            except _Clash:
                return None
        return first

    # -- decisions -------------------------------------------------------------------------
    def get_decision(self, decision_id: str) -> bytes | None:
        """The stored JSON body of a decision, or ``None``."""
        body: bytes | None = self._read_one("SELECT body FROM decisions WHERE decision_id = ?", decision_id)
        return body

    def decision_for_event(self, event_id: str) -> bytes | None:
        """The stored JSON body of the decision made for ``event_id``, or ``None``."""
        body: bytes | None = self._read_one("SELECT body FROM decisions WHERE event_id = ?", event_id)
        return body

    def track_ids(self) -> None:
        """Keep a filter of the logged event ids, so looking up a new id needs no database read.

        For a long-running writer (the decision service). Events another process appends meanwhile
        (``finrisk load`` beside a running service) are learnt at this writer's next append, inside
        its write transaction, so an append never trips the ``UNIQUE(event_id)`` index.
        """
        with self._lock:
            count = int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])
            ids = IdFilter(2 * count + 1_000_000)
            self._ids_seq = int(self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
            cursor = self._db.execute("SELECT event_id FROM events WHERE seq <= ?", (self._ids_seq,))
            while rows := cursor.fetchmany(200_000):
                ids.add_many((r[0] for r in rows), len(rows))
            self._ids = ids

    def expect_id(self, event_id: str) -> None:
        """Note an id about to be appended by another process (the decision service's writer process).

        Added before its commit, so a retry after it is looked up in the log; a commit that fails
        leaves only a false positive. The caller serialises this with :meth:`learn_appended`.
        """
        if self._ids is not None:
            self._ids.add(event_id)

    def learn_appended(self, seqs: Sequence[int]) -> None:
        """The writer process stored events at ``seqs`` (ascending): learn ids logged in between by others.

        Without a gap (the usual case: only the service appends) this costs no read; otherwise the
        ids between the last known position and the batch come from the read connection, as
        :meth:`append` learns them inside its transaction.
        """
        if self._ids is None or not seqs:
            return
        if seqs[0] > self._ids_seq + 1:
            with self._rlock:
                others = [r[0] for r in self._rdb.execute(
                    "SELECT event_id FROM events WHERE seq > ? AND seq < ?", (self._ids_seq, seqs[0]))]
            for eid in others:
                self._ids.add(eid)
        self._ids_seq = max(self._ids_seq, seqs[-1])

    def body_hash(self, event_id: str) -> str | None:
        """The body hash of a stored event (to tell a retry from a conflicting reuse of its id)."""
        if self._ids is not None and not self._ids.may_contain(event_id):
            return None
        row = self._read_one("SELECT body_hash FROM events WHERE event_id = ?", event_id)
        return None if row is None else str(row)

    def event_state(self, event_id: str) -> tuple[str | None, bytes | None]:
        """The stored event's body hash and its decision's JSON body (each ``None`` when absent), in one read."""
        if self._ids is not None and not self._ids.may_contain(event_id):
            return None, None
        with self._rlock:
            row = self._rdb.execute(
                "SELECT e.body_hash, d.body FROM events e LEFT JOIN decisions d ON d.event_id = e.event_id "
                "WHERE e.event_id = ?", (event_id,)).fetchone()
        return (None, None) if row is None else (str(row[0]), row[1])

    def count_decisions(self) -> int:
        return int(self.query("SELECT count(*) FROM decisions")[0][0])

    def _read_one(self, sql: str, key: str) -> Any:
        with self._rlock:
            row = self._rdb.execute(sql, (key,)).fetchone()
        return None if row is None else row[0]

    def _write(self) -> _Transaction:
        return _Transaction(self._db, self.path)

    # -- reading ---------------------------------------------------------------------------
    def read(
        self, after_seq: int = 0, *, batch: int = 10_000, event_type: str | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        where = "" if event_type is None else " AND event_type = ?"
        last = after_seq
        while True:
            args: list[Any] = [last] + ([] if event_type is None else [event_type])
            with self._lock:
                rows = self._db.execute(
                    f"SELECT seq, body FROM events WHERE seq > ?{where} ORDER BY seq LIMIT {int(batch)}", args
                ).fetchall()
            if not rows:
                return
            for seq, body in rows:
                yield seq, self._decode(body)
            last = rows[-1][0]

    def read_in_time_order(self, *, batch: int = 10_000,
                           before_seq: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every event (or those logged before ``before_seq``) in ``(event_time, event_id)`` order, with its
        log position.

        Rebuilding feature state from a log that was bulk-loaded (one event type after another)
        must not replay arrival order: every event would look hours or days late. This is the
        order the feature semantics define. Runs on the read connection: writers are not blocked.
        """
        where = "" if before_seq is None else f" WHERE seq < {int(before_seq)}"
        with self._rlock:
            cursor = self._rdb.execute(f"SELECT seq, body FROM events{where} ORDER BY event_time_us, event_id")
        while True:
            with self._rlock:
                rows = cursor.fetchmany(batch)
            if not rows:
                return
            for seq, body in rows:
                yield seq, self._decode(body)

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else self._decode(row[0])

    def get_labels(self, event_id: str) -> dict[str, Any] | None:
        """The ground-truth labels stored with this event, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT body FROM labels WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def count(self, event_type: str | None = None) -> int:
        if event_type is None:
            return int(self.query("SELECT count(*) FROM events")[0][0])
        return int(self.query("SELECT count(*) FROM events WHERE event_type = ?", (event_type,))[0][0])

    def counts(self) -> dict[str, int]:
        return dict(self.query("SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY 1"))

    def last_seq(self) -> int:
        return int(self.query("SELECT coalesce(max(seq), 0) FROM events")[0][0])

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL statement on the log database (used by the warehouse)."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def execute_write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run write statements in one durable transaction (used by the warehouse to mark flushes)."""
        with self._lock, self._write() as db:
            for sql, args in statements:
                db.execute(sql, args)

    def _decode(self, body: bytes) -> dict[str, Any]:
        raw: dict[str, Any] = orjson.loads(body)
        if self.registry is None or raw.get("event_type") not in self.registry:
            raw["event_time"] = parse_timestamp(raw["event_time"])
            return raw
        et = self.registry.get(raw["event_type"])
        out: dict[str, Any] = {}
        for f in et.fields:
            v = raw.get(f.name)
            out[f.name] = parse_timestamp(v) if f.type is FieldType.TIMESTAMP and v is not None else v
        return out

    def checkpoint_in_background(self, written: Callable[[], int]) -> None:
        """Take WAL checkpoints off the commit path (for a long-running writer: the decision service).

        ``written`` is the writer's count of appended events; see :mod:`finrisk.store.wal_checkpoint`.
        """
        with self._lock:
            if self._checkpointer is None:
                self._db.execute(f"PRAGMA wal_autocheckpoint={SAFETY_CAP_PAGES}")
                self._checkpointer = BackgroundCheckpointer(self.path, written)

    def finish_checkpoint(self) -> bool:
        """Between two appends: copy what the last background checkpoint left, so the WAL restarts.

        The background checkpoint copies the WAL while commits go on, so it almost never ends with
        every frame copied, and SQLite restarts the WAL from its beginning only when it did: under
        constant load the WAL grew to ~20,000 frames (80 MB) before the first restart, and every
        commit extended the file. An fsync that must also record a new file size cost 3-4 ms on the
        development machine's disk, one that overwrites 0.3-0.4 ms (``docs/api.md``, fourth round).
        After each background pass, the writer copies the few frames committed meanwhile itself,
        between its own transactions (nothing can land in between), so its next transaction
        restarts the WAL and later commits overwrite a file of steady size. Returns whether it ran.
        """
        checkpointer = self._checkpointer
        if checkpointer is None or checkpointer.checkpoints == self._finished:
            return False
        self._finished = checkpointer.checkpoints
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:  # busy (the background pass again): the next round catches up
                return False
        return True

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock, self._rlock:
            self._rdb.close()
            self._db.close()

    def __enter__(self) -> Self:
        return self


def open_log(workspace: Workspace) -> EmbeddedEventLog:
    """The workspace's event log (``[store] type`` chooses the backend; ``embedded`` for now)."""
    return EmbeddedEventLog(
        workspace.log_dir / LOG_FILE,
        durability=workspace.settings.store.durability,
        registry=workspace.event_types,
    )


def fast_canonical_json(event: Mapping[str, Any], sent: Mapping[str, Any] | None = None,
                        event_text: str | None = None) -> bytes:
    """Byte-identical to :func:`~finrisk.events.canonical_json`, about 3x faster for UTC datetimes.

    ``datetime.isoformat`` is much cheaper than ``strftime``; anything unusual takes the slow path.
    ``sent``: the body ``event`` was validated from. A time it sent as ``2026-01-05T09:00:00.123456Z``
    (or with 3 or no decimals) is then taken from that text (:func:`~finrisk.events.validate.sent_time_text`)
    instead of formatted again: an aware ``isoformat`` costs ~2 µs, 5-6% of the serving loop's time
    (``docs/api.md``, seventh round). ``event_text``: that text for ``event_time`` when the caller has
    it already (the service hands the same text to the decision).
    """
    compact: dict[str, Any] = {}
    for key, value in event.items():
        if value is None:
            continue
        if type(value) is datetime:
            if value.tzinfo is not UTC or value.year < 1000:  # strftime does not pad years
                return canonical_json(event)
            if event_text is not None and key == "event_time":
                text: str | None = event_text
            else:
                text = sent_time_text(sent.get(key)) if sent is not None else None
            value = text if text is not None else value.isoformat(timespec="microseconds")[:-6] + "Z"
        compact[key] = value
    try:
        return orjson.dumps(compact, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json(event)


def body_hash_of(body: bytes) -> str:
    """The :func:`~finrisk.events.body_hash` of bytes already in canonical form (hashes once)."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


_INSERT_EVENTS = "INSERT INTO events(event_id, event_type, event_time_us, body, body_hash) VALUES "
_INSERT_DECISIONS = "INSERT OR IGNORE INTO decisions(decision_id, event_id, body) VALUES "


class _Clash(Exception):
    """append_fresh: an id of the batch is logged already (the batch is rolled back)."""


def _insert_rows(db: sqlite3.Connection, insert: str, params: list[Any], width: int) -> int:
    """Insert ``len(params) // width`` rows with multi-row ``INSERT``s; the first row's rowid.

    SQLite gives each new row ``max(rowid) + 1`` (we hold the write lock, nobody inserts between),
    so the rows' ids are consecutive, in order; ``lastrowid`` (set by ``execute``, not by
    ``executemany``) gives the last one of each statement.
    """
    rows = len(params) // width
    first = 0
    done = 0
    while done < rows:
        take = min(_FRESH_ROWS, rows - done)
        last = db.execute(_values(insert, width, take), params[done * width:(done + take) * width]).lastrowid
        if last is None:  # nothing inserted: cannot happen without OR IGNORE
            raise _Clash
        if done == 0:
            first = last - take + 1
        elif last != first + done + take - 1:  # not consecutive (max(rowid) reached 2**63 - 1): the careful way
            raise _Clash
        done += take
    return first


@functools.lru_cache(maxsize=128)
def _values(insert: str, width: int, rows: int) -> str:
    group = "(" + ",".join("?" * width) + ")"
    return insert + ",".join([group] * rows)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error); SQLite errors become StoreError."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"event log {self._path}: cannot start a write ({exc})") from None
        return self._db

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"event log {self._path}: write failed ({exc})") from None
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StoreError(f"event log {self._path}: commit failed ({exc})") from None
