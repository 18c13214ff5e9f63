"""``finrisk flush [--all]``: write closed time partitions of the log to Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.store import open_log, open_warehouse


def flush(
    all_partitions: Annotated[
        bool, typer.Option("--all", help="Also write partitions still open for late events.")
    ] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Write closed partitions (all of them with --all) to the Parquet warehouse."""
    with user_errors():
        ws = open_workspace(workspace)
        with open_log(ws) as log:
            report = open_warehouse(ws, log).flush(all=all_partitions)
    for path in report.files:
        console.print(f"  wrote {path.relative_to(ws.warehouse_dir)}", highlight=False)
    console.print(
        f"Flushed {report.events:,} event(s) and {report.labels:,} label row(s) in {len(report.files)} file(s); "
        f"{report.open_partitions} partition(s) still open"
    )


def register(app: typer.Typer) -> None:
    app.command()(flush)
