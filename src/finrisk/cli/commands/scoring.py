"""``finrisk scoring train NAME`` and ``finrisk scoring report NAME``: scenario scorecards of a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.errors import ScorecardError
from finrisk.scoring.card import ScorecardModel
from finrisk.scoring.report import build_report, print_report
from finrisk.scoring.scenarios import load_scenarios, scenario_query, train_scenario

scoring_app = typer.Typer(help="Credit scorecards declared in scorecards.yaml: train and report.",
                          no_args_is_help=True)


@scoring_app.command()
def train(
    name: Annotated[str, typer.Argument(help="Scorecard name in scorecards.yaml.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Fit a scenario scorecard from the warehouse (first 70% in time), report on the rest, save JSON + HTML."""
    with user_errors():
        ws = open_workspace(workspace)
        trained = train_scenario(ws, name)
    r = trained.report
    console.print(Text(f"{name}: fitted on {trained.development_rows:,} application(s), "
                       f"validated out of time on {trained.validation_rows:,}"))
    if r.metrics:
        console.print(Text(f"out-of-time AUC {r.metrics['auc']:.4f}  KS {r.metrics['ks']:.4f}  "
                           f"Gini {r.metrics['gini']:.4f}  PSI {r.psi or 0.0:.4f}"))
    table = Table("code", "variable", "dimension", "trend", "IV", "points range")
    for v in trained.model.variables:
        table.add_row(v.reason_code, Text(v.name), Text(v.dimension), v.binning.trend, f"{v.binning.iv:.4f}",
                      f"{min(v.points)}..{max(v.points)}")
    console.print(table)
    console.print(Text(f"card: {trained.card_path}\nreport: {trained.report_path}"))


@scoring_app.command()
def report(
    name: Annotated[str, typer.Argument(help="A trained scorecard (scorecards/NAME.json in the workspace).")],
    html: Annotated[Path | None, typer.Option("--html", help="Also write the report as an HTML page here.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Report a trained scorecard on every labelled application in the warehouse now."""
    from finrisk.store import Warehouse

    with user_errors():
        ws = open_workspace(workspace)
        decl = load_scenarios(ws).get(name)
        card_path = ws.root / "scorecards" / f"{name}.json"
        if decl is None or not card_path.exists():
            raise ScorecardError(f"no trained scorecard {name!r}: run 'finrisk scoring train {name}' first")
        model = ScorecardModel.from_json(card_path.read_bytes())
        with Warehouse.open(ws) as wh:
            frame = wh.sql(scenario_query(decl)).to_pandas()
        y = frame.pop("__target").to_numpy()
        result = build_report(model, frame, y, name=name)
    print_report(result, console)
    if html is not None:
        html.write_text(result.to_html(), encoding="utf-8")
        console.print(Text(f"HTML report: {html}"))


def register(app: typer.Typer) -> None:
    app.add_typer(scoring_app, name="scoring")
