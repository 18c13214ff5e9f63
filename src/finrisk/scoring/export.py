"""Export a fitted scorecard as JSON (the serving artifact) or as one ANSI SQL query of ``CASE WHEN``.

The SQL follows the bin layout of :mod:`finrisk.scoring.binning` in the same order the Python scorer
uses: ``NULL`` (Missing) first, then the special codes, then the regular bins by ``<`` on their upper
cut point, and for text columns any other value (Unseen) last. Cut points are written as
``CAST(<repr of the double> AS DOUBLE PRECISION)`` so the database compares against the very same
double; points are integers, so the score is the same integer sum in both places. Missing means SQL
``NULL`` (a float NaN stored as such in a database is not recognised as missing).

Sub-scores and reasons are integer arithmetic too, so SQL and Python agree exactly:

* ``subscore_<dimension>`` is ``100 * (points - worst) / (best - worst)`` rounded half to even (as
  ``numpy.rint`` and Python's ``round``), computed as a quotient ``FLOOR`` and its remainder: the
  double division is exact enough because an exact quotient is representable and any other lies at
  least ``1 / (best - worst)`` away from an integer;
* ``reason_1`` .. ``reason_<n_reasons>``: each variable's rank is the number of variables with a larger
  shortfall (best bin's points minus the record's) plus the earlier ones with an equal shortfall, so
  ``reason_m`` is the code ranked ``m - 1`` when its shortfall is positive, else ``NULL`` (the
  in-process order: largest first, ties in card order). Ranks cost ``variables²`` comparisons, a few
  hundred terms for a 10-20 variable card.
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


def _subscore(total: str, lo: int, hi: int) -> str:
    """``rint(100 * (total - lo) / (hi - lo))`` with halves to even, in integers (see the module docstring)."""
    if hi == lo:
        return "100"
    span = hi - lo
    num = f"(100 * ({total} - ({lo})))"
    quotient = f"CAST(FLOOR(CAST({num} AS DOUBLE PRECISION) / {span}) AS INTEGER)"
    twice_rest = f"(2 * ({num} - {span} * {quotient}))"
    return (f"({quotient} + CASE WHEN {twice_rest} > {span} OR ({twice_rest} = {span} AND MOD({quotient}, 2) = 1) "
            "THEN 1 ELSE 0 END)")


def _reason_columns(model: ScorecardModel) -> list[str]:
    """``reason_1`` .. ``reason_k``: the codes by rank of positive shortfall (see the module docstring)."""
    shortfall = [f"({v.best_points} - {_ident('points_' + v.name)})" for v in model.variables]
    ranks = []
    for j, sf in enumerate(shortfall):
        terms = [f"CASE WHEN {other} {'>=' if i < j else '>'} {sf} THEN 1 ELSE 0 END"
                 for i, other in enumerate(shortfall) if i != j]
        ranks.append(" + ".join(terms) or "0")
    columns = []
    for m in range(model.n_reasons):
        whens = " ".join(f"WHEN {sf} > 0 AND {rank} = {m} THEN {_text(v.reason_code)}"
                         for v, sf, rank in zip(model.variables, shortfall, ranks, strict=True))
        columns.append(f"CASE {whens} ELSE NULL END AS {_ident(f'reason_{m + 1}')}" if whens
                       else f"CAST(NULL AS VARCHAR(64)) AS {_ident(f'reason_{m + 1}')}")
    return columns


def scorecard_to_sql(model: ScorecardModel, table: str, *, keep: Sequence[str] = ()) -> str:
    """A ``SELECT`` over ``table`` giving ``keep`` columns, ``points_<variable>`` per variable, ``score``,
    ``subscore_<dimension>`` per dimension and ``reason_1`` .. ``reason_<n_reasons>``."""
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
    for dim, (worst, best) in model.subscore_bounds.items():
        total = " + ".join(_ident("points_" + v.name) for v in model.variables if v.dimension == dim)
        outer.append(f"{_subscore(total, worst, best)} AS {_ident('subscore_' + dim)}")
    outer.extend(_reason_columns(model))
    return ("SELECT\n  " + ",\n  ".join(outer) + "\nFROM (\n  SELECT\n    " + inner + f"\n  FROM {source}\n) AS points")
