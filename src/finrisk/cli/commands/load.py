"""``finrisk load FILE_OR_DIR``: validate and append events from CSV, JSON lines or Parquet."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.errors import InputFileError
from finrisk.features.spec import parse_duration
from finrisk.store.ingest import LoadSummary, load_path


def load(
    path: Annotated[Path, typer.Argument(help="A .csv, .jsonl/.ndjson or .parquet file, a folder of them, or the "
                                              "fraud-detection handbook's card data (.pkl per day or CSV).")],
    event_type: Annotated[
        str | None, typer.Option("--event-type", "-t", help="Event type of rows without an event_type column.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where to write rejected rows (JSON lines).", show_default="rejects/<name>-<time>.jsonl"),
    ] = None,
    fraud_known_after: Annotated[
        str,
        typer.Option(help="Handbook card data (.pkl per day or CSV with TX_* columns): each fraud also becomes a "
                          "chargeback this long after the transaction (e.g. 7d; 'never': no chargebacks)."),
    ] = "7d",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Load events from files; bad rows go to a rejects file, good rows load."""
    with user_errors():
        known_after = _known_after(fraud_known_after)
        ws = open_workspace(workspace)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"loading {path.name}", total=None)

            def advance(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            summary = load_path(ws, path, event_type=event_type, rejects_path=rejects, progress=advance,
                                fraud_known_after=known_after)
    console.print(_summary_table(summary))
    if summary.rejects_path is not None:
        console.print(f"{summary.rejected} rejected row(s) with reasons: {summary.rejects_path}")


def _known_after(text: str) -> timedelta | None:
    if text.strip().lower() in ("never", "none", "off"):
        return None
    try:
        return timedelta(microseconds=parse_duration(text))
    except ValueError as exc:
        raise InputFileError(f"--fraud-known-after: {exc} (or 'never')") from None


def _summary_table(s: LoadSummary) -> Table:
    table = Table(title="load summary", show_header=False)
    rows = [
        ("files", str(len(s.files))),
        ("read", f"{s.read:,}"),
        ("loaded", f"{s.loaded:,}"),
        ("duplicates", f"{s.duplicates:,}"),
        ("conflicts", f"{s.conflicts:,}"),
        ("rejected", f"{s.rejected:,}"),
        ("with labels", f"{s.labels:,}"),
        ("rows/s", f"{s.rows_per_second:,.0f}"),
    ]
    if s.reference_tables:
        rows.append(("reference tables", ", ".join(s.reference_tables)))
    for name, value in rows:
        table.add_row(name, value)
    return table


def register(app: typer.Typer) -> None:
    app.command()(load)
