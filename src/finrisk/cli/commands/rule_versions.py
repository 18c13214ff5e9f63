"""Rule-set version commands (publish, history, diff, rollback, shadow, export), added to the ``rules`` group.

The ``rules`` group itself belongs to the rule-language commands; this module only adds its
commands to the Typer app it is given: ``register(rules_app)``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.cli.commands.lists import ByOption, current_user, print_audit, short_time
from finrisk.rules.versions import RuleSetRepository
from finrisk.store.relational import open_database

NameArgument = Annotated[str, typer.Argument(help="The rule set's name.")]
MessageOption = Annotated[str, typer.Option("--message", "-m", help="Why (kept with the version).")]


def rule_validator() -> Callable[[str], object] | None:
    """The rule parser as a text validator, once the rule language is installed (else None: texts unchecked)."""
    try:
        module = importlib.import_module("finrisk.rules.ruleset")
    except ModuleNotFoundError as exc:
        if exc.name != "finrisk.rules.ruleset":
            raise
        return None
    parse: Callable[..., object] | None = getattr(module, "parse_ruleset", None)
    if parse is None:
        return None
    checker = parse

    def validate(text: str) -> object:
        return checker(text, file="rule set")

    return validate


@contextmanager
def open_repository(workspace: Path) -> Iterator[RuleSetRepository]:
    ws = open_workspace(workspace)
    with open_database(ws.database_url) as db:
        yield RuleSetRepository(db, validate=rule_validator())


def publish(
    file: Annotated[Path, typer.Argument(help="The rule-set YAML file to publish.")],
    message: MessageOption,
    name: Annotated[
        str | None, typer.Option("--name", help="Rule-set name (default: the file's name: key, else its stem).")
    ] = None,
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Publish a rule-set file as the next live version."""
    with user_errors(), open_repository(workspace) as repo:
        version = repo.publish_from_file(file, author=by or current_user(), message=message, name=name)
    console.print(Text(f"published {version.name} version {version.version} ({version.content_hash[:12]})"))


def history(name: NameArgument, workspace: WorkspaceOption = Path(".")) -> None:
    """Every version of a rule set, newest first, with the live and shadow versions marked."""
    with user_errors(), open_repository(workspace) as repo:
        versions = repo.history(name)
        shadow = repo.shadow(name)
    table = Table("version", "", "published", "author", "message", "hash")
    for i, v in enumerate(versions):
        mark = "live" if i == 0 else ("shadow" if shadow is not None and shadow.version == v.version else "")
        table.add_row(str(v.version), mark, short_time(v.created_at), Text(v.author), Text(v.message),
                      v.content_hash[:12])
    console.print(table)


def diff(
    name: NameArgument,
    a: Annotated[int | None, typer.Argument(help="The older version (default: the one before B).")] = None,
    b: Annotated[int | None, typer.Argument(help="The newer version (default: the live one).")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """What changed between two versions: rules added, removed and changed, then the text diff."""
    with user_errors(), open_repository(workspace) as repo:
        newer = b if b is not None else repo.published(name).version
        older = a if a is not None else newer - 1
        result = repo.diff(name, older, newer)
    if result.summarised:
        for change in result.changes:
            keys = f" ({', '.join(change.keys)})" if change.keys else ""
            console.print(Text(f"{change.change:8} {change.rule}{keys}"))
        if result.settings:
            console.print(Text(f"settings changed: {', '.join(result.settings)}"))
        if not result.changes and not result.settings:
            console.print(Text("no rule changes"))
    sys.stdout.write(result.unified)


def rollback(
    name: NameArgument,
    version: Annotated[int, typer.Argument(help="The version whose text goes live again.")],
    message: MessageOption,
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Publish an old version's text again as a new version (history is never rewritten)."""
    with user_errors(), open_repository(workspace) as repo:
        new = repo.rollback(name, version, author=by or current_user(), message=message)
    console.print(Text(f"{name} version {new.version} is live (the text of version {version})"))


def shadow(
    name: NameArgument,
    version: Annotated[int | None, typer.Argument(help="The version to run in shadow.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Stop shadowing.")] = False,
    by: ByOption = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Run a version on live traffic without affecting the action; no VERSION: show the current shadow."""
    if clear and version is not None:
        raise typer.BadParameter("give a VERSION or --clear, not both", param_hint="--clear")
    with user_errors(), open_repository(workspace) as repo:
        if clear:
            repo.set_shadow(name, None, author=by or current_user())
            console.print(Text(f"{name}: no shadow version"))
            return
        if version is not None:
            repo.set_shadow(name, version, author=by or current_user())
        current = repo.shadow(name)
    console.print(Text(f"{name}: shadow version {current.version}" if current else f"{name}: no shadow version"))


def export(
    name: NameArgument,
    version: Annotated[int | None, typer.Option("--version", help="Which version (default: the live one).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Write a version's text back to a file, exactly as it was published."""
    with user_errors(), open_repository(workspace) as repo:
        chosen = repo.published(name) if version is None else repo.get(name, version)
    if out is None:
        sys.stdout.write(chosen.text)
    else:
        out.write_text(chosen.text, encoding="utf-8")
        console.print(Text(f"wrote {name} version {chosen.version} to {out}"))


def audit(
    name: Annotated[str | None, typer.Argument(help="One rule set; none: every rule set.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show the newest this many records.")] = 50,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Who published, rolled back or shadowed which rule set, and when (newest first)."""
    with user_errors(), open_repository(workspace) as repo:
        records = repo.audit(name, limit=limit)
    print_audit(records, reveal=True)


def register(app: typer.Typer) -> None:
    """Add the version commands to the ``rules`` command group."""
    for command in (publish, history, diff, rollback, shadow, export, audit):
        app.command()(command)
