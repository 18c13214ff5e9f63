"""``finrisk lists``: create black/white/grey lists and manage their entries (values masked unless --reveal)."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.config import Workspace
from finrisk.errors import ListError
from finrisk.events.validate import parse_timestamp
from finrisk.features.spec import parse_duration
from finrisk.rules.lists import ListKind, ListStore, mask_value
from finrisk.store.relational import AuditRecord, open_database

lists_app = typer.Typer(help="Black, white and grey lists on entity keys (device_id, phone...).", no_args_is_help=True)


def current_user() -> str:
    """Who the audit records as the actor: $FINRISK_USER, else the login name."""
    try:
        return os.environ.get("FINRISK_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


ByOption = Annotated[
    str | None, typer.Option("--by", help="Who makes the change (audited).", show_default="$FINRISK_USER or login")
]
RevealOption = Annotated[bool, typer.Option("--reveal", help="Show values in clear (they may be personal data).")]


@contextmanager
def open_lists(workspace: Path) -> Iterator[tuple[Workspace, ListStore]]:
    ws = open_workspace(workspace)
    with open_database(ws.database_url) as db:
        yield ws, ListStore(db, check_interval_ms=None)


def _entity_fields(ws: Workspace) -> set[str]:
    return {name for event_type in ws.event_types for name in event_type.entity_keys}


@lists_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="List name, used in rules as lists.NAME.contains(...).")],
    kind: Annotated[ListKind, typer.Option("--kind", help="black: refuse or flag; white: trust; grey: watch.")],
    field: Annotated[str, typer.Option("--field", help="The entity-key field the list holds, e.g. device_id.")],
    description: Annotated[str, typer.Option("--description", "-d", help="What the list is for.")] = "",
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Create an empty list."""
    with user_errors(), open_lists(workspace) as (ws, store):
        known = _entity_fields(ws)
        if field not in known:
            raise ListError(f"--field: expected an entity-key field of the workspace's event types "
                            f"({', '.join(sorted(known))}), got {field!r}")
        store.create_list(name, kind, field, description, created_by=by or current_user())
    console.print(Text(f"created {kind.value} list {name} on {field}"))


@lists_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="The list to delete with all its entries.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Delete a list and all its entries (audited)."""
    with user_errors(), open_lists(workspace) as (_, store):
        info = store.get_list(name)
        if not yes and not typer.confirm(f"delete list {name} and its {info.entries:,} entries?"):
            raise typer.Exit(1)
        store.delete_list(name, deleted_by=by or current_user())
    console.print(Text(f"deleted list {name} ({info.entries:,} entries)"))


