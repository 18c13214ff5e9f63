"""Black, white and grey lists on entity keys, with reasons, expiry, an audit trail and a fast lookup.

Lists live in the relational store (:mod:`finrisk.store.relational`); every write is one
transaction that also appends an audit record and a ``list_changes`` row. Rules ask
:meth:`ListStore.contains` several times per decision, so it never touches the database: it reads
an in-memory index ``{list_name: {value: expires_at_us | None}}``. The index is updated after
every write made through the same store, fully reloaded by :meth:`ListStore.refresh`, and picks
up writes made by other processes by reading one counter row at most every
``check_interval_ms`` (500 ms by default); when the counter moved, only the changed values are
re-read (a whole list after a create, delete or import).

Values are compared as text: an entry ``"123"`` matches the event values ``"123"`` and ``123``
(see :func:`list_key`). Stored values are stripped of surrounding blanks. Values are often
personal data (phones, ID numbers): they are stored in the audit trail but never logged and never
echoed in error texts.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from finrisk.errors import ListConflictError, ListError, ListNotFoundError, StoreError
from finrisk.events.validate import describe_value
from finrisk.rules._lists_csv import read_list_csv, write_list_csv
from finrisk.rules._lists_db import (
    ListIndexState,
    apply_changes,
    bump_changes,
    load_index,
    read_head,
    upsert_rows,
)
from finrisk.rules._lists_values import (
    check_actor,
    check_name,
    check_reason,
    check_value,
    entry_state,
    expiry_us,
    list_key,
    mask_value,
    shown,
)
from finrisk.store.relational import (
    AuditRecord,
    Database,
    list_entries,
    lists,
    now_us,
    read_audit,
    record_audit,
    us_to_datetime,
)

__all__ = ["ListEntry", "ListInfo", "ListKind", "ListStore", "list_key", "mask_value"]

_log = logging.getLogger(__name__)
_NEVER = -(1 << 63)  # "no entry": no event time is below it, so the expiry test alone says False
_OBJECT = "list"


class ListKind(StrEnum):
    """What a list means to the rules: ``black`` refuse or flag, ``white`` trust, ``grey`` watch."""

    BLACK = "black"
    WHITE = "white"
    GREY = "grey"


@dataclass(frozen=True)
class ListInfo:
    """A list's definition and its number of entries (expired ones included)."""

    name: str
    kind: ListKind
    field: str
    description: str
    created_by: str
    created_at: datetime
    entries: int


@dataclass(frozen=True)
class ListEntry:
    """One value on a list, why it is there, who put it there and until when it counts."""

    list_name: str
    value: str
    reason: str
    added_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    expires_at: datetime | None

    def is_active(self, at: datetime) -> bool:
        """Whether the entry matches events at time ``at`` (an expired entry never matches)."""
        return self.expires_at is None or at < self.expires_at


def _watch(ref: weakref.ref[ListStore], stop: threading.Event, interval_s: float) -> None:
    """Check for other processes' writes every interval until the store is closed or garbage-collected."""
    while not stop.wait(interval_s):
        store = ref()
        if store is None:
            return
        store._try_sync()
        del store  # hold no reference while sleeping, so an unused store can be collected


