"""Export a fitted scorecard as JSON (the serving artifact) or as one ANSI SQL query of ``CASE WHEN``.

The SQL follows the bin layout of :mod:`finrisk.scoring.binning` in the same order the Python scorer
uses: ``NULL`` (Missing) first, then the special codes, then the regular bins by ``<`` on their upper
cut point, and for text columns any other value (Unseen) last. Cut points are written as
``CAST(<repr of the double> AS DOUBLE PRECISION)`` so the database compares against the very same
double; points are integers, so the score is the same integer sum in both places. Missing means SQL
``NULL`` (a float NaN stored as such in a database is not recognised as missing). Sub-scores and
reason codes are not in the SQL: they need ranking across columns that plain SQL says verbosely;
compute them in Python from the points columns the query returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from finrisk.errors import ScorecardError
from finrisk.scoring.binning import CategoricalBinning

if TYPE_CHECKING:
    from finrisk.scoring.card import ScorecardModel, ScoredVariable

__all__ = ["scorecard_from_json", "scorecard_to_json", "scorecard_to_sql"]


def scorecard_to_json(model: ScorecardModel) -> str:
    return orjson.dumps(model.to_dict(), option=orjson.OPT_INDENT_2).decode("utf-8")


def scorecard_from_json(text: str | bytes) -> ScorecardModel:
    from finrisk.scoring.card import ScorecardModel

    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ScorecardError(f"scorecard JSON is malformed: {exc}") from None
    if not isinstance(data, dict):
        raise ScorecardError(f"scorecard JSON must be an object; got {type(data).__name__}")
    return ScorecardModel.from_dict(data)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _number(value: float) -> str:
    return f"CAST({value!r} AS DOUBLE PRECISION)"


def _points_case(var: ScoredVariable) -> str:
    b = var.binning
    col = _ident(b.name)
    pts = var.points
    parts = [f"WHEN {col} IS NULL THEN {pts[b.missing_index]}"]
    if isinstance(b, CategoricalBinning):
        if b.special_codes:
            codes = ", ".join(_text(c) for c in b.special_codes)
            parts.append(f"WHEN {col} IN ({codes}) THEN {pts[b.special_index]}")
        for i, group in enumerate(b.groups):
            parts.append(f"WHEN {col} IN ({', '.join(_text(c) for c in group)}) THEN {pts[i]}")
        parts.append(f"ELSE {pts[b.unseen_index]}")
    else:
        if b.special_codes:
            codes = ", ".join(_number(c) for c in b.special_codes)
            parts.append(f"WHEN {col} IN ({codes}) THEN {pts[b.special_index]}")
        for i, cut in enumerate(b.splits):
            parts.append(f"WHEN {col} < {_number(cut)} THEN {pts[i]}")
        parts.append(f"ELSE {pts[b.n_regular - 1]}")
    return "CASE " + " ".join(parts) + " END"


def scorecard_to_sql(model: ScorecardModel, table: str, *, keep: Sequence[str] = ()) -> str:
    """A ``SELECT`` over ``table`` giving ``keep`` columns, ``points_<variable>`` per variable and ``score``."""
    if not table.strip():
        raise ScorecardError("table must name a table or a parenthesised subquery; got an empty string")
    source = table if table.lstrip().startswith("(") else _ident(table)
    kept = [_ident(c) for c in keep]
    point_cols = [f"{_points_case(v)} AS {_ident('points_' + v.name)}" for v in model.variables]
    raw = " + ".join([str(model.base_points), *(_ident("points_" + v.name) for v in model.variables)])
    lo, hi = model.scale.min_score, model.scale.max_score
    inner = ",\n    ".join([*kept, *point_cols]) or "1 AS one"
    outer: list[Any] = [*kept, *(_ident("points_" + v.name) for v in model.variables)]
    outer.append(f"CASE WHEN {raw} < {lo} THEN {lo} WHEN {raw} > {hi} THEN {hi} ELSE {raw} END AS score")
    return ("SELECT\n  " + ",\n  ".join(outer) + "\nFROM (\n  SELECT\n    " + inner + f"\n  FROM {source}\n) AS points")
