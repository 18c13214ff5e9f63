"""Filter expressions of feature declarations, compiled to Python and to SQL with one meaning.

A filter such as ``txn_type == 'transfer' and amount >= 100`` decides which events feed a
feature. The online engine evaluates it in Python and the offline compiler in DuckDB SQL, so
both compilations must agree, including on nulls: the filter uses SQL's three-valued logic (a
comparison with a missing value is *unknown*, ``not unknown`` is unknown, and an event passes only
when the filter is *true*).

Grammar (a safe subset of Python expression syntax, parsed by :mod:`ast` and checked node by
node; anything else is refused, so a filter can never call, import or reach an attribute)::

    expr    := expr 'and' expr | expr 'or' expr | 'not' expr | cmp | '(' expr ')'
    cmp     := operand OP operand | operand ('in' | 'not in') '[' literal, ... ']'
             | field 'is' 'None' | field 'is not' 'None'   (also: == None / != None)
    OP      := == != < <= > >=
    operand := field | literal (string, number, true/false)
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Filter", "FilterSyntaxError", "parse_filter"]

Row = Mapping[str, Any]
Tri = bool | None  # three-valued truth: True, False, or None (unknown)


class FilterSyntaxError(ValueError):
    """A filter is not in the grammar; ``column`` is 1-based within the filter text."""

    def __init__(self, message: str, column: int | None = None) -> None:
        self.column = column
        where = f" (at column {column})" if column is not None else ""
        super().__init__(f"{message}{where}")


_CMP_SQL = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_CMP_PY: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: bool(a == b),
    ast.NotEq: lambda a, b: bool(a != b),
    ast.Lt: lambda a, b: bool(a < b),
    ast.LtE: lambda a, b: bool(a <= b),
    ast.Gt: lambda a, b: bool(a > b),
    ast.GtE: lambda a, b: bool(a >= b),
}

Evaluator = Callable[[Row], Any]


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Filter:
    """A compiled filter: :meth:`matches` (Python) and :attr:`sql` (a DuckDB boolean expression)."""

    text: str
    fields: frozenset[str]
    sql: str
    comparisons: tuple[tuple[str, Any], ...]
    _eval: Callable[[Row], Tri]

    def matches(self, row: Row) -> bool:
        """True only when the filter is true for ``row`` (unknown counts as not matching)."""
        return self._eval(row) is True


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text
        self.fields: set[str] = set()
        self.comparisons: list[tuple[str, Any]] = []  # (field, literal) pairs, for type checks

    def note(self, left: ast.expr, right: ast.expr) -> None:
        for a, b in ((left, right), (right, left)):
            if isinstance(a, ast.Name) and isinstance(b, ast.Constant):
                self.comparisons.append((a.id, b.value))
            if isinstance(a, ast.Name) and isinstance(b, ast.UnaryOp) and isinstance(b.operand, ast.Constant):
                self.comparisons.append((a.id, b.operand.value))

    def fail(self, node: ast.AST, message: str) -> FilterSyntaxError:
        return FilterSyntaxError(message, getattr(node, "col_offset", -1) + 1)

    # --- operands -------------------------------------------------------------------------------
    def operand(self, node: ast.expr) -> tuple[Evaluator, str]:
        if isinstance(node, ast.Name):
            name = node.id
            self.fields.add(name)
            return (lambda row: row.get(name)), _quote(name)
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
            value = node.value
            if isinstance(value, float) and not math.isfinite(value):
                raise self.fail(node, f"number literals must be finite, got {ast.unparse(node)!r}")
            return (lambda row: value), _sql_literal(value)
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)
        ):
            neg = -node.operand.value
            return (lambda row: neg), repr(neg)
        raise self.fail(node, f"expected a field name or a literal, got {ast.unparse(node)!r}")

    # --- boolean expressions --------------------------------------------------------------------
    def boolean(self, node: ast.expr) -> tuple[Callable[[Row], Tri], str]:
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(v) for v in node.values]
            fns = [p[0] for p in parts]
            if isinstance(node.op, ast.And):
                sql = "(" + " AND ".join(p[1] for p in parts) + ")"
                return _junction(fns, decisive=False), sql
            sql = "(" + " OR ".join(p[1] for p in parts) + ")"
            return _junction(fns, decisive=True), sql
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            fn, sql = self.boolean(node.operand)
            return (lambda row: None if (v := fn(row)) is None else not v), f"(NOT {sql})"
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Name):  # a boolean field used on its own
            name = node.id
            self.fields.add(name)

            def field_truth(row: Row) -> Tri:
                v = row.get(name)
                return None if v is None else bool(v)

            return field_truth, f"({_quote(name)} = TRUE)"
        raise self.fail(node, f"expected a comparison, 'and', 'or' or 'not', got {ast.unparse(node)!r}")

    def compare(self, node: ast.Compare) -> tuple[Callable[[Row], Tri], str]:
        if len(node.ops) != 1:
            raise self.fail(node, "chained comparisons are not allowed; join them with 'and'")
        op, right = node.ops[0], node.comparators[0]
        if isinstance(op, (ast.Is, ast.IsNot)) or (
            isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(right, ast.Constant) and right.value is None
        ):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise self.fail(node, "'is' / 'is not' may only compare with None")
            left, left_sql = self.operand(node.left)
            if isinstance(op, (ast.Is, ast.Eq)):
                return (lambda row: left(row) is None), f"({left_sql} IS NULL)"
            return (lambda row: left(row) is not None), f"({left_sql} IS NOT NULL)"
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (ast.List, ast.Tuple, ast.Set)) or not right.elts:
                raise self.fail(node, "'in' needs a non-empty list of literals, e.g. x in ['a', 'b']")
            values = []
            for elt in right.elts:
                if not (isinstance(elt, ast.Constant) and isinstance(elt.value, (str, int, float, bool))):
                    raise self.fail(elt, "'in' lists may hold only literals")
                if isinstance(elt.value, float) and not math.isfinite(elt.value):
                    raise self.fail(elt, f"number literals must be finite, got {ast.unparse(elt)!r}")
                values.append(elt.value)
            left, left_sql = self.operand(node.left)
            for v in values:
                self.note(node.left, ast.Constant(v))
            allowed = frozenset(values)
            sql_list = ", ".join(_sql_literal(v) for v in values)
            negate = isinstance(op, ast.NotIn)

            def member(row: Row) -> Tri:
                v = left(row)
                if v is None:
                    return None
                return (v not in allowed) if negate else (v in allowed)

            return member, f"({left_sql} {'NOT IN' if negate else 'IN'} ({sql_list}))"
        cmp_type = type(op)
        if cmp_type not in _CMP_PY:
            raise self.fail(node, f"operator {ast.unparse(node)!r} is not allowed")
        left, left_sql = self.operand(node.left)
        right_fn, right_sql = self.operand(right)
        self.note(node.left, right)
        py = _CMP_PY[cmp_type]

        def comparison(row: Row) -> Tri:
            a, b = left(row), right_fn(row)
            if a is None or b is None:
                return None
            try:
                return py(a, b)
            except TypeError:
                return None

        return comparison, f"({left_sql} {_CMP_SQL[cmp_type]} {right_sql})"


def _junction(fns: list[Callable[[Row], Tri]], *, decisive: bool) -> Callable[[Row], Tri]:
    """SQL AND (``decisive=False``: any false decides) or OR (``decisive=True``: any true decides)."""

    def combined(row: Row) -> Tri:
        unknown = False
        for fn in fns:
            v = fn(row)
            if v is decisive:
                return decisive
            if v is None:
                unknown = True
        return None if unknown else not decisive

    return combined


def parse_filter(text: str) -> Filter:
    """Compile a filter; :class:`FilterSyntaxError` says what is wrong and at which column.

    Examples
    --------
    >>> f = parse_filter("txn_type == 'transfer' and not (status == 'failed')")
    >>> f.matches({"txn_type": "transfer", "status": None})  # not unknown -> unknown -> no
    False
    >>> print(f.sql)
    (("txn_type" = 'transfer') AND (NOT ("status" = 'failed')))
    """
    if not isinstance(text, str) or not text.strip():
        raise FilterSyntaxError("a filter must be a non-empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FilterSyntaxError(f"not a valid expression: {exc.msg}", exc.offset) from None
    compiler = _Compiler(text)
    fn, sql = compiler.boolean(tree.body)
    return Filter(
        text=text,
        fields=frozenset(compiler.fields),
        sql=sql,
        comparisons=tuple(compiler.comparisons),
        _eval=fn,
    )
