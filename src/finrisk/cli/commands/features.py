"""``finrisk features list`` and ``finrisk features build``: the declared features and feature tables."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.errors import WorkspaceError
from finrisk.features.offline import FeatureBuildSummary, warehouse_features
from finrisk.features.spec import WindowFeature, format_duration

features_app = typer.Typer(help="Declared features and offline feature tables.", no_args_is_help=True)


@features_app.command("list")
def list_features(workspace: WorkspaceOption = Path(".")) -> None:
    """Show the declared features: name, key, events, aggregation, window, lag and filter."""
    with user_errors():
        fs = open_workspace(workspace).features
    table = Table(title=f"{len(fs)} feature(s)")
    for column in ("name", "key", "events", "agg", "window", "lag", "filter"):
        table.add_column(column, overflow="fold")
    for f in fs:
        if isinstance(f, WindowFeature):
            window = "" if f.window_us is None else format_duration(f.window_us)
            lag = format_duration(f.lag_us) if f.lag_us else ""
            if f.time_field != "event_time":
                lag += f" (at {f.time_field})"
            agg = f.agg.value + (f"({f.field})" if f.field else "") + (" +current" if f.include_current else "")
            table.add_row(f.name, ", ".join(f.key), ", ".join(f.events), agg, window, lag.strip(),
                          f.filter.text if f.filter else "")
        else:
            table.add_row(f.name, "", "", f"{f.kind.value}({', '.join(f.inputs)})", "", "", "")
    console.print(table)


def _day(option: str, text: str | None) -> date | datetime | None:
    """A plain date (a whole day) or an ISO time."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise WorkspaceError(f"{option}: expected a date such as 2026-03-01, got {text!r}") from None


@features_app.command("build")
def build(
    events: Annotated[str, typer.Option("--events", "-e", help="Event types to compute features for (a,b,...).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The Parquet file to write.")],
    start: Annotated[str | None, typer.Option("--from", help="First day (or ISO time) of the chosen events.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (included), or an ISO time (excluded).")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Compute every declared feature for the chosen events from the whole warehouse history."""
    with user_errors():
        ws = open_workspace(workspace)
        types = [t.strip() for t in events.split(",") if t.strip()]
        lo, hi = _day("--from", start), _day("--to", end)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("groups"),
                   TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("features", total=None)

            def advance(done: int, total: int, label: str) -> None:
                progress.update(task, completed=done, total=total, description=label[:60])

            summary = warehouse_features(ws, event_types=types, start=lo, end=hi, out=out, progress=advance)
    console.print(_summary_table(summary))


def _summary_table(s: FeatureBuildSummary) -> Table:
    table = Table(title="feature build summary", show_header=False)
    rows = [
        ("events", f"{s.events:,}"),
        ("features", str(s.features)),
        ("feature groups", str(s.groups)),
        ("history events", f"{s.history_events:,}"),
        ("seconds", f"{s.seconds:,.1f}"),
        ("written to", str(s.out)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")
