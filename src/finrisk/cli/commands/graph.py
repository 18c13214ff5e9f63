"""``finrisk graph scan --from --to``: rings, fund loops, laundering shapes and network risk over a time range."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.errors import GraphInputError
from finrisk.graph import alerts_to_frame, scan_warehouse
from finrisk.graph.alert_store import GraphAlertStore
from finrisk.graph.scan import STEPS
from finrisk.store import open_log, open_warehouse
from finrisk.store.relational import open_database

graph_app = typer.Typer(help="Relationship network: rings, fund loops, laundering shapes, risk propagation.",
                        no_args_is_help=True)


def _parse_time(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise GraphInputError(option, "must be an ISO date or time such as 2026-01-31", repr(value)) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@graph_app.command("scan")
def scan_command(
    start: Annotated[str, typer.Option("--from", help="First moment scanned (ISO date/time, UTC if no offset).")],
    end: Annotated[str, typer.Option("--to", help="End of the range, exclusive (ISO date/time).")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the alerts to this Parquet file.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Scan transfers and identity events in [--from, --to) and list the alerts by typology."""
    with user_errors():
        lo, hi = _parse_time(start, "--from"), _parse_time(end, "--to")
        if hi <= lo:
            raise GraphInputError("--to", "must be later than --from", end)
        ws = open_workspace(workspace)
        with open_log(ws) as log, Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                           console=console, transient=True) as bar:
            task = bar.add_task("graph scan: build", total=len(STEPS))

            def advance(step: str) -> None:
                bar.update(task, advance=1, description=f"graph scan: {step} done")

            result = scan_warehouse(open_warehouse(ws, log), lo, hi, progress=advance)
        with open_database(ws.database_url) as db:
            ids = GraphAlertStore(db).save(result.alerts, transfers=result.transfers, identities=result.identities,
                                           scan_from=lo.isoformat(), scan_to=hi.isoformat())
    table = Table("typology", "alerts", "accounts")
    for typology in sorted(result.counts):
        members = {n for a in result.alerts if a.typology == typology for n in a.nodes}
        table.add_row(Text(typology), str(result.counts[typology]), str(len(members)))
    console.print(table)
    g = result.transfers
    console.print(f"{g.n_edges if g else 0:,} transfers between {g.n_nodes if g else 0:,} accounts; "
                  f"{len(result.alerts):,} alert(s) in {sum(result.seconds.values()):.2f}s")
    if ids:
        console.print(f"alerts stored as #{ids[0]}..#{ids[-1]} (GET /v1/graph/alerts/{{id}} shows one)")
    if out is not None:
        alerts_to_frame(result.alerts).to_parquet(out, index=False)
        console.print(Text(f"alerts written to {out}"))


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")
