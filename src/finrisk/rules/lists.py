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
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from finrisk.errors import ListConflictError, ListError, ListNotFoundError, StoreError
from finrisk.events.validate import describe_value
from finrisk.rules._lists_csv import normalise_value, read_list_csv, write_list_csv
from finrisk.rules._lists_db import (
    ListIndexState,
    apply_changes,
    bump_changes,
    load_index,
    read_head,
    upsert_rows,
)
from finrisk.store.relational import (
    ACTOR_LENGTH,
    AuditRecord,
    Database,
    datetime_to_us,
    list_entries,
    lists,
    now_us,
    read_audit,
    record_audit,
    us_to_datetime,
)

__all__ = ["ListEntry", "ListInfo", "ListKind", "ListStore", "list_key", "mask_value"]

_log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NAME_RULE = "a lower-case identifier (a-z, 0-9, _; starting with a letter; at most 64 characters)"
_NEVER = -(1 << 63)  # "no entry": no event time is below it, so the expiry test alone says False
_OBJECT = "list"


def _shown(value: object) -> str:
    """A name as it goes into an error text: quoted when it is a short string, described otherwise."""
    return repr(value) if isinstance(value, str) and len(value) <= 64 else describe_value(value)


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


def list_key(value: object) -> str:
    """The text an event value is compared as: ``123`` and ``123.0`` -> ``"123"``; null and booleans -> ``""``.

    ``""`` is never stored, so null and booleans never match.

    >>> list_key(123), list_key(123.0), list_key(1.5), list_key(None), list_key(" a ")
    ('123', '123', '1.5', '', ' a ')
    """
    if value.__class__ is str:
        return value
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mask_value(value: str) -> str:
    """A list value as shown to people who may not see personal data: ends kept, middle starred.

    >>> mask_value("13800138000"), mask_value("D-1")
    ('13*******00', '***')
    """
    if len(value) <= 4:
        return "*" * len(value)
    keep = 2 if len(value) < 12 else 3
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def _check_name(field: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ListError(f"{field}: expected {_NAME_RULE}, got {describe_value(value)}")
    return value


def _check_actor(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > ACTOR_LENGTH:
        raise ListError(f"{field}: expected a non-empty name of at most {ACTOR_LENGTH} characters, got "
                        f"{describe_value(value)}")
    return value.strip()


def _check_value(value: object) -> str:
    text = list_key(value)
    stored, problem = normalise_value(text)
    if stored is None:
        raise ListError(f"value: {problem}, got {describe_value(value, pii=True)}")
    return stored


def _expiry_us(expires_at: datetime | timedelta | float | None, now: int) -> int | None:
    """None, an absolute time, or a TTL (timedelta or seconds > 0) -> expiry in microseconds."""
    if expires_at is None:
        return None
    if isinstance(expires_at, datetime):
        return datetime_to_us(expires_at)
    if isinstance(expires_at, timedelta) and expires_at > timedelta(0):
        return now + expires_at // timedelta(microseconds=1)
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool) and expires_at > 0:
        return now + int(expires_at * 1_000_000)
    raise ListError(
        f"expires_at: expected a datetime, a TTL in seconds > 0 or None, got {describe_value(expires_at)}"
    )


def _entry_state(reason: str, expires_us: int | None) -> dict[str, Any]:
    expires = None if expires_us is None else us_to_datetime(expires_us).isoformat().replace("+00:00", "Z")
    return {"reason": reason, "expires_at": expires}


class ListStore:
    """Named black/white/grey lists with audited writes and a lookup that never touches the database.

    Parameters
    ----------
    db : Database
        The relational store (:func:`finrisk.store.relational.open_database`).
    check_interval_ms : int or None
        How often :meth:`contains` looks for writes made by other processes (one counter read);
        ``0`` checks on every call, ``None`` never (only this store's writes and :meth:`refresh`).

    Examples
    --------
    >>> from finrisk.store.relational import open_database
    >>> store = ListStore(open_database("sqlite://"))
    >>> _ = store.create_list("device_black", "black", "device_id")
    >>> _ = store.add("device_black", "D-1", "emulator farm", added_by="ana", expires_at=3600)
    >>> now = time.time_ns() // 1000
    >>> store.contains("device_black", "D-1", now), store.contains("device_black", "D-1", now + 7_200_000_000)
    (True, False)
    >>> store.contains("device_black", "D-2", now), store.contains("no_such_list", "D-1", now)
    (False, False)
    """

    def __init__(self, db: Database, *, check_interval_ms: int | None = 500) -> None:
        self.db = db
        self.check_interval_ms = check_interval_ms
        self._state = ListIndexState()
        self._next_check_ns = 0
        self._sync_lock = threading.Lock()

    # -- the hot path ---------------------------------------------------------------------------

    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        """Whether ``value`` is on ``list_name`` and not expired at event time ``at_us`` (unknown list: False)."""
        if time.monotonic_ns() >= self._next_check_ns:
            self._check_for_changes()
        entries = self._state.lists.get(list_name)
        if entries is None:
            return False
        expires = entries.get(value if value.__class__ is str else list_key(value), _NEVER)
        return expires is None or at_us < expires

    def list_names(self) -> frozenset[str]:
        """The names of every list now (the rule compiler validates ``lists.<name>`` against these)."""
        self._sync(blocking=True)
        return frozenset(self._state.lists)

    def refresh(self) -> None:
        """Reload the whole index from the database."""
        self._sync(blocking=True, full=True)

    def _check_for_changes(self) -> None:
        interval = self.check_interval_ms
        self._next_check_ns = time.monotonic_ns() + (1 << 62 if interval is None else interval * 1_000_000)
        if self._state.seq < 0:
            self._sync(blocking=True)  # never loaded: there is nothing to answer from yet
            return
        try:
            self._sync(blocking=False)
        except StoreError as exc:  # keep answering from the index; try again at the next interval
            _log.warning("list index not refreshed, answering from the last loaded state: %s", exc)

    def _sync(self, *, blocking: bool, full: bool = False) -> None:
        if not self._sync_lock.acquire(blocking=blocking):
            return  # another thread is refreshing right now
        try:
            with self.db.read() as conn:
                head = read_head(conn)
                if full or self._state.needs_full_load(head):
                    self._state = load_index(conn, head)
                elif head != self._state.seq:
                    apply_changes(conn, self._state, head)
        finally:
            self._sync_lock.release()

    # -- lists ----------------------------------------------------------------------------------

    def create_list(
        self, name: str, kind: ListKind | str, field: str, description: str = "", *, created_by: str | None = None
    ) -> ListInfo:
        """Create an empty list holding values of the event field ``field`` (e.g. ``device_id``)."""
        _check_name("name", name)
        try:
            list_kind = ListKind(kind)
        except ValueError:
            allowed = ", ".join(k.value for k in ListKind)
            raise ListError(f"kind: expected one of {allowed}, got {describe_value(kind)}") from None
        _check_name("field", field)
        actor = _check_actor("created_by", created_by or "unknown")
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
        actor = _check_actor("deleted_by", deleted_by or "unknown")
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
        known = sorted(self._state.lists) if self._state.seq >= 0 else []
        hint = f" (lists: {', '.join(known)})" if known and len(known) <= 20 else ""
        return ListNotFoundError(f"list_name: no list named {_shown(name)}{hint}")

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
        stored = _check_value(value)
        actor = _check_actor("added_by", added_by)
        if not isinstance(reason, str) or not reason.strip():
            raise ListError(f"reason: expected a non-empty text saying why, got {describe_value(reason)}")
        at = now_us()
        expires_us = _expiry_us(expires_at, at)
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
                old=None if old is None else _entry_state(old["reason"], old["expires_at_us"]),
                new=_entry_state(reason.strip(), expires_us),
            )
            bump_changes(conn, list_name, stored, at)
        self._sync(blocking=True)
        return ListEntry(list_name, stored, reason.strip(), created_by, us_to_datetime(created_at), actor,
                         us_to_datetime(at), None if expires_us is None else us_to_datetime(expires_us))

    def remove(self, list_name: str, value: object, *, removed_by: str) -> None:
        """Take ``value`` off the list (audited with the entry it removed)."""
        stored = _check_value(value)
        actor = _check_actor("removed_by", removed_by)
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
                         value=stored, old=_entry_state(old["reason"], old["expires_at_us"]), at_us=at)
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
        actor = _check_actor("added_by", added_by)
        source = Path(path)
        with self.db.read() as conn:
            self._list_id(conn, list_name)  # fail on an unknown list before reading a big file
        rows = read_list_csv(source, default_reason=f"imported from {source.name}")
        at = now_us()
        with self.db.write() as conn:
            list_id = self._list_id(conn, list_name)
            added, updated = upsert_rows(conn, self.db.dialect, list_id, rows, actor=actor, at_us=at)
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
