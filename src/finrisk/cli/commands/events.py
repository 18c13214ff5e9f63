"""``finrisk events``: what the event log holds, and one event by id (personal data hidden)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.errors import StoreError
from finrisk.events.validate import format_timestamp
from finrisk.store import open_log

events_app = typer.Typer(help="Inspect the event log.", no_args_is_help=True)


@events_app.command("stats")
def stats(workspace: WorkspaceOption = Path(".")) -> None:
    """Events per type in the log, and how many still wait to be flushed to the warehouse."""
    with user_errors():
        ws = open_workspace(workspace)
        with open_log(ws) as log:
            rows = log.query(
                "SELECT event_type, count(*), sum(flushed = 0), min(event_time_us), max(event_time_us) "
                "FROM events GROUP BY 1 ORDER BY 1"
            )
    table = Table("event type", "events", "not flushed", "first (us)", "last (us)")
    for name, n, pending, first, last in rows:
        table.add_row(name, f"{n:,}", f"{pending:,}", str(first), str(last))
    console.print(table)


@events_app.command("get")
def get(
    event_id: Annotated[str, typer.Argument(help="The event_id to show.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Show one stored event; fields marked pii are hidden."""
    with user_errors():
        ws = open_workspace(workspace)
        with open_log(ws) as log:
            event = log.get(event_id)
            labels = log.get_labels(event_id)
        if event is None:
            raise StoreError(f"event_id: no stored event has id {event_id!r}")
        pii = ws.event_types.get(event["event_type"]).pii_fields
    table = Table("field", "value")
    for name, value in event.items():
        if name in pii and value is not None:
            value = "(hidden: personal data)"
        elif isinstance(value, datetime):
            value = format_timestamp(value)
        table.add_row(name, Text("" if value is None else str(value)))  # data, never markup
    for name, value in (labels or {}).items():
        table.add_row(name, Text(str(value)))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
