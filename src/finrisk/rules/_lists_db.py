"""The database side of lists: the change counter, the in-memory index it keeps fresh, bulk upserts.

Every list write bumps the ``list_changes`` counter row and appends one ``list_changes`` row
holding the new counter value, the list name and the changed value (NULL: the whole list). The
counter row is locked by the bump until commit, so change numbers become visible in order, and a
reader that has applied changes up to N only needs rows ``seq > N``. Rows more than
:data:`CHANGE_LOG_KEEP` behind the head are pruned; a reader that far behind reloads everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from finrisk.rules._lists_csv import ImportRow
from finrisk.store.relational import LIST_CHANGES_COUNTER, list_changes, list_entries, lists, store_counters

__all__ = [
    "CHANGE_LOG_KEEP",
    "ListIndexState",
    "apply_changes",
    "bump_changes",
    "load_index",
    "read_head",
    "upsert_rows",
]

#: Change rows kept behind the head; a reader further behind than this reloads the whole index.
CHANGE_LOG_KEEP = 10_000
_CHUNK = 500  # values per "IN (...)" and rows per executemany batch


@dataclass
class ListIndexState:
    """``lists``: ``{list_name: {value: expires_at_us | None}}``; ``seq``: the last change applied (-1: none)."""

    lists: dict[str, dict[str, int | None]] = field(default_factory=dict)
    seq: int = -1

    def needs_full_load(self, head: int) -> bool:
        return self.seq < 0 or head < self.seq or head - self.seq > CHANGE_LOG_KEEP


def read_head(conn: Connection) -> int:
    """The newest change number (one primary-key read: the cheap check behind ``contains``)."""
    value = conn.scalar(select(store_counters.c.value).where(store_counters.c.name == LIST_CHANGES_COUNTER))
    return int(value or 0)


def bump_changes(conn: Connection, list_name: str, value: str | None, at_us: int) -> None:
    """Record one change inside the writer's transaction and prune change rows far behind the head."""
    counter = store_counters.c.name == LIST_CHANGES_COUNTER
    conn.execute(update(store_counters).where(counter).values(value=store_counters.c.value + 1))
    seq = read_head(conn)
    conn.execute(insert(list_changes).values(seq=seq, list_name=list_name, value=value, at_us=at_us))
    if seq % 1000 == 0:
        conn.execute(delete(list_changes).where(list_changes.c.seq <= seq - CHANGE_LOG_KEEP))


def _load_list(conn: Connection, name: str) -> dict[str, int | None] | None:
    list_id = conn.scalar(select(lists.c.id).where(lists.c.name == name))
    if list_id is None:
        return None
    c = list_entries.c
    rows = conn.execute(select(c.value, c.expires_at_us).where(c.list_id == list_id))
    return {value: expires for value, expires in rows}


def load_index(conn: Connection, head: int) -> ListIndexState:
    """Every list and entry, as of ``head`` (read ``head`` first: later entries are only newer)."""
    state = ListIndexState(seq=head)
    for name in conn.scalars(select(lists.c.name)):
        state.lists[name] = {}
    c = list_entries.c
    rows = conn.execute(select(lists.c.name, c.value, c.expires_at_us).join(lists, lists.c.id == c.list_id))
    for name, value, expires in rows:
        state.lists[name][value] = expires
    return state


def apply_changes(conn: Connection, state: ListIndexState, head: int) -> None:
    """Re-read what changed since ``state.seq``: whole lists, or single values, then advance to ``head``."""
    rows = conn.execute(
        select(list_changes.c.list_name, list_changes.c.value).where(
            (list_changes.c.seq > state.seq) & (list_changes.c.seq <= head)
        )
    ).all()
    whole = {name for name, value in rows if value is None}
    values: dict[str, set[str]] = {}
    for name, value in rows:
        if value is not None and name not in whole:
            values.setdefault(name, set()).add(value)
    for name in whole | {n for n in values if n not in state.lists}:
        loaded = _load_list(conn, name)
        if loaded is None:
            state.lists.pop(name, None)
        else:
            state.lists[name] = loaded
    c = list_entries.c
    for name, changed in values.items():
        entries = state.lists.get(name)
        list_id = conn.scalar(select(lists.c.id).where(lists.c.name == name))
        if entries is None or list_id is None or name in whole:
            continue
        ordered = sorted(changed)
        found: dict[str, int | None] = {}
        for i in range(0, len(ordered), _CHUNK):
            chunk = ordered[i : i + _CHUNK]
            query = select(c.value, c.expires_at_us).where((c.list_id == list_id) & c.value.in_(chunk))
            found.update({value: expires for value, expires in conn.execute(query)})
        for value in ordered:
            if value in found:
                entries[value] = found[value]
            else:
                entries.pop(value, None)
    state.seq = head


def upsert_rows(
    conn: Connection, dialect: str, list_id: int, rows: Sequence[ImportRow], *, actor: str, at_us: int
) -> tuple[int, int]:
    """Insert or update ``rows`` in one transaction (the caller's); returns ``(added, updated)``."""
    count = select(func.count()).select_from(list_entries).where(list_entries.c.list_id == list_id)
    before = int(conn.scalar(count) or 0)
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(list_entries)
    stmt = stmt.on_conflict_do_update(
        index_elements=[list_entries.c.list_id, list_entries.c.value],
        set_={
            "reason": stmt.excluded.reason,
            "updated_by": stmt.excluded.updated_by,
            "updated_at_us": stmt.excluded.updated_at_us,
            "expires_at_us": stmt.excluded.expires_at_us,
        },
    )
    for i in range(0, len(rows), 10_000):
        batch = [
            {"list_id": list_id, "value": r.value, "reason": r.reason, "added_by": actor, "created_at_us": at_us,
             "updated_by": actor, "updated_at_us": at_us, "expires_at_us": r.expires_at_us}
            for r in rows[i : i + 10_000]
        ]
        conn.execute(stmt, batch)
    after = int(conn.scalar(count) or 0)
    return after - before, len(rows) - (after - before)
