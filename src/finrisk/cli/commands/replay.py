"""``finrisk replay``: run history through a candidate rule set and compare it with the live one, or
(``--as-of-then``) reproduce the logged decisions as they were made and show what would differ now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
from finrisk.config import Workspace
from finrisk.decisions.as_of import replay_as_of_then
from finrisk.decisions.as_of_report import print_as_of, render_as_of_html
from finrisk.decisions.declared_lists import declare_lists
from finrisk.decisions.replay import replay
from finrisk.decisions.replay_report import print_report, render_html
from finrisk.errors import WorkspaceError
from finrisk.rules import RuleSet, load_ruleset, parse_ruleset
from finrisk.rules.lists import ListStore
from finrisk.rules.versions import RuleSetRepository
from finrisk.store.relational import open_database


def _bound(option: str, text: str, *, end: bool) -> datetime:
    """A day (``--to`` includes it) or an ISO time, as an aware UTC datetime."""
    try:
        if len(text) == 10:
            day = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WorkspaceError(f"{option}: expected a date such as 2026-03-01 or an ISO time, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _published(repo: RuleSetRepository, name: str) -> tuple[str, RuleSet] | None:
    """The live version of the candidate's rule set, to compare against (None before the first publish)."""
    live = repo.find_published(name)
    if live is None:
        return None
    return f"{name}@{live.version}", parse_ruleset(live.text, file=f"{name}@{live.version}")


def replay_command(
    rules: Annotated[Path | None, typer.Option("--rules", "-r", help="The candidate rule-set file (YAML).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day (or ISO time) to decide.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (included), or an ISO time (excluded).")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
    compare: Annotated[bool, typer.Option("--compare/--no-compare",
                                          help="Also run the published rule set and report the difference.")] = True,
    as_of_then: Annotated[bool, typer.Option(
        "--as-of-then", help="Reproduce the logged decisions with the rules, lists and models of their moment "
                             "(exit 1 if any differs from the stored one) and report what would differ now.")] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Replay [FROM, TO] through a candidate rule set with the live decision code, scored against labels.

    With --as-of-then: reproduce the stored decisions exactly as they were made, and list those
    that today's rules, lists and models would decide differently.
    """
    with user_errors():
        ws = open_workspace(workspace)
        lo = None if start is None else _bound("--from", start, end=False)
        hi = None if end is None else _bound("--to", end, end=True)
        if lo is not None and hi is not None and hi <= lo:
            raise WorkspaceError(f"--to: must be after --from ({start} .. {end} is empty)")
        if as_of_then:
            if rules is not None:
                raise WorkspaceError("--rules: not used with --as-of-then (the rules in force at each "
                                     "decision's time are replayed)")
            ok = _as_of_then(ws, lo, hi, html, json_out)
        else:
            if rules is None or lo is None or hi is None:
                missing = [o for o, v in (("--rules", rules), ("--from", lo), ("--to", hi)) if v is None]
                raise WorkspaceError(f"{missing[0]}: required (unless --as-of-then); missing {', '.join(missing)}")
            _candidate(ws, rules, lo, hi, html, json_out, compare=compare)
            ok = True
    if not ok:
        raise typer.Exit(1)


def _as_of_then(ws: Workspace, lo: datetime | None, hi: datetime | None, html: Path | None,
                json_out: Path | None) -> bool:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("replaying as of then", total=None)
        report = replay_as_of_then(ws, start=lo, end=hi,
                                   progress=lambda n: bar.update(task, description=f"as of then: {n:,} events"))
    print_as_of(report, console)
    _write(html, render_as_of_html(report), json_out, report.to_dict())
    return report.ok


def _candidate(ws: Workspace, rules: Path, lo: datetime, hi: datetime, html: Path | None, json_out: Path | None,
               *, compare: bool) -> None:
    candidate = load_ruleset(rules)
    with open_database(ws.database_url) as db:
        lists = ListStore(db)
        try:
            declare_lists(ws.root / ws.settings.rules.lists_file, lists, root=ws.root)
            baseline = _published(RuleSetRepository(db), candidate.name) if compare else None
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                          console=console, transient=True) as bar:
                task = bar.add_task("replaying", total=None)
                report = replay(ws, candidate, start=lo, end=hi, baseline=baseline, lists=lists,
                                list_names=frozenset(lists.list_names()),
                                progress=lambda n: bar.update(task, description=f"replaying: {n:,} events"))
        finally:
            lists.close()
    print_report(report, console)
    _write(html, render_html(report), json_out, report.to_dict())


def _write(html: Path | None, page: str, json_out: Path | None, figures: dict[str, Any]) -> None:
    if html is not None:
        html.write_text(page, encoding="utf-8")
        console.print(f"HTML report: {html}", markup=False)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        console.print(f"JSON figures: {json_out}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
