"""The ``--as-of-then`` findings for people: a terminal summary and an HTML section.

The audit proof comes first and loudly: how many stored decisions were reproduced exactly, and
every mismatch with the fields that differ. Then what would change today: counts by
``then -> now`` action, per-rule hit changes and the changed decisions.
"""

from __future__ import annotations

from html import escape
from typing import Any

from rich.console import Console
from rich.markup import escape as markup_escape
from rich.table import Table

from finrisk.decisions.as_of import AsOfReport
from finrisk.decisions.replay_report import _HEAD, _table

__all__ = ["print_as_of", "render_as_of_html"]


def _period(report: AsOfReport) -> str:
    lo = "the start" if report.start is None else f"{report.start:%Y-%m-%d %H:%M}"
    hi = "now" if report.end is None else f"{report.end:%Y-%m-%d %H:%M}"
    return f"{lo} .. {hi} UTC"


def print_as_of(report: AsOfReport, console: Console, *, show: int = 50) -> None:
    """Proof line (red on any mismatch), then transitions, per-rule changes and changed decisions."""
    d = report.to_dict()
    console.print(f"As-of-then replay of {_period(report)}: {report.events:,} logged events, "
                  f"{report.decisions:,} stored decisions ({report.seconds:.1f} s)", markup=False)
    if not report.decisions:
        console.print("No stored decision in the log for this period: nothing to reproduce.", markup=False)
        return
    if report.ok:
        console.print(f"[green]Reproduced exactly: {report.reproduced:,} of {report.decisions:,} "
                      f"(0 mismatches)[/green]")
    else:
        console.print(f"[bold red]MISMATCH: {report.mismatch_count:,} stored decisions are NOT reproduced by the "
                      f"rules, lists and models in force when they were made[/bold red]")
        table = Table(title="Mismatches (stored vs reproduced)")
        for col in ("event", "decision", "time", "fields that differ", "stored", "reproduced"):
            table.add_column(col)
        for m in d["mismatched_decisions"][:show]:
            table.add_row(*_cells(m["event_id"], m["decision_id"], m["event_time"], ", ".join(m["fields"]),
                          _short(m["stored"]), _short(m["reproduced"])))
        console.print(table)
    versions = ", ".join(f"{k}: {v:,}" for k, v in d["then_versions"].items())
    console.print(f"Decided then by {versions}; now by {', '.join(d['now_versions'])}", markup=False)
    trans = Table(title="Then -> now")
    for col in ("then -> now", "decisions"):
        trans.add_column(col, justify="right" if col == "decisions" else "left")
    for t in d["transitions"]:
        trans.add_row(*_cells(f"{t['then']} -> {t['now']}", f"{t['decisions']:,}"))
    console.print(trans)
    changed_rules = [r for r in d["rules"] if r["gained"] or r["lost"]]
    if changed_rules:
        rules = Table(title="Rules whose hits change")
        for col in ("rule", "hits then", "hits now", "gained", "lost"):
            rules.add_column(col, justify="left" if col == "rule" else "right")
        for r in changed_rules:
            rules.add_row(*_cells(r["rule"], f"{r['then_hits']:,}", f"{r['now_hits']:,}", f"{r['gained']:,}",
                          f"{r['lost']:,}"))
        console.print(rules)
    console.print(f"Decisions that would now come out differently: {report.changed_count:,}", markup=False)
    if d["changed_decisions"]:
        changed = Table()
        for col in ("event", "time", "then", "now", "rules then only", "rules now only"):
            changed.add_column(col)
        for c in d["changed_decisions"][:show]:
            changed.add_row(*_cells(c["event_id"], c["event_time"], c["then_action"], c["now_action"],
                            ", ".join(c["rules_then_only"]), ", ".join(c["rules_now_only"])))
        console.print(changed)
        if report.changed_count > show:
            console.print(f"(first {show} shown; --json lists up to 1,000)", markup=False)
    for caveat in report.caveats:
        console.print(f"note: {caveat}", markup=False)


def _cells(*values: object) -> list[str]:
    return [markup_escape(str(v)) for v in values]


def _short(values: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in values.items())
    return text if len(text) <= 120 else text[:117] + "..."


def render_as_of_html(report: AsOfReport) -> str:
    """The as-of-then report as one self-contained HTML page (no scripts, every value escaped)."""
    d = report.to_dict()
    parts = [_HEAD.format(title="As-of-then replay")]
    parts.append("<h1>Decisions as of then, and as of now</h1>")
    parts.append(f"<p>{escape(_period(report))}: {report.events:,} logged events, {report.decisions:,} stored "
                 "decisions replayed through the live decision code with the rule-set versions (published and "
                 "shadow), list entries and model deployments in force when each was made, then again with "
                 f"today's ({escape(report.now_at.isoformat())}).</p>")
    parts.append("<h2>Audit proof: stored vs reproduced</h2>")
    if report.ok:
        parts.append(f"<p><strong>All {report.reproduced:,} stored decisions were reproduced exactly</strong> "
                     "(action, score, rule hits, reasons, features, versions, shadow verdicts).</p>")
    else:
        parts.append(f'<p style="color:#c0392b"><strong>MISMATCH: {report.mismatch_count:,} of '
                     f"{report.decisions:,} stored decisions differ from their reproduction.</strong></p>")
        parts.append(_table(["event", "decision", "time", "fields that differ", "stored", "reproduced"],
                            [[m["event_id"], m["decision_id"], m["event_time"], ", ".join(m["fields"]),
                              _short(m["stored"]), _short(m["reproduced"])] for m in d["mismatched_decisions"]]))
    parts.append("<h2>What would now come out differently</h2>")
    parts.append(_table(["then", "now", "decisions"],
                        [[t["then"], t["now"], f"{t['decisions']:,}"] for t in d["transitions"]]))
    parts.append(_table(["rule", "hits then", "hits now", "gained", "lost"],
                        [[r["rule"], r["then_hits"], r["now_hits"], r["gained"], r["lost"]] for r in d["rules"]]))
    parts.append(f"<p>{report.changed_count:,} decisions would now differ (action or rules hit):</p>")
    parts.append(_table(["event", "type", "time", "then", "now", "rule set then", "rules then only",
                         "rules now only"],
                        [[c["event_id"], c["event_type"], c["event_time"], c["then_action"], c["now_action"],
                          c["then_ruleset"], ", ".join(c["rules_then_only"]), ", ".join(c["rules_now_only"])]
                         for c in d["changed_decisions"]]))
    if report.caveats:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(c)}</li>" for c in report.caveats) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
