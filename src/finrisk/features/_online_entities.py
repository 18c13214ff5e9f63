"""One record per entity key across the online engine's state groups.

An event touches about twenty state groups, most keyed by the same few fields (customer, device,
card, merchant...). Kept in one dict per group, each group costs its own lookup of the same key,
and a ``first_seen`` of a pair (customer, device) a tuple built and looked up in a dict of every
pair ever seen: measured on the demo set, these lookups took about a sixth of the engine's time,
most of it memory traffic (a tuple key is compared with the stored tuple and both its strings).

An :class:`EntityTable` holds, per value of one entity field, a list with one slot per group whose
key starts with that field: the group's state for a single-field key, and for a composite key
(``customer_id, device_id``) a small dict from the rest of the key (the device, or a tuple of the
remaining fields) to the state. The generated step looks the entity up once and reads its groups'
slots by index; the groups' own methods (late events, sweeps, snapshots) go through
:class:`Slot`, which keeps the per-group view (``states``) the rest of the engine uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from finrisk.features._online_native import KERNEL

__all__ = ["EntityTable", "Slot"]


class EntityTable:
    """Records of one entity field: ``records[value]`` is a list with one slot per group (None: no state)."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.records: dict[Any, list[Any]] = {}
        self.width = 0  # slots per record; fixed once the engine has made its groups

    def slot(self, composite: bool, siblings: int = 0) -> Slot:
        """A new slot for one group (every record made afterwards has it); a single-field key's group
        with several windows also gets one slot per shorter window (its state's ``sibs``), read by the
        step from the record instead of through the state."""
        index = self.width
        self.width += 1 + (0 if composite else siblings)
        return Slot(self, index, composite, 0 if composite else siblings)

    def record(self, value: Any) -> list[Any]:
        """The record of ``value``, made when missing."""
        rec = self.records.get(value)
        if rec is None:
            # untracked from the collector with the kernel (a record cannot be part of a reference cycle)
            rec = self.records[value] = [None] * self.width if KERNEL is None else KERNEL.untracked([None] * self.width)
        return rec


class Slot:
    """One group's slot in an :class:`EntityTable`: its states by full key, as a dict would hold them.

    A full key is the field's value for a single-field key, else the tuple of the key's values.
    """

    def __init__(self, table: EntityTable, index: int, composite: bool, siblings: int = 0) -> None:
        self.table = table
        self.index = index
        self.composite = composite
        self.siblings = siblings
        #: for a single-field key, this group's states by key besides the records: what the sweep walks
        #: (copying the whole table for each group's sweep cycle, and walking entities without a state
        #: here, doubled the sweep's cost); the generated step adds to it when it makes a state
        self.by_key: dict[Any, Any] = {}

    @staticmethod
    def _split(key: Any) -> tuple[Any, Any]:
        rest = key[1:]
        return key[0], rest[0] if len(rest) == 1 else rest

    def get(self, key: Any) -> Any:
        """The state of ``key``, or None."""
        if not self.composite:
            rec = self.table.records.get(key)
            return None if rec is None else rec[self.index]
        head, rest = self._split(key)
        rec = self.table.records.get(head)
        inner = None if rec is None else rec[self.index]
        return None if inner is None else inner.get(rest)

    def put(self, key: Any, state: Any) -> None:
        """Set the state of ``key``."""
        if not self.composite:
            rec = self.table.record(key)
            rec[self.index] = state
            if self.siblings:
                rec[self.index + 1:self.index + 1 + self.siblings] = state.sibs
            self.by_key[key] = state
            return
        head, rest = self._split(key)
        rec = self.table.record(head)
        inner = rec[self.index]
        if inner is None:
            inner = rec[self.index] = {}
        inner[rest] = state

    def drop(self, key: Any) -> None:
        """Forget the state of ``key`` (and the entity's record once no group holds anything for it)."""
        records = self.table.records
        head, rest = self._split(key) if self.composite else (key, None)
        rec = records.get(head)
        if rec is None:
            return
        if self.composite:
            inner = rec[self.index]
            if inner is not None:
                inner.pop(rest, None)
                if inner:
                    return
        self.by_key.pop(key, None)
        rec[self.index:self.index + 1 + self.siblings] = [None] * (1 + self.siblings)
        if not any(s is not None for s in rec):
            del records[head]

    def keys(self) -> Iterator[Any]:
        """Every key with a state, as full keys."""
        if not self.composite:
            yield from self.by_key
            return
        i = self.index
        for head, rec in self.table.records.items():
            state = rec[i]
            if state is not None:
                for rest in state:
                    yield (head, *rest) if isinstance(rest, tuple) else (head, rest)

    def states(self) -> dict[Any, Any]:
        """A dict of every key's state (a copy: snapshots, statistics, tests)."""
        if not self.composite:
            return dict(self.by_key)
        return {key: self.get(key) for key in self.keys()}

    def clear(self) -> None:
        """Forget every state of this group."""
        for key in list(self.keys()):
            self.drop(key)

    def __len__(self) -> int:
        i = self.index
        if not self.composite:
            return len(self.by_key)
        return sum(len(rec[i]) for rec in self.table.records.values() if rec[i] is not None)
