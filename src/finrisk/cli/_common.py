"""Options and helpers shared by every command: the --workspace option and error reporting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from finrisk.config import Workspace, load_workspace
from finrisk.errors import FinriskError

console = Console()
err_console = Console(stderr=True)

WorkspaceOption = Annotated[
    Path,
    typer.Option("--workspace", "-w", help="Workspace folder (holds finrisk.toml).", show_default="."),
]

T = TypeVar("T")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a FinriskError into a one-line message and exit code 1 instead of a traceback."""
    try:
        yield
    except FinriskError as exc:
        # The message is plain text: escape it so "[features]" and the like are not read as markup.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(1) from None


def open_workspace(path: Path) -> Workspace:
    ws = load_workspace(path)
    _ = ws.event_types  # validate declarations up front so errors surface before any work
    return ws


def run(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
