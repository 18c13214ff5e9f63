"""``finrisk init DIR``: make a workspace folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finrisk.cli._common import console, user_errors
from finrisk.config import init_workspace


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    name: Annotated[str | None, typer.Option(help="Workspace name (default: the folder name).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing finrisk.toml.")] = False,
    features: Annotated[str, typer.Option(help="Feature set to start from: demo (the simulated world) or "
                                                "handbook (card payments, the fraud-detection handbook).")] = "demo",
) -> None:
    """Create a workspace: finrisk.toml, the built-in event types and the demo features, ready to edit."""
    with user_errors():
        ws = init_workspace(directory, name=name, force=force, features=features)
    console.print(f"Created workspace [bold]{ws.settings.workspace.name}[/] in {ws.root}")
    console.print(f"  event types: {', '.join(ws.event_types.names)}  (event_types.yaml)")
    console.print(f"  features:    {len(ws.features)} declared  (features.yaml)")
    console.print(f"Next: finrisk load FILE --workspace {directory}")


def register(app: typer.Typer) -> None:
    app.command()(init)
