"""Customer profiles for rules (``profile.<field>``), from the warehouse's ``customers`` table.

Rules need a few slow-moving facts about the customer (home city, phone tenure, income band, age)
that are not in the event. One machine keeps them in a dict keyed by ``customer_id``, loaded once
at start; at scale the same lookup moves to Redis. Identity fields (name, phone number, ID number,
address) are left out on purpose: no rule needs them raw, and what is not loaded cannot leak into
a decision record or a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

__all__ = ["PERSONAL_FIELDS", "ProfileStore"]

#: Columns never loaded into profiles (personal data).
PERSONAL_FIELDS = frozenset({"name", "phone", "id_number", "address"})


class ProfileStore:
    """``get(customer_id)`` -> the customer's profile fields (an empty mapping when unknown)."""

    def __init__(self, profiles: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._profiles: dict[str, Mapping[str, Any]] = dict(profiles or {})
        self.fields: frozenset[str] = frozenset(k for p in self._profiles.values() for k in p)

    @classmethod
    def from_warehouse(cls, warehouse_dir: Path, *, table: str = "customers") -> ProfileStore:
        """Profiles from ``reference/<table>.parquet`` (none when the table does not exist yet)."""
        path = warehouse_dir / "reference" / f"{table}.parquet"
        if not path.is_file():
            return cls()
        schema = pq.read_schema(path)
        columns = [c for c in schema.names if c not in PERSONAL_FIELDS]
        if "customer_id" not in columns:
            return cls()
        rows = pq.read_table(path, columns=columns).to_pylist()
        store = cls({str(r.pop("customer_id")): r for r in rows})
        store.fields = frozenset(c for c in columns if c != "customer_id")
        return store

    def get(self, customer_id: object) -> Mapping[str, Any]:
        if customer_id is None:
            return _EMPTY
        return self._profiles.get(str(customer_id), _EMPTY)

    def __len__(self) -> int:
        return len(self._profiles)


_EMPTY: Mapping[str, Any] = {}
