"""API keys: who may call the service, stored hashed in the relational store.

A key reads ``frk_<key_id>_<secret>``. Only the key id (a public handle, shown by ``finrisk keys
list`` and in logs) and the SHA-256 of the whole key are stored; the key itself is printed once
when it is made and cannot be recovered. Checking a key looks its row up by id and compares the
digests in constant time (:func:`hmac.compare_digest`), so a wrong secret for a known id takes as
long to refuse as any other.

Every request authenticates, so rows are cached in memory for ``cache_seconds`` (default 2 s):
the decision path never waits on the database, and a key revoked from another process (``finrisk
keys revoke``) stops working within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa

from finrisk.errors import NotFoundError
from finrisk.store.relational import Database

__all__ = ["ApiKey", "ApiKeyStore", "ENV_ADMIN_KEY_ID", "Role", "hash_key"]

KEY_PREFIX = "frk"
ENV_ADMIN_KEY_ID = "env-admin"
"""Key id reported for the admin key given in ``FINRISK_API_KEY`` (never stored)."""

_metadata = sa.MetaData()
api_keys_table = sa.Table(
    "api_keys",
    _metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


class Role(StrEnum):
    """What a key may do; the permission table is in :mod:`finrisk.api.auth`."""

    SERVICE = "service"
    ANALYST = "analyst"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    """A key's public record (never the secret)."""

    key_id: str
    name: str
    role: Role
    created_at: datetime | None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role.value,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def hash_key(key: str) -> str:
    """SHA-256 hex digest of a whole key (a 32-byte random secret needs no slow hash)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _split(key: str) -> str | None:
    """The key id of a well-formed key, else None."""
    parts = key.split("_", 2)  # the secret may itself hold "_"
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone=True columns.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class ApiKeyStore:
    """Create, list, revoke and check API keys in the ``api_keys`` table of a relational store.

    Parameters
    ----------
    db
        The workspace's relational store (SQLite file by default, PostgreSQL at scale); the table is made
        if absent.
    cache_seconds
        How long a looked-up key row is trusted before it is read again.

    Examples
    --------
    >>> from finrisk.store.relational import open_database
    >>> store = ApiKeyStore(open_database("sqlite://"))
    >>> record, key = store.create(name="scoring-gateway", role=Role.SERVICE)
    >>> store.authenticate(key) == record
    True
    >>> store.authenticate(key + "x") is None
    True
    """

    def __init__(self, db: Database, *, cache_seconds: float = 2.0) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        _metadata.create_all(db.engine)
        self._cache: dict[str, tuple[float, str | None, ApiKey | None]] = {}
        # key text -> (its id's cache time, record): a key checked once skips the SHA until that entry is refreshed
        self._verified: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def create(self, *, name: str, role: Role | str) -> tuple[ApiKey, str]:
        """Make a key; returns its record and the key text, which is shown this once and never stored."""
        role = Role(role)
        name = name.strip()
        if not name:
            raise ValueError("name: expected a non-empty key name, got an empty string")
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id=key_id, name=name, role=role, created_at=datetime.now(UTC))
        with self.db.write() as conn:
            conn.execute(
                api_keys_table.insert().values(
                    key_id=key_id, name=name, role=role.value, key_hash=hash_key(key), created_at=record.created_at
                )
            )
        return record, key

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Every key's public record, oldest first."""
        query = sa.select(api_keys_table).order_by(api_keys_table.c.created_at, api_keys_table.c.key_id)
        if not include_revoked:
            query = query.where(api_keys_table.c.revoked_at.is_(None))
        with self.db.read() as conn:
            return [self._record(row) for row in conn.execute(query)]

    def get(self, key_id: str) -> ApiKey:
        """One key's record; :class:`NotFoundError` if there is none."""
        row = self._row(key_id)
        if row is None:
            raise NotFoundError(f"key_id: no API key {key_id!r}")
        return self._record(row)

    def revoke(self, key_id: str) -> ApiKey:
        """Stop a key from working (the row stays, for the audit); revoking twice is harmless."""
        now = datetime.now(UTC)
        with self.db.write() as conn:
            conn.execute(
                api_keys_table.update()
                .where(api_keys_table.c.key_id == key_id, api_keys_table.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        with self._lock:
            self._cache.pop(key_id, None)
            for key in [key for key, (_, record) in self._verified.items() if record.key_id == key_id]:
                del self._verified[key]
        return self.get(key_id)

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key's record, or None for a malformed, unknown, wrong or revoked key.

        A key text that verified is remembered with its id's cache entry, for as long as that entry
        lives (``cache_seconds``: a revocation by another process shows within it, as before; one
        by this store at once), so a caller's requests skip the split and the SHA-256 of the key.
        """
        now = time.monotonic()
        verified = self._verified.get(key)
        if verified is not None and now - verified[0] <= self.cache_seconds:
            return verified[1]
        key_id = _split(key)
        if key_id is None:
            return None
        cached = self._cache.get(key_id)
        if cached is None or now - cached[0] > self.cache_seconds:
            row = self._row(key_id)
            if row is None:
                cached = (now, None, None)
            else:
                cached = (now, row.key_hash, self._record(row))
            with self._lock:
                if len(self._cache) > 10_000:  # bound memory under a flood of made-up ids
                    self._cache.clear()
                self._cache[key_id] = cached
        _, stored_hash, record = cached
        if stored_hash is None or record is None or not record.active:
            return None
        if not hmac.compare_digest(stored_hash, hash_key(key)):
            return None
        with self._lock:
            if len(self._verified) > 1_000:  # bound memory: many keys in turn only cost their SHA again
                self._verified.clear()
            self._verified[key] = (cached[0], record)
        return record

    def _row(self, key_id: str) -> sa.Row[tuple[object, ...]] | None:
        with self.db.read() as conn:
            return conn.execute(sa.select(api_keys_table).where(api_keys_table.c.key_id == key_id)).first()

    @staticmethod
    def _record(row: sa.Row[tuple[object, ...]]) -> ApiKey:
        m = row._mapping
        return ApiKey(
            key_id=str(m["key_id"]),
            name=str(m["name"]),
            role=Role(str(m["role"])),
            created_at=_utc(m["created_at"]),
            revoked_at=_utc(m["revoked_at"]),
        )
