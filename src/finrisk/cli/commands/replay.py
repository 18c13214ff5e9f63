"""``finrisk replay``: run history through a candidate rule set and compare it with the live one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from finrisk.cli._common import WorkspaceOption, console, open_workspace, user_errors
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
    rules: Annotated[Path, typer.Option("--rules", "-r", help="The candidate rule-set file (YAML).")],
    start: Annotated[str, typer.Option("--from", help="First day (or ISO time) to decide.")],
    end: Annotated[str, typer.Option("--to", help="Last day (included), or an ISO time (excluded).")],
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here.")] = None,
    compare: Annotated[bool, typer.Option("--compare/--no-compare",
                                          help="Also run the published rule set and report the difference.")] = True,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Replay [FROM, TO] through a candidate rule set with the live decision code, scored against labels."""
    with user_errors():
        ws = open_workspace(workspace)
        lo, hi = _bound("--from", start, end=False), _bound("--to", end, end=True)
        if hi <= lo:
            raise WorkspaceError(f"--to: must be after --from ({start} .. {end} is empty)")
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
        if html is not None:
            html.write_text(render_html(report), encoding="utf-8")
            console.print(f"HTML report: {html}", markup=False)
        if json_out is not None:
            json_out.write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2))
            console.print(f"JSON figures: {json_out}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
