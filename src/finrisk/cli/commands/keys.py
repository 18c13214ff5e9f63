"""``finrisk keys create|list|revoke``: API keys for the decision service (stored hashed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from finrisk.api.keys import Role
from finrisk.api.store import open_key_store
from finrisk.cli._common import WorkspaceOption, console, err_console, open_workspace, user_errors

keys_app = typer.Typer(help="API keys of the decision service (roles: service, analyst, admin).",
                       no_args_is_help=True)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", "-n", help="Who or what uses the key.")],
    role: Annotated[Role, typer.Option("--role", "-r", help="service: decisions and events; analyst: read, "
                                       "drafts and lists; admin: everything.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Make a key and print it once (only its hash is stored)."""
    if not name.strip():
        raise typer.BadParameter("expected a non-empty name", param_hint="--name")
    with user_errors():
        store = open_key_store(open_workspace(workspace))
        record, key = store.create(name=name, role=role)
    err_console.print(f"Made {record.role.value} key {record.key_id} for {record.name!r}. "
                      "Store it now: it is shown only this once.", highlight=False, markup=False)
    print(key)


@keys_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option("--all", help="Also list revoked keys.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """List keys (ids, names and roles; never the keys)."""
    with user_errors():
        records = open_key_store(open_workspace(workspace)).list(include_revoked=include_revoked)
    table = Table("key_id", "name", "role", "created_at", "revoked_at")
    for r in records:
        table.add_row(r.key_id, r.name, r.role.value, r.created_at.isoformat(timespec="seconds") if r.created_at
                      else "", r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "")
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (see 'finrisk keys list').")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Revoke a key; a running service refuses it within a few seconds."""
    with user_errors():
        record = open_key_store(open_workspace(workspace)).revoke(key_id)
    console.print(f"Revoked key {record.key_id} ({record.name!r}).", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