class ListStore:
    """Named black/white/grey lists with audited writes and a lookup that never touches the database.

    Parameters
    ----------
    db : Database
        The relational store (:func:`finrisk.store.relational.open_database`).
    check_interval_ms : int or None
        How often a background thread looks for writes made by other processes (one counter
        read; started by the first :meth:`contains`, stopped by :meth:`close`); ``0`` checks
        inline on every call instead, ``None`` never (only this store's writes and :meth:`refresh`).

    Examples
    --------
    >>> from finrisk.store.relational import open_database
    >>> store = ListStore(open_database("sqlite://"))
    >>> _ = store.create_list("device_black", "black", "device_id")
    >>> _ = store.add("device_black", "D-1", "emulator farm", added_by="ana", expires_at=3600)
    >>> now = now_us()
    >>> store.contains("device_black", "D-1", now), store.contains("device_black", "D-1", now + 7_200_000_000)
    (True, False)
    >>> store.contains("device_black", "D-2", now), store.contains("no_such_list", "D-1", now)
    (False, False)
    """

    def __init__(self, db: Database, *, check_interval_ms: int | None = 500) -> None:
        self.db = db
        self.check_interval_ms = check_interval_ms
        self._state = ListIndexState()
        self._lists = self._state.lists  # the hot path reads this one attribute
        self._check_inline = True  # until the first load; afterwards only with check_interval_ms == 0
        self._sync_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- the hot path ---------------------------------------------------------------------------

    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        """Whether ``value`` is on ``list_name`` and not expired at event time ``at_us`` (unknown list: False)."""
        if self._check_inline:
            self._first_or_inline_check()
        entries = self._lists.get(list_name)
        if entries is None:
            return False
        expires = entries.get(value if value.__class__ is str else list_key(value), _NEVER)
        return expires is None or at_us < expires

    def list_names(self) -> frozenset[str]:
        """The names of every list now (the rule compiler validates ``lists.<name>`` against these)."""
        self._sync(blocking=True)
        return frozenset(self._lists)

    def refresh(self) -> None:
        """Reload the whole index from the database."""
        self._sync(blocking=True, full=True)

    def close(self) -> None:
        """Stop the background change check (the database stays open: it belongs to the caller)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _first_or_inline_check(self) -> None:
        """Load on first use; then check inline (interval 0) or hand checks to a watcher thread.

        A watcher thread, not a clock read per call: reading the clock costs more than the whole
        lookup on some virtual machines (about 250 ns measured here).
        """
        if self._state.seq < 0:
            self._sync(blocking=True)  # never loaded: there is nothing to answer from yet
        elif self.check_interval_ms == 0:
            self._try_sync()
        if self.check_interval_ms != 0:
            self._check_inline = False
        if self.check_interval_ms and self._watcher is None and not self.db.private:
            self._watcher = threading.Thread(
                target=_watch, args=(weakref.ref(self), self._stop, self.check_interval_ms / 1000),
                name="finrisk-list-index", daemon=True,
            )
            self._watcher.start()

    def _try_sync(self) -> None:
        try:
            self._sync(blocking=False)
        except StoreError as exc:  # keep answering from the index; try again at the next check
            _log.warning("list index not refreshed, answering from the last loaded state: %s", exc)

    def _sync(self, *, blocking: bool, full: bool = False) -> None:
        if not self._sync_lock.acquire(blocking=blocking):
            return  # another thread is refreshing right now
        try:
            with self.db.read() as conn:
                head = read_head(conn)
                if full or self._state.needs_full_load(head):
                    self._state = load_index(conn, head)
                    self._lists = self._state.lists
                elif head != self._state.seq:
                    apply_changes(conn, self._state, head)
        finally:
            self._sync_lock.release()

    # -- lists ----------------------------------------------------------------------------------

    def create_list(
        self, name: str, kind: ListKind | str, field: str, description: str = "", *, created_by: str | None = None
    ) -> ListInfo:
        """Create an empty list holding values of the event field ``field`` (e.g. ``device_id``)."""
        check_name("name", name)
        try:
            list_kind = ListKind(kind)
        except ValueError:
            allowed = ", ".join(k.value for k in ListKind)
            raise ListError(f"kind: expected one of {allowed}, got {describe_value(kind)}") from None
        check_name("field", field)
        actor = check_actor("created_by", created_by or "unknown")
        at = now_us()
        try:
            with self.db.write() as conn:
                if conn.scalar(select(lists.c.id).where(lists.c.name == name)) is not None:
                    raise ListConflictError(f"name: a list named {name!r} exists already")
                conn.execute(
                    insert(lists).values(name=name, kind=list_kind.value, field=field, description=description,
                                         created_by=actor, created_at_us=at)
                )
                new = {"kind": list_kind.value, "field": field, "description": description}
                record_audit(conn, actor=actor, object_type=_OBJECT, object_name=name, action="create_list",
                             new=new, at_us=at)
                bump_changes(conn, name, None, at)
        except IntegrityError:
            raise ListConflictError(f"name: a list named {name!r} exists already") from None
        self._sync(blocking=True)
        return ListInfo(name, list_kind, field, description, actor, us_to_datetime(at), 0)

    def delete_list(self, name: str, *, deleted_by: str | None = None) -> None:
        """Delete a list and all its entries (audited with its size)."""
        actor = check_actor("deleted_by", deleted_by or "unknown")
        at = now_us()
        with self.db.write() as conn:
            info = self._info(conn, name)
            conn.execute(delete(list_entries).where(list_entries.c.list_id == self._list_id(conn, name)))
            conn.execute(delete(lists).where(lists.c.name == name))
            old = {"kind": info.kind.value, "field": info.field, "description": info.description,
                   "entries": info.entries}
            record_audit(conn, actor=actor, object_type=_OBJECT, object_name=name, action="delete_list", old=old,
                         at_us=at)
            bump_changes(conn, name, None, at)
        self._sync(blocking=True)

    def lists(self) -> list[ListInfo]:
        """Every list, by name, with its number of entries."""
        counts = (
            select(list_entries.c.list_id, func.count().label("n")).group_by(list_entries.c.list_id).subquery()
        )
        query = (
            select(lists, func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.list_id == lists.c.id)
            .order_by(lists.c.name)
        )
        with self.db.read() as conn:
            return [self._info_of(row) for row in conn.execute(query).mappings()]

    def get_list(self, name: str) -> ListInfo:
        """One list's definition (ListNotFoundError if there is none)."""
        with self.db.read() as conn:
            return self._info(conn, name)

    def _info(self, conn: Connection, name: str) -> ListInfo:
        row = conn.execute(select(lists).where(lists.c.name == name)).mappings().first()
        if row is None:
            raise self._no_list(name)
        n = conn.scalar(select(func.count()).select_from(list_entries).where(list_entries.c.list_id == row["id"]))
        return self._info_of({**row, "n": n or 0})

    @staticmethod
    def _info_of(row: Any) -> ListInfo:
        return ListInfo(row["name"], ListKind(row["kind"]), row["field"], row["description"], row["created_by"],
                        us_to_datetime(row["created_at_us"]), int(row["n"]))

    def _list_id(self, conn: Connection, name: str) -> int:
        found = conn.scalar(select(lists.c.id).where(lists.c.name == name))
        if found is None:
            raise self._no_list(name)
        return int(found)

    def _no_list(self, name: object) -> ListNotFoundError:
        known = sorted(self._lists) if self._state.seq >= 0 else []
        hint = f" (lists: {', '.join(known)})" if known and len(known) <= 20 else ""
        return ListNotFoundError(f"list_name: no list named {shown(name)}{hint}")

    # -- entries --------------------------------------------------------------------------------

    def add(
        self,
        list_name: str,
        value: object,
        reason: str,
        *,
        added_by: str,
        expires_at: datetime | timedelta | float | None = None,
    ) -> ListEntry:
        """Put ``value`` on the list, or update its reason and expiry if it is there (audited either way).

        ``expires_at`` is an absolute time, a TTL (``timedelta`` or seconds), or None for no expiry.
        """
        stored = check_value(value)
        actor = check_actor("added_by", added_by)
        reason = check_reason(reason)
        at = now_us()
        expires_us = expiry_us(expires_at, at)
        with self.db.write() as conn:
            list_id = self._list_id(conn, list_name)
            key = (list_entries.c.list_id == list_id) & (list_entries.c.value == stored)
            old = conn.execute(select(list_entries).where(key)).mappings().first()
            state = {"reason": reason.strip(), "updated_by": actor, "updated_at_us": at, "expires_at_us": expires_us}
            if old is None:
                conn.execute(insert(list_entries).values(list_id=list_id, value=stored, added_by=actor,
                                                         created_at_us=at, **state))
                created_by, created_at = actor, at
            else:
                conn.execute(update(list_entries).where(key).values(**state))
                created_by, created_at = old["added_by"], old["created_at_us"]
            record_audit(
                conn, actor=actor, object_type=_OBJECT, object_name=list_name, value=stored, at_us=at,
                action="add" if old is None else "update",
                old=None if old is None else entry_state(old["reason"], old["expires_at_us"]),
                new=entry_state(reason.strip(), expires_us),
            )
            bump_changes(conn, list_name, stored, at)
        self._sync(blocking=True)
        return ListEntry(list_name, stored, reason.strip(), created_by, us_to_datetime(created_at), actor,
                         us_to_datetime(at), None if expires_us is None else us_to_datetime(expires_us))

    def remove(self, list_name: str, value: object, *, removed_by: str) -> None:
        """Take ``value`` off the list (audited with the entry it removed)."""
        stored = check_value(value)
        actor = check_actor("removed_by", removed_by)
        at = now_us()
        with self.db.write() as conn:
            list_id = self._list_id(conn, list_name)
            key = (list_entries.c.list_id == list_id) & (list_entries.c.value == stored)
            old = conn.execute(select(list_entries).where(key)).mappings().first()
            if old is None:
                raise ListNotFoundError(
                    f"value: list {list_name!r} has no entry for {describe_value(value, pii=True)}"
                )
            conn.execute(delete(list_entries).where(key))
            record_audit(conn, actor=actor, object_type=_OBJECT, object_name=list_name, action="remove",
                         value=stored, old=entry_state(old["reason"], old["expires_at_us"]), at_us=at)
            bump_changes(conn, list_name, stored, at)
        self._sync(blocking=True)

    def get(self, list_name: str, value: object) -> ListEntry | None:
        """The entry for ``value`` (expired or not), or None."""
        stored = list_key(value).strip()
        with self.db.read() as conn:
            list_id = self._list_id(conn, list_name)
            row = conn.execute(
                select(list_entries).where((list_entries.c.list_id == list_id) & (list_entries.c.value == stored))
            ).mappings().first()
        return None if row is None else self._entry_of(list_name, row)

    def entries(
        self, list_name: str, *, include_expired: bool = False, limit: int = 100, offset: int = 0
    ) -> list[ListEntry]:
        """A page of entries ordered by value (expired ones only with ``include_expired``)."""
        if not isinstance(limit, int) or limit < 0:
            raise ListError(f"limit: expected an integer >= 0, got {describe_value(limit)}")
        if not isinstance(offset, int) or offset < 0:
            raise ListError(f"offset: expected an integer >= 0, got {describe_value(offset)}")
        with self.db.read() as conn:
            query = select(list_entries).where(list_entries.c.list_id == self._list_id(conn, list_name))
            if not include_expired:
                c = list_entries.c.expires_at_us
                query = query.where(c.is_(None) | (c > now_us()))
            rows = conn.execute(query.order_by(list_entries.c.value).limit(limit).offset(offset)).mappings()
            return [self._entry_of(list_name, row) for row in rows]

    @staticmethod
    def _entry_of(list_name: str, row: Any) -> ListEntry:
        expires = row["expires_at_us"]
        return ListEntry(list_name, row["value"], row["reason"], row["added_by"], us_to_datetime(row["created_at_us"]),
                         row["updated_by"], us_to_datetime(row["updated_at_us"]),
                         None if expires is None else us_to_datetime(expires))

    # -- files and audit ------------------------------------------------------------------------

    def import_csv(self, list_name: str, path: Path | str, *, added_by: str) -> tuple[int, int]:
        """Add or update every row of a ``value,reason,expires_at`` CSV; returns ``(added, updated)``.

        All or nothing: a file with any bad row raises :class:`~finrisk.errors.ListImportError`
        naming each bad row and column, and stores nothing. A blank reason becomes
        ``"imported from <file name>"``.
        """
        actor = check_actor("added_by", added_by)
        source = Path(path)
        with self.db.read() as conn:
            self._list_id(conn, list_name)  # fail on an unknown list before reading a big file
        rows = read_list_csv(source, default_reason=f"imported from {source.name}")
        at = now_us()
        with self.db.write() as conn:
            list_id = self._list_id(conn, list_name)
            added, updated = upsert_rows(conn, list_id, rows, actor=actor, at_us=at)
            record_audit(conn, actor=actor, object_type=_OBJECT, object_name=list_name, action="import", at_us=at,
                         new={"file": source.name, "rows": len(rows), "added": added, "updated": updated})
            bump_changes(conn, list_name, None, at)
        self._sync(blocking=True)
        return added, updated

    def export_csv(self, list_name: str, out: Path | str | TextIO, *, include_expired: bool = False) -> int:
        """Write the list as ``value,reason,expires_at`` (what :meth:`import_csv` reads); returns the row count."""
        if isinstance(out, str | Path):
            with Path(out).open("w", encoding="utf-8", newline="") as fh:
                return self.export_csv(list_name, fh, include_expired=include_expired)
        c = list_entries.c
        with self.db.read() as conn:
            query = select(c.value, c.reason, c.expires_at_us).where(c.list_id == self._list_id(conn, list_name))
            if not include_expired:
                query = query.where(c.expires_at_us.is_(None) | (c.expires_at_us > now_us()))
            rows = [(r[0], r[1], r[2]) for r in conn.execute(query.order_by(c.value))]
        write_list_csv(out, rows)
        return len(rows)

    def audit(self, list_name: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """The newest audit records of every list (or one), newest first."""
        with self.db.read() as conn:
            return read_audit(conn, object_type=_OBJECT, object_name=list_name, limit=limit)
