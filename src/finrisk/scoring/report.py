"""A scorecard report: bins per variable, IV ranking, AUC/KS/Gini, score distribution, PSI and CSI.

:func:`build_report` computes the figures once into a :class:`ScorecardReport`; ``print_report``
renders it in the terminal with rich and ``to_html`` as one self-contained page whose plots are
inline SVG drawn here (no plotting dependency, nothing fetched by the browser).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from finrisk.scoring.card import ScorecardModel
from finrisk.scoring.metrics import auc, gini, ks, psi, score_bands

__all__ = ["ScorecardReport", "build_report", "print_report"]


@dataclass
class ScorecardReport:
    """Figures of one scorecard on one sample (and, optionally, its stability against a baseline)."""

    name: str
    rows: int
    bad_rate: float | None
    metrics: dict[str, float]
    iv_ranking: list[tuple[str, float, bool]]  # (variable, IV, in the card)
    bins: dict[str, list[dict[str, Any]]]  # per card variable: label, count, share, bads, bad_rate, woe, points
    score_bands: list[dict[str, Any]]  # band, count, share, bad_rate[, baseline_share]
    psi: float | None = None
    csi: dict[str, float] = field(default_factory=dict)

    def to_html(self) -> str:
        return _html(self)


def _bands(scores: np.ndarray, lo: int, hi: int) -> np.ndarray:
    edges = score_bands(lo, hi)
    return np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, edges.size - 1)


def build_report(
    model: Any, X: Any, y: Any = None, *, baseline: Any = None, name: str | None = None
) -> ScorecardReport:
    """Report ``model`` (a fitted :class:`~finrisk.scoring.Scorecard` or a ScorecardModel) on ``X``.

    ``y`` (1 = bad) adds AUC, KS, Gini and bad rates; ``baseline`` (rows like ``X``, e.g. the
    development sample) adds PSI of the score bands and CSI of every card variable.
    """
    card: ScorecardModel = getattr(model, "model_", model)
    ivs: dict[str, float] = dict(getattr(model, "iv_", {v.name: v.binning.iv for v in card.variables}))
    in_card = set(card.feature_names)
    bins = card.bin_indices(X)
    scores = card.score(bins)
    target = None if y is None else (np.asarray(y) == (model.classes_[1] if hasattr(model, "classes_") else 1))
    metrics: dict[str, float] = {}
    if target is not None and 0 < target.sum() < target.size:
        p_bad = card.probability(bins)
        metrics = {"auc": auc(target, p_bad), "ks": ks(target, p_bad), "gini": gini(target, p_bad),
                   "auc_of_points": auc(target, -scores)}
    edges = score_bands(card.scale.min_score, card.scale.max_score)
    band = _bands(scores, card.scale.min_score, card.scale.max_score)
    counts = np.bincount(band, minlength=edges.size)
    base_counts = None
    report_psi = None
    csi: dict[str, float] = {}
    if baseline is not None:
        base_bins = card.bin_indices(baseline)
        base_counts = np.bincount(_bands(card.score(base_bins), card.scale.min_score, card.scale.max_score),
                                  minlength=edges.size)
        report_psi = psi(base_counts, counts)
        for j, v in enumerate(card.variables):
            n_bins = len(v.points)
            csi[v.name] = psi(np.bincount(base_bins[:, j], minlength=n_bins), np.bincount(bins[:, j], minlength=n_bins))
    band_rows = []
    for i, lo in enumerate(edges):
        row: dict[str, Any] = {"band": f"{lo}-{min(lo + 50, card.scale.max_score)}", "count": int(counts[i]),
                               "share": float(counts[i] / max(len(scores), 1))}
        if target is not None:
            row["bad_rate"] = float(target[band == i].mean()) if counts[i] else None
        if base_counts is not None:
            row["baseline_share"] = float(base_counts[i] / max(base_counts.sum(), 1))
        band_rows.append(row)
    tables: dict[str, list[dict[str, Any]]] = {}
    for j, v in enumerate(card.variables):
        labels = v.binning.labels()
        rows_here = []
        for b, label in enumerate(labels):
            hit = bins[:, j] == b
            count = int(hit.sum())
            rows_here.append({"bin": label, "count": count, "share": count / max(len(scores), 1),
                              "bads": int(target[hit].sum()) if target is not None else None,
                              "bad_rate": float(target[hit].mean()) if target is not None and count else None,
                              "woe": v.binning.woe[b], "points": v.points[b]})
        tables[v.name] = rows_here
    ranking = sorted(((n, float(iv), n in in_card) for n, iv in ivs.items()), key=lambda t: (-t[1], t[0]))
    return ScorecardReport(name=name or card.name, rows=len(scores),
                           bad_rate=float(target.mean()) if target is not None else None, metrics=metrics,
                           iv_ranking=ranking, bins=tables, score_bands=band_rows, psi=report_psi, csi=csi)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def print_report(report: ScorecardReport, console: Console | None = None) -> None:
    """Render the report as rich tables (text is data, never markup)."""
    out = console or Console()
    head = f"{report.name}: {report.rows:,} rows"
    if report.bad_rate is not None:
        head += f", bad rate {report.bad_rate:.2%}"
    out.print(Text(head, style="bold"))
    if report.metrics:
        out.print(Text("  ".join(f"{k.upper()} {v:.4f}" for k, v in report.metrics.items())))
    if report.psi is not None:
        out.print(Text(f"PSI of the score vs baseline {report.psi:.4f}"))
    ranking = Table("variable", "IV", "in card", "CSI", title="IV ranking")
    for n, iv, chosen in report.iv_ranking:
        ranking.add_row(Text(n), f"{iv:.4f}", "yes" if chosen else "", _fmt(report.csi.get(n), 4))
    out.print(ranking)
    for name, rows in report.bins.items():
        t = Table("bin", "count", "share", "bads", "bad rate", "WoE", "points", title=f"bins of {name}")
        for r in rows:
            t.add_row(Text(r["bin"]), str(r["count"]), f"{r['share']:.2%}", _fmt(r["bads"]), _fmt(r["bad_rate"]),
                      f"{r['woe']:.3f}", str(r["points"]))
        out.print(t)
    dist = Table("score band", "count", "share", "bad rate", title="score distribution")
    for r in report.score_bands:
        dist.add_row(r["band"], str(r["count"]), f"{r['share']:.2%}", _fmt(r.get("bad_rate")))
    out.print(dist)


def _bar_svg(labels: list[str], values: list[float], *, overlay: list[float | None] | None = None,
             width: int = 640, height: int = 220) -> str:
    """Vertical bars (and an optional line on a 0-1 scale, e.g. bad rate) as an inline SVG."""
    n = max(len(values), 1)
    top = max(max((abs(v) for v in values), default=0.0), 1e-12)
    bw = (width - 40) / n
    base = height - 40 if min(values, default=0.0) >= 0 else (height - 40) / 2
    scale = (height - 60) / top if min(values, default=0.0) >= 0 else (height - 60) / (2 * top)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        x = 30 + i * bw
        h = abs(v) * scale
        y = base - h if v >= 0 else base
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.8:.1f}" height="{h:.1f}" fill="#4c78a8">'
                     f"<title>{html.escape(lab)}: {v:.4g}</title></rect>")
        parts.append(f'<text x="{x + bw * 0.4:.1f}" y="{height - 22}" font-size="9" text-anchor="middle">'
                     f"{html.escape(lab[:10])}</text>")
    if overlay:
        pts = [(30 + i * bw + bw * 0.4, (height - 40) - (o or 0.0) * (height - 60))
               for i, o in enumerate(overlay) if o is not None]
        if pts:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="#e45756" stroke-width="2"/>')
    parts.append(f'<line x1="25" y1="{base:.1f}" x2="{width - 5}" y2="{base:.1f}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _table_html(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(r: ScorecardReport) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(r.name)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}</style></head><body>",
             f"<h1>{html.escape(r.name)}</h1><p>{r.rows:,} rows"]
    if r.bad_rate is not None:
        parts.append(f", bad rate {r.bad_rate:.2%}")
    parts.append("</p>")
    if r.metrics:
        parts.append(_table_html([k.upper() for k in r.metrics], [list(r.metrics.values())]))
    if r.psi is not None:
        parts.append(f"<p>PSI of the score vs baseline: {r.psi:.4f}</p>")
    parts.append("<h2>Score distribution</h2><p>bars: share of rows; line: bad rate</p>")
    parts.append(_bar_svg([b["band"] for b in r.score_bands], [b["share"] for b in r.score_bands],
                          overlay=[b.get("bad_rate") for b in r.score_bands]))
    parts.append(_table_html(["band", "count", "share", "bad rate", "baseline share"],
                             [[b["band"], b["count"], b["share"], b.get("bad_rate"), b.get("baseline_share")]
                              for b in r.score_bands]))
    parts.append("<h2>IV ranking</h2>")
    parts.append(_table_html(["variable", "IV", "in card", "CSI"],
                             [[n, iv, "yes" if c else "", r.csi.get(n)] for n, iv, c in r.iv_ranking]))
    for name, rows in r.bins.items():
        parts.append(f"<h2>{html.escape(name)}</h2><p>bars: WoE (higher = riskier)</p>")
        parts.append(_bar_svg([b["bin"] for b in rows], [b["woe"] for b in rows]))
        parts.append(_table_html(["bin", "count", "share", "bads", "bad rate", "WoE", "points"],
                                 [[b["bin"], b["count"], b["share"], b["bads"], b["bad_rate"], b["woe"], b["points"]]
                                  for b in rows]))
    parts.append("</body></html>")
    return "".join(parts)
