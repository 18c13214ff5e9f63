"""A replay's findings for people: a terminal summary and a self-contained HTML page.

The HTML has no scripts and fetches nothing (inline CSS, inline SVG), so it can be mailed or
attached to a change request as is. Every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from rich.console import Console
from rich.markup import escape as markup_escape
from rich.table import Table

from finrisk.decisions.replay import ReplayReport

__all__ = ["print_report", "render_html"]


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _money(x: float) -> str:
    return f"{x:,.0f}"


def print_report(report: ReplayReport, console: Console) -> None:
    """Overall figures (candidate vs published), then per-rule figures, then the daily load."""
    d = report.to_dict()
    console.print(f"Replay of {report.ruleset} over {report.start:%Y-%m-%d} .. {report.end:%Y-%m-%d}"
                  f": {report.events:,} events ({report.in_scope:,} in scope, {report.fraud:,} fraud), "
                  f"{report.warmup_events:,} warm-up events, {d['events_per_s']:,.0f} events/s", markup=False)
    overall = Table(title="Overall (flagged = any action but pass)")
    for col in ("rule set", "flagged", "precision", "recall", "false-positive rate", "fraud amount caught"):
        overall.add_column(col, justify="right" if col != "rule set" else "left")
    for label, o in (("candidate", d["candidate"]), ("published", d["published"])):
        if o is None:
            continue
        overall.add_row(markup_escape(label), f"{o['flagged']:,}", _pct(o["precision"]), _pct(o["recall"]),
                        _pct(o["false_positive_rate"]),
                        f"{_money(o['fraud_amount_caught'])} of {_money(report.fraud_amount)}")
    console.print(overall)
    rules = Table(title="Per rule")
    for col in ("rule", "hits", "hit rate", "precision", "recall", "fraud amount"):
        rules.add_column(col, justify="left" if col == "rule" else "right")
    for r in d["rules"]:
        rules.add_row(markup_escape(r["rule"]), f"{r['hits']:,}", _pct(r["hit_rate"]), _pct(r["precision"]),
                      _pct(r["recall"]), _money(r["fraud_amount"]))
    console.print(rules)
    if d["daily_load"]:
        loads = [sum(v.values()) for v in d["daily_load"].values()]
        console.print(f"Daily load (challenge + review + reject): median {sorted(loads)[len(loads) // 2]:,}, "
                      f"max {max(loads):,} over {len(loads)} days", markup=False)
    if report.baseline:
        console.print(f"Decisions that differ from {report.baseline}: {report.changed:,}", markup=False)


def render_html(report: ReplayReport) -> str:
    """The whole report as one HTML page."""
    d = report.to_dict()
    parts = [_HEAD.format(title=escape(f"Replay of {report.ruleset}"))]
    parts.append(f"<h1>Replay of <code>{escape(report.ruleset)}</code></h1>")
    parts.append(
        f"<p>{escape(f'{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC')}: "
        f"{report.events:,} events decided ({report.in_scope:,} of the types the rules look at), "
        f"{report.fraud:,} of them fraud by the ground-truth labels; {report.warmup_events:,} earlier events "
        f"warmed the feature state up. Replay ran at {d['events_per_s']:,.0f} events/s through the live "
        f"decision code.</p>")
    parts.append("<h2>Overall</h2><p>Flagged means any action but <em>pass</em>. Precision, recall and the "
                 "false-positive rate are over labelled events of the rule set's event types.</p>")
    rows = [(label, o) for label, o in (("candidate", d["candidate"]), (report.baseline or "", d["published"]))
            if o is not None]
    parts.append(_table(
        ["rule set", "flagged", "precision", "recall", "false-positive rate", "fraud amount caught", "actions"],
        [[label, f"{o['flagged']:,}", _pct(o["precision"]), _pct(o["recall"]), _pct(o["false_positive_rate"]),
          f"{_money(o['fraud_amount_caught'])} of {_money(report.fraud_amount)}",
          ", ".join(f"{k}: {v:,}" for k, v in o["actions"].items())] for label, o in rows]))
    parts.append("<h2>Per rule</h2>")
    parts.append(_table(["rule", "hits", "hit rate", "precision", "recall", "fraud amount"],
                        [[r["rule"], f"{r['hits']:,}", _pct(r["hit_rate"]), _pct(r["precision"]),
                          _pct(r["recall"]), _money(r["fraud_amount"])] for r in d["rules"]]))
    parts.append("<h2>Daily load</h2><p>Challenges, reviews and rejections per day (UTC).</p>")
    parts.append(_daily_svg(d["daily_load"]))
    if report.baseline:
        parts.append(f"<h2>Difference from {escape(report.baseline)}</h2>"
                     f"<p>{report.changed:,} decisions differ. Examples:</p>")
        parts.append(_table(
            ["event", "type", "time", "published", "candidate", "fraud", "candidate rules", "published rules"],
            [[x["event_id"], x["event_type"], x["event_time"], x["published"], x["candidate"],
              "–" if x["fraud"] is None else ("yes" if x["fraud"] else "no"),
              ", ".join(x["candidate_rules"]), ", ".join(x["published_rules"])] for x in d["changed_examples"]]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_COLOURS = {"challenge": "#e0a800", "review": "#3b7dd8", "reject": "#c0392b"}


def _daily_svg(daily: dict[str, dict[str, int]]) -> str:
    if not daily:
        return "<p>No event was challenged, reviewed or rejected.</p>"
    days = list(daily)
    top = max(sum(v.values()) for v in daily.values()) or 1
    width, height, bar = 40 + 22 * len(days), 180, 16
    out = [f'<svg width="{width}" height="{height + 40}" role="img" aria-label="daily load">']
    for i, day in enumerate(days):
        y = float(height)
        for action in ("reject", "review", "challenge"):
            n = daily[day].get(action, 0)
            h = height * n / top
            y -= h
            out.append(f'<rect x="{30 + 22 * i}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                       f'fill="{_COLOURS[action]}"><title>{escape(day)} {action}: {n}</title></rect>')
        out.append(f'<text x="{30 + 22 * i}" y="{height + 14}" font-size="9">{escape(day[5:])}</text>')
    out.append(f'<text x="0" y="12" font-size="10">{top}</text>')
    legend = "".join(f'<tspan fill="{c}">■ {a} </tspan>' for a, c in _COLOURS.items())
    out.append(f'<text x="30" y="{height + 34}" font-size="11">{legend}</text></svg>')
    return "".join(out)


_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
th:first-child,td:first-child{{text-align:left}}th{{background:#f3f3f3}}code{{background:#f3f3f3}}</style>
</head><body>"""