def _ttl(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return timedelta(microseconds=parse_duration(text))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ttl") from None


@lists_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The list.")],
    value: Annotated[str, typer.Argument(help="The value to put on it (compared as text).")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (shown to investigators).")],
    ttl: Annotated[str | None, typer.Option("--ttl", help="Expire after this long, e.g. 30d, 12h.")] = None,
    expires_at: Annotated[
        str | None, typer.Option("--expires-at", help="Expire at this ISO 8601 time (instead of --ttl).")
    ] = None,
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Put a value on a list, or update its reason and expiry."""
    if ttl is not None and expires_at is not None:
        raise typer.BadParameter("give --ttl or --expires-at, not both", param_hint="--expires-at")
    expiry: datetime | timedelta | None = _ttl(ttl)
    if expires_at is not None:
        try:
            expiry = parse_timestamp(expires_at)
        except (TypeError, ValueError):
            problem = f"expected an ISO 8601 time, got {expires_at!r}"
            raise typer.BadParameter(problem, param_hint="--expires-at") from None
    with user_errors(), open_lists(workspace) as (_, store):
        entry = store.add(name, value, reason, added_by=by or current_user(), expires_at=expiry)
    until = "" if entry.expires_at is None else f" until {short_time(entry.expires_at)}"
    console.print(Text(f"{mask_value(entry.value)} is on {name}{until}"))


@lists_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The list.")],
    value: Annotated[str, typer.Argument(help="The value to take off.")],
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Take a value off a list (audited)."""
    with user_errors(), open_lists(workspace) as (_, store):
        store.remove(name, value, removed_by=by or current_user())
    console.print(Text(f"removed {mask_value(value.strip())} from {name}"))


@lists_app.command("show")
def show(
    name: Annotated[str | None, typer.Argument(help="A list to show entries of; none: every list.")] = None,
    reveal: RevealOption = False,
    expired: Annotated[bool, typer.Option("--expired", help="Include expired entries.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entries.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many entries.")] = 0,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Show every list, or one list's entries (values masked unless --reveal)."""
    with user_errors(), open_lists(workspace) as (_, store):
        if name is None:
            table = Table("list", "kind", "field", "entries", "description")
            for info in store.lists():
                table.add_row(Text(info.name), info.kind.value, Text(info.field), f"{info.entries:,}",
                              Text(info.description))
            console.print(table)
            return
        info = store.get_list(name)
        entries = store.entries(name, include_expired=expired, limit=limit, offset=offset)
    table = Table("value", "reason", "expires", "added by", "updated")
    for entry in entries:
        table.add_row(
            Text(entry.value if reveal else mask_value(entry.value)), Text(entry.reason),
            "" if entry.expires_at is None else short_time(entry.expires_at), Text(entry.added_by),
            short_time(entry.updated_at),
        )
    console.print(table)
    console.print(Text(f"{info.kind.value} list {name} on {info.field}: {info.entries:,} entries "
                       f"(showing {len(entries)} from {offset})"))


@lists_app.command("import")
def import_(
    name: Annotated[str, typer.Argument(help="The list.")],
    file: Annotated[Path, typer.Argument(help="CSV with columns value[,reason][,expires_at].")],
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Add or update every row of a CSV file; any bad row stops the whole import."""
    with user_errors(), open_lists(workspace) as (_, store):
        added, updated = store.import_csv(name, file, added_by=by or current_user())
    console.print(Text(f"imported {added + updated:,} rows into {name}: {added:,} added, {updated:,} updated"))


@lists_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="The list.")],
    file: Annotated[Path | None, typer.Argument(help="Where to write the CSV; none: standard output.")] = None,
    expired: Annotated[bool, typer.Option("--expired", help="Include expired entries.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Write a list as CSV (value,reason,expires_at), values in clear: what 'lists import' reads."""
    with user_errors(), open_lists(workspace) as (_, store):
        n = store.export_csv(name, sys.stdout if file is None else file, include_expired=expired)
    if file is not None:
        console.print(Text(f"wrote {n:,} entries of {name} to {file}"))


def short_time(at: datetime) -> str:
    """Minutes are enough on screen; exports and the API keep microseconds."""
    return at.strftime("%Y-%m-%d %H:%M") + "Z"


def _state(state: dict[str, object] | None) -> str:
    return "" if state is None else "{" + ", ".join(f"{k}={v}" for k, v in state.items() if v is not None) + "}"


def print_audit(records: list[AuditRecord], *, reveal: bool) -> None:
    """One line per record (long values wrap instead of being cut off as in a narrow table)."""
    for r in records:
        value = "" if r.value is None else " " + (r.value if reveal else mask_value(r.value))
        change = " -> ".join(part for part in (_state(r.old), _state(r.new)) if part)
        console.print(Text(f"{short_time(r.at)}  {r.actor}  {r.action} {r.object_name}{value}  {change}".rstrip()))
    if not records:
        console.print(Text("no audit records"))


@lists_app.command("audit")
def audit(
    name: Annotated[str | None, typer.Argument(help="One list; none: every list.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show the newest this many records.")] = 50,
    reveal: RevealOption = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Who changed which list, when, and what it was before and after (newest first)."""
    with user_errors(), open_lists(workspace) as (_, store):
        records = store.audit(name, limit=limit)
    print_audit(records, reveal=reveal)


def register(app: typer.Typer) -> None:
    app.add_typer(lists_app, name="lists")
