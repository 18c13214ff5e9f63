"""API keys: hashed at rest, shown once, checked in constant time, revocable (also from the CLI)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from finrisk.api import ApiKeyStore, Role
from finrisk.api.keys import api_keys_table, hash_key
from finrisk.api.store import open_key_store
from finrisk.cli.main import app as cli
from finrisk.config import init_workspace, load_workspace
from finrisk.errors import NotFoundError
from finrisk.store.relational import Database


def test_only_the_hash_is_stored(key_store: ApiKeyStore, db: Database) -> None:
    record, key = key_store.create(name="gateway", role=Role.SERVICE)
    assert key.startswith(f"frk_{record.key_id}_")
    assert len(key) > 50
    with db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(api_keys_table))]
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hash_key(key)
    assert key not in repr(rows)
    assert key.split("_", 2)[2] not in repr(rows)


def test_authenticate_accepts_only_the_exact_active_key(key_store: ApiKeyStore) -> None:
    record, key = key_store.create(name="gateway", role="analyst")
    assert key_store.authenticate(key) == record
    assert record.role is Role.ANALYST
    for wrong in ["", "frk", key[:-1], key + "A", key.replace("frk_", "xyz_"), f"frk_{record.key_id}_",
                  "frk__" + key.split("_", 2)[2], "frk_unknownid_" + key.split("_", 2)[2]]:
        assert key_store.authenticate(wrong) is None, wrong
    key_store.revoke(record.key_id)
    assert key_store.authenticate(key) is None
    assert key_store.revoke(record.key_id).revoked_at is not None  # twice is harmless


def test_revocation_from_another_store_is_seen_after_the_cache_time(db: Database) -> None:
    server_side = ApiKeyStore(db, cache_seconds=0.2)
    cli_side = ApiKeyStore(db)
    record, key = cli_side.create(name="gateway", role=Role.SERVICE)
    assert server_side.authenticate(key) is not None
    cli_side.revoke(record.key_id)
    time.sleep(0.25)
    assert server_side.authenticate(key) is None


def test_a_checked_key_skips_its_hash_until_its_entry_is_refreshed_and_revocation_still_shows(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from finrisk.api import keys

    hashed: list[str] = []
    real = keys.hash_key
    monkeypatch.setattr(keys, "hash_key", lambda key: hashed.append(key) or real(key))
    server_side = ApiKeyStore(db, cache_seconds=0.2)
    cli_side = ApiKeyStore(db)
    record, key = cli_side.create(name="gateway", role=Role.SERVICE)
    other, other_key = cli_side.create(name="other", role=Role.ANALYST)
    hashed.clear()
    assert all(server_side.authenticate(key) == record for _ in range(5))
    assert hashed == [key]  # once per refresh window, not per request
    assert server_side.authenticate(key[:-1] + ("x" if key[-1] != "x" else "y")) is None  # a near miss is hashed
    assert server_side.authenticate(other_key) == other and len(hashed) == 3
    time.sleep(0.25)
    assert server_side.authenticate(key) == record and len(hashed) == 4  # the entry was refreshed: checked again
    cli_side.revoke(record.key_id)  # another process: seen within the cache time, as before
    time.sleep(0.25)
    assert server_side.authenticate(key) is None
    server_side.revoke(other.key_id)  # this store: at once
    assert server_side.authenticate(other_key) is None


def test_list_get_and_unknown_ids(key_store: ApiKeyStore) -> None:
    a, _ = key_store.create(name="a", role=Role.ADMIN)
    b, _ = key_store.create(name="b", role=Role.SERVICE)
    key_store.revoke(a.key_id)
    assert [k.name for k in key_store.list()] == ["b"]
    assert [k.name for k in key_store.list(include_revoked=True)] == ["a", "b"]
    assert key_store.get(b.key_id) == b
    with pytest.raises(NotFoundError, match="key_id: no API key 'nope'"):
        key_store.revoke("nope")
    with pytest.raises(ValueError, match="'bogus' is not a valid Role"):
        key_store.create(name="c", role="bogus")


def test_cli_create_list_revoke(tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    init_workspace(ws_dir)
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--role", "analyst", "--name", "ana", "-w", str(ws_dir)])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    store = open_key_store(load_workspace(ws_dir))
    record = store.authenticate(key)
    assert record is not None and record.name == "ana" and record.role is Role.ANALYST

    listed = runner.invoke(cli, ["keys", "list", "-w", str(ws_dir)])
    assert listed.exit_code == 0
    assert record.key_id in listed.stdout and "analyst" in listed.stdout
    assert key not in listed.stdout

    revoked = runner.invoke(cli, ["keys", "revoke", record.key_id, "-w", str(ws_dir)])
    assert revoked.exit_code == 0, revoked.output
    assert open_key_store(load_workspace(ws_dir)).authenticate(key) is None
    unknown = runner.invoke(cli, ["keys", "revoke", "nope", "-w", str(ws_dir)])
    assert unknown.exit_code == 1
    assert "no API key 'nope'" in unknown.output
    bad_role = runner.invoke(cli, ["keys", "create", "--role", "root", "--name", "x", "-w", str(ws_dir)])
    assert bad_role.exit_code == 2
    assert "root" in bad_role.output

