"""``finrisk simulate``: generate a synthetic financial world (events with ground-truth labels)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from finrisk.cli._common import console, user_errors
from finrisk.simulate import FORMATS, SimulationConfigError, SimulationSummary, WorldConfig, simulate_world


def _parse_start(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise SimulationConfigError(
            f"The '--start' option must be a date like 2026-01-01. Got {text!r} instead.") from None


def simulate(
    customers: Annotated[int, typer.Option(help="Customers in the world.")] = 20000,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 30,
    seed: Annotated[int, typer.Option(help="Root seed (same seed, same events).")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("sim-world"),
    fmt: Annotated[str, typer.Option("--format", help=f"Event file format: {' or '.join(FORMATS)}.")] = "parquet",
    fraud_share: Annotated[float, typer.Option(help="Share of customers touched by injected fraud.")] = 0.02,
    start: Annotated[str, typer.Option(help="First day of the window (YYYY-MM-DD).")] = "2026-01-01",
) -> None:
    """Generate a synthetic world: customers, payments, logins, loans, insurance and labelled fraud."""
    with user_errors():
        config = WorldConfig(customers=customers, days=days, seed=seed, fraud_share=fraud_share,
                             start=_parse_start(start))
        if fmt not in FORMATS:
            raise SimulationConfigError(
                f"The '--format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
        with Progress(TextColumn("[bold]simulating[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("days"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("days", total=days)
            summary = simulate_world(config, out, fmt=fmt,
                                     progress=lambda done, _total: bar.update(task, completed=done))
    console.print(summary_table(summary))


def summary_table(summary: SimulationSummary) -> Table:
    """A rich table of events per type and labelled events per pattern."""
    table = Table(title=f"Simulated world in {summary.out_dir}", show_footer=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, n in summary.events_by_type.items():
        table.add_row(f"events: {name}", f"{n:,}")
    table.add_row("[bold]events: total[/]", f"[bold]{summary.total_events:,}[/]")
    for name, n in summary.fraud_events_by_pattern.items():
        entities = summary.fraud_entities_by_pattern.get(name, 0)
        table.add_row(f"fraud: {name}", f"{n:,} events / {entities:,} entities")
    table.add_row("loans (default rate)", f"{summary.loans:,} ({summary.default_rate:.1%})")
    rate = summary.events_per_second * 60 / 1e6
    table.add_row("elapsed", f"{summary.elapsed_seconds:.1f} s ({rate:.1f} M events/min)")
    return table


def register(app: typer.Typer) -> None:
    app.command()(simulate)
