"""The evaluation report a modeller reads: a terminal summary and one self-contained HTML file.

The HTML has no scripts and no external files: the ROC and precision-recall curves of the last
fold and the feature importance are inline SVG, so the file can be mailed or archived as it is.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table
from sklearn.metrics import precision_recall_curve, roc_curve

from finrisk.models.evaluate import Evaluation

__all__ = ["HANDBOOK_BEST", "html_report", "print_summary"]

#: Best published test figures of the handbook on *its own* simulated card data (not ours).
HANDBOOK_BEST = {"auc": 0.870, "average_precision": 0.687, "card_precision_at_100": 0.303}
_COLUMNS = (("auc", "ROC AUC"), ("average_precision", "AP"), ("card_precision_at_100", "CP@100"),
            ("card_precision_at_100_ceiling", "CP@100 ceiling"),
            ("recall_at_1pct_fpr", "recall@1%FPR"), ("fraud_amount_caught_1pct", "amount caught@1%"))
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def print_summary(ev: Evaluation, console: Console, *, title: str = "Held-out folds") -> None:
    """Per-fold and mean figures per model kind."""
    table = Table(title=title, title_justify="left")
    for col in ("fold", "model", "train rows (fraud)", "test rows (fraud)", *(label for _, label in _COLUMNS)):
        table.add_column(col, justify="left" if col in ("fold", "model") else "right")
    for r in ev.results:
        s = r.scores.as_dict()
        table.add_row(r.fold.describe(), r.kind, f"{r.train_rows:,} ({r.train_frauds})",
                      f"{s['events']:,} ({s['frauds']})", *(_num(s[k]) for k, _ in _COLUMNS))
    for kind in ev.kinds():
        mean = ev.mean(kind)
        table.add_row("mean", kind, "", "", *(_num(mean[k]) for k, _ in _COLUMNS), style="bold")
    console.print(table)


def _num(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{float(value):.3f}"


def _polyline(xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], colour: str, size: int) -> str:
    step = max(1, len(xs) // 400)
    pts = " ".join(f"{40 + x * size:.1f},{10 + (1 - y) * size:.1f}" for x, y in zip(xs[::step], ys[::step],
                                                                                    strict=True))
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>'


def _curve_svg(title: str, curves: Mapping[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
               xlabel: str, ylabel: str) -> str:
    size = 260
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 60}" height="{size + 50}" role="img">',
             f"<title>{html.escape(title)}</title>",
             f'<rect x="40" y="10" width="{size}" height="{size}" fill="none" stroke="#999"/>',
             f'<text x="{40 + size / 2}" y="{size + 40}" text-anchor="middle" font-size="12">{xlabel}</text>',
             f'<text x="12" y="{10 + size / 2}" font-size="12" transform="rotate(-90 12 {10 + size / 2})" '
             f'text-anchor="middle">{ylabel}</text>']
    for i, (name, (xs, ys)) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        parts.append(_polyline(xs, ys, colour, size))
        parts.append(f'<text x="{size - 40}" y="{size - 10 - 14 * i}" font-size="12" fill="{colour}">'
                     f"{html.escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _importance_svg(importance: Mapping[str, float], top: int = 20) -> str:
    items = sorted(importance.items(), key=lambda kv: -kv[1])[:top]
    width, row = 360, 18
    biggest = max((v for _, v in items), default=1.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 260}" height="{row * len(items) + 10}" '
             'role="img"><title>Feature importance</title>']
    for i, (name, value) in enumerate(items):
        y = 5 + i * row
        parts.append(f'<text x="250" y="{y + 12}" font-size="12" text-anchor="end">{html.escape(name)}</text>'
                     f'<rect x="256" y="{y + 2}" width="{value / biggest * width:.1f}" height="{row - 5}" '
                     f'fill="#1f77b4"/><text x="{262 + value / biggest * width:.1f}" y="{y + 12}" '
                     f'font-size="11">{value:.1%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(ev: Evaluation, *, title: str, protocol: str, meta: Mapping[str, Any] | None = None) -> str:
    """The whole report as one HTML string."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r.fold.describe(), r.kind, f"{r.train_rows:,} ({r.train_frauds})",
            f"{r.scores.events:,} ({r.scores.frauds})", *(_num(r.scores.as_dict()[k]) for k, _ in _COLUMNS)))
        + "</tr>" for r in ev.results)
    means = "".join(
        f"<tr><th>mean</th><th>{html.escape(kind)}</th><th></th><th></th>"
        + "".join(f"<th>{_num(ev.mean(kind)[k])}</th>" for k, _ in _COLUMNS) + "</tr>" for kind in ev.kinds())
    head = "".join(f"<th>{h}</th>" for h in ("fold", "model", "train rows (fraud)", "test rows (fraud)",
                                             *(label for _, label in _COLUMNS)))
    curves = ""
    if ev.last_labels is not None and 0 < ev.last_labels.sum() < len(ev.last_labels):
        roc = {k: roc_curve(ev.last_labels, s)[:2] for k, s in ev.last_scores.items()}
        pr = {k: precision_recall_curve(ev.last_labels, s)[:2][::-1] for k, s in ev.last_scores.items()}
        curves = (_curve_svg("ROC, last fold", roc, "false-positive rate", "true-positive rate")
                  + _curve_svg("Precision-recall, last fold", pr, "recall", "precision"))
    importance = "".join(f"<h3>{html.escape(kind)}</h3>{_importance_svg(m.importance())}"
                         for kind, m in ev.last_models.items())
    meta_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in (meta or {}).items())
    hb = ", ".join(f"{k} {v}" for k, v in HANDBOOK_BEST.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:right}}svg{{margin:1em 1em 0 0}}</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(protocol)}</p><table>{meta_rows}</table>
<h2>Held-out folds</h2><table><tr>{head}</tr>{rows}{means}</table>
<p>For reference only: the handbook's best published test figures on its own simulated card data are {hb};
these figures are on different data.</p>
<h2>Curves</h2>{curves}<h2>Feature importance (last fold)</h2>{importance}</body></html>"""
