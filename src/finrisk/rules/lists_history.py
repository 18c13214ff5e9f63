"""Lists as they were: a point-in-time view of every list, rebuilt from the audit trail.

Replaying a past decision exactly needs the list entries (and their expiry) that were in force
when it was made, not today's. Every list write appends an audit record in its own transaction
(:mod:`finrisk.rules.lists`): ``add`` / ``update`` carry the new ``{reason, expires_at}``,
``update`` / ``remove`` the old one, ``create_list`` / ``delete_list`` the list itself. From these
:class:`ListHistory` keeps, per ``(list, value)``, the sorted times at which the entry changed and
its state after each change; :meth:`ListHistory.contains_at` answers by bisection, so the order in
which decisions are replayed does not matter.

An ``import`` is audited as one summary record (file, row counts), not per value. Its values are
recovered from the two places that still hold them: the current entries stamped with the import's
time, and the ``old`` state of the first later per-value change of an imported value. What the
trail cannot give back: the state of a value between two imports with no per-value change in
between (the later state stands in; counted in :attr:`ListHistory.gaps`, which the report shows),
and the entries of a deleted list that came in by import (``delete_list`` records only a count).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from finrisk.rules._lists_values import list_key
from finrisk.store.relational import Database, audit_log, datetime_to_us, list_entries, lists

__all__ = ["EntryState", "ListHistory", "PointInTimeLists"]

_OBJECT = "list"


@dataclass(frozen=True)
class EntryState:
    """A value's entry after one change: why it is on the list and until when (None: no expiry)."""

    reason: str
    expires_us: int | None


def _state(doc: Any) -> EntryState | None:
    """An audit ``old`` / ``new`` JSON (``{"reason", "expires_at"}``) as an :class:`EntryState`."""
    if not doc:
        return None
    data = orjson.loads(doc) if isinstance(doc, str | bytes) else doc
    expires = data.get("expires_at")
    at = None if expires is None else datetime_to_us(datetime.fromisoformat(expires.replace("Z", "+00:00")))
    return EntryState(str(data.get("reason", "")), at)


@dataclass
class _Timeline:
    """One value's changes: ``times[i]`` is when ``states[i]`` began (None: not on the list)."""

    times: list[int] = field(default_factory=list)
    states: list[EntryState | None] = field(default_factory=list)

    def set(self, at_us: int, state: EntryState | None) -> None:
        i = bisect_right(self.times, at_us)
        self.times.insert(i, at_us)
        self.states.insert(i, state)

    def at(self, at_us: int) -> EntryState | None:
        i = bisect_right(self.times, at_us)
        return self.states[i - 1] if i else None

    def last_time(self) -> int | None:
        return self.times[-1] if self.times else None


class ListHistory:
    """Every list's entries at any past moment, rebuilt from the audit trail (see the module docstring)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, _Timeline]] = defaultdict(dict)
        self._imports: dict[str, list[int]] = defaultdict(list)
        self.names: set[str] = set()  # every list that ever existed (rules compile against these)
        self.gaps = 0  # entry states the audit trail could not place in time

    @classmethod
    def load(cls, db: Database) -> ListHistory:
        """Read the list audit trail and the current entries of ``db``."""
        history = cls()
        a = audit_log.c
        query = select(a.at_us, a.object_name, a.action, a.value, a.old, a.new).where(a.object_type == _OBJECT)
        c = list_entries.c
        current = select(lists.c.name, c.value, c.reason, c.expires_at_us, c.created_at_us, c.updated_at_us).join(
            lists, lists.c.id == c.list_id)
        with db.read() as conn:
            records = conn.execute(query.order_by(a.id)).all()
            entries = conn.execute(current).all()
        for at_us, name, action, value, old, new in records:
            history._apply(int(at_us), name, action, value, _state(old), _state(new))
        for name, value, reason, expires, created, updated in entries:
            history._settle(name, value, EntryState(reason, expires), int(created), int(updated))
        return history

    def _apply(self, at_us: int, name: str, action: str, value: str | None,
               old: EntryState | None, new: EntryState | None) -> None:
        self.names.add(name)
        values = self._values[name]
        if action == "import":
            self._imports[name].append(at_us)
        elif action == "delete_list":
            for timeline in values.values():
                if timeline.at(at_us) is not None:
                    timeline.set(at_us, None)
        elif value is not None and action in ("add", "update", "remove"):
            timeline = values.setdefault(value, _Timeline())
            if old is not None and timeline.at(at_us) != old:
                self._place(name, timeline, old, before=at_us)
            timeline.set(at_us, None if action == "remove" else new)

    def _place(self, name: str, timeline: _Timeline, state: EntryState, *, before: int) -> None:
        """Put a state known only from a later record at the newest import of its list before ``before``."""
        since = timeline.last_time()
        found = [t for t in self._imports.get(name, ()) if t < before and (since is None or t >= since)]
        if found:
            timeline.set(found[-1], state)
        else:
            self.gaps += 1

    def _settle(self, name: str, value: str, state: EntryState, created_us: int, updated_us: int) -> None:
        """Make the timeline end in the current entry (an imported value never changed since).

        A value first imported at ``created_us`` and imported again at ``updated_us`` is on the
        list from the first import, but its state in between is lost: the current state stands in
        for it and the gap is counted.
        """
        timeline = self._values[name].setdefault(value, _Timeline())
        if timeline.at(1 << 62) == state:
            return
        imports = self._imports.get(name, ())
        if updated_us not in imports:
            self.gaps += 1
            return
        if created_us != updated_us and created_us in imports and timeline.at(created_us) is None:
            timeline.set(created_us, state)
            self.gaps += 1
        timeline.set(updated_us, state)

    def entry_at(self, list_name: str, value: str, as_of_us: int) -> EntryState | None:
        """The entry ``value`` had on ``list_name`` at ``as_of_us`` (None: it was not on the list)."""
        timeline = self._values.get(list_name, {}).get(value)
        return None if timeline is None else timeline.at(as_of_us)

    def entries_at(self, list_name: str, as_of_us: int) -> dict[str, EntryState]:
        """Every entry of ``list_name`` at ``as_of_us`` (expired ones included, as the live index holds them)."""
        out = {}
        for value, timeline in self._values.get(list_name, {}).items():
            state = timeline.at(as_of_us)
            if state is not None:
                out[value] = state
        return out

    def view(self) -> PointInTimeLists:
        """A list lookup for the rules; set its ``as_of_us`` before each decision."""
        return PointInTimeLists(self)


class PointInTimeLists:
    """The rules' list lookup (``lists.<name>.contains``) over the lists as they were at ``as_of_us``.

    Expiry is judged against the event time the rules pass in, exactly as the live index does.
    """

    def __init__(self, history: ListHistory, as_of_us: int = 0) -> None:
        self.history = history
        self.as_of_us = as_of_us

    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        state = self.history.entry_at(list_name, list_key(value), self.as_of_us)
        return state is not None and (state.expires_us is None or at_us < state.expires_us)
