"""``finrisk scoring train|report|list|deploy|rollback|migrate``: scenario scorecards of a workspace.

Cards live in the model registry (kind ``scorecard``); deploy and rollback are the registry's, as for
``finrisk models``, restricted here to scorecards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.errors import ScorecardError
from finrisk.models.registry import STAGES, ModelRegistry
from finrisk.scoring.registered import KIND, migrate_legacy_scorecards, registered_scorecard
from finrisk.scoring.report import build_report, print_report
from finrisk.scoring.scenarios import labelled_applications, load_scenarios, train_scenario

scoring_app = typer.Typer(help="Credit scorecards declared in scorecards.yaml: train, report, deploy.",
                          no_args_is_help=True)


@scoring_app.command()
def train(
    name: Annotated[str, typer.Argument(help="Scorecard name in scorecards.yaml.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Fit a scenario scorecard from the warehouse (first 70% in time), report on the rest, register it."""
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
    console.print(Text(f"registered {name} v{trained.version}"
                       + (" as champion (served now)" if trained.champion else
                          f"; serve it with: finrisk scoring deploy {name} {trained.version}")
                       + f"\ncard: {trained.card_path}\nreport: {trained.report_path}"))


@scoring_app.command()
def report(
    name: Annotated[str, typer.Argument(help="A trained scorecard (registered by 'finrisk scoring train').")],
    version: Annotated[str | None, typer.Option("--version", help="Version (default: the champion).")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the report as an HTML page here.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Report a trained scorecard on every labelled application in the warehouse now."""
    with user_errors():
        ws = open_workspace(workspace)
        decl = load_scenarios(ws).get(name)
        if decl is None:
            raise ScorecardError(f"no trained scorecard {name!r}: run 'finrisk scoring train {name}' first")
        served = registered_scorecard(ws, name, version)
        frame = labelled_applications(ws, decl)  # event fields and point-in-time features
        y = frame.pop("__target").to_numpy()
        frame = frame.drop(columns=["__event_id", "__event_time"])
        result = build_report(served.card, frame, y, name=f"{name} v{served.version}")
    print_report(result, console)
    if html is not None:
        html.write_text(result.to_html(), encoding="utf-8")
        console.print(Text(f"HTML report: {html}"))


@scoring_app.command("list")
def list_cards(workspace: WorkspaceOption = Path(".")) -> None:
    """Every registered scorecard version with its stage, training window and out-of-time metrics."""
    with user_errors():
        ws = open_workspace(workspace)
        migrate_legacy_scorecards(ws)
        rows = [r for r in ModelRegistry(ws).list() if r["kind"] == KIND]
    table = Table(title=f"{len(rows)} scorecard version(s)")
    for col in ("name", "version", "stage", "window", "AUC", "KS", "PSI", "created"):
        table.add_column(col)
    for r in rows:
        m = r.get("metrics") or {}
        table.add_row(r["name"], r["version"], r["stage"], str(r.get("window") or "migrated"),
                      *(f"{m[k]:.3f}" if k in m else "-" for k in ("auc", "ks", "psi")), r["created_at"])
    console.print(table)


@scoring_app.command()
def deploy(
    name: Annotated[str, typer.Argument(help="Scorecard name.")],
    version: Annotated[str, typer.Argument(help="Version to deploy.")],
    stage: Annotated[str, typer.Option(help=f"One of {', '.join(STAGES)}.")] = "champion",
    traffic: Annotated[float, typer.Option(help="Share of applications a challenger decides (0-1).")] = 0.1,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Make a version champion, challenger (with a traffic share) or shadow; the service picks it up."""
    with user_errors():
        if stage not in STAGES:
            raise ScorecardError(f"--stage: expected one of {', '.join(STAGES)}, got {stage!r}")
        registry = ModelRegistry(open_workspace(workspace))
        if registry.meta(name, version)["kind"] != KIND:
            raise ScorecardError(f"{name!r} is a fraud model, not a scorecard: use 'finrisk models deploy'")
        dep = registry.deploy(name, version, stage=stage, traffic=traffic)
    _print_deployment(name, dep.as_dict())


@scoring_app.command()
def rollback(name: Annotated[str, typer.Argument(help="Scorecard name.")],
             workspace: WorkspaceOption = Path(".")) -> None:
    """Restore the deployment before the last deploy or rollback."""
    with user_errors():
        registry = ModelRegistry(open_workspace(workspace))
        kinds = {row["kind"] for row in registry.list() if row["name"] == name}
        if kinds and KIND not in kinds:
            raise ScorecardError(f"{name!r} is a fraud model, not a scorecard: use 'finrisk models rollback'")
        dep = registry.rollback(name)
    _print_deployment(name, dep.as_dict())


@scoring_app.command()
def migrate(workspace: WorkspaceOption = Path(".")) -> None:
    """Register cards trained before the registry (scorecards/NAME.json); the service also does it at start."""
    with user_errors():
        moved = migrate_legacy_scorecards(open_workspace(workspace))
    for name, version in moved:
        console.print(Text(f"registered scorecards/{name}.json as {name} v{version}"))
    if not moved:
        console.print("nothing to migrate")


def _print_deployment(name: str, dep: dict[str, object]) -> None:
    challengers = ", ".join(f"v{v} ({s:.0%})" for v, s in dep["challengers"].items()) or "none"  # type: ignore[attr-defined]
    shadows = ", ".join(f"v{v}" for v in dep["shadows"]) or "none"  # type: ignore[attr-defined]
    champion = f"v{dep['champion']}" if dep["champion"] else "none"
    console.print(Text(f"{name}: champion {champion}; challengers {challengers}; shadows {shadows}"))


def register(app: typer.Typer) -> None:
    app.add_typer(scoring_app, name="scoring")
