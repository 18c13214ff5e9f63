"""``finrisk sql "SELECT ..."``: query events, labels and reference tables with DuckDB."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.table import Column, Table
from rich.text import Text

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.store import open_log, open_warehouse


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def sql(
    query: Annotated[str, typer.Argument(help='SQL; each event type is a view by its name, e.g. "transaction".')],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    limit: Annotated[int, typer.Option(min=0, help="Show at most this many rows (0: all).")] = 50,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Run SQL over the warehouse (flushed Parquet plus events not yet flushed)."""
    with user_errors():
        ws = open_workspace(workspace)
        with open_log(ws) as log:
            result = open_warehouse(ws, log).sql(query)
    shown = result.slice(0, limit) if limit else result
    if output is OutputFormat.csv:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(shown, sink)
        sys.stdout.write(sink.getvalue().to_pybytes().decode("utf-8"))
    elif output is OutputFormat.json:
        for row in shown.to_pylist():
            sys.stdout.write(orjson.dumps(row, default=str).decode("utf-8") + "\n")
    else:
        table = Table(*(Column(header=Text(name)) for name in shown.schema.names))
        for row in shown.to_pylist():
            table.add_row(*(Text("" if v is None else str(v)) for v in row.values()))  # data, never markup
        console.print(table)
        more = f" (showing {shown.num_rows}; use --limit)" if shown.num_rows < result.num_rows else ""
        console.print(f"{result.num_rows:,} row(s){more}")


def register(app: typer.Typer) -> None:
    app.command()(sql)
