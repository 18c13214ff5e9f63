"""Condition text -> checked syntax tree, with every refusal naming the line and column.

Why Python's :mod:`ast` and not a hand parser: the language *is* a subset of Python expression
syntax (analysts know it, editors highlight it), and CPython's parser is exact, fast and gives good
messages ("'(' was never closed", "Perhaps you forgot a comma?"). Safety does not come from the
parser but from what follows: every node is converted by an explicit whitelist into the few node
types of ``_ir``; anything else (attribute chains, subscripts, lambdas, comprehensions, f-strings,
``:=``, ``*``-args, ``**``, imports, dunder names) is refused with its position. The text is wrapped
as ``(\\n`` + text + ``\\n)`` so a condition may span lines; positions are mapped back (lines minus
one, UTF-8 byte columns to characters). Text length and nesting depth are capped before any
recursion, so no input can exhaust the stack or the memory.
"""

from __future__ import annotations

import ast
import math
import re
import tokenize
from collections.abc import Iterable

from finrisk.errors import RuleSyntaxError
from finrisk.rules.language import _ir as ir
from finrisk.rules.language._ir import Kind
from finrisk.rules.language._names import ALL_NAMESPACES, NAMESPACES, RuleNames, suggest, valid_identifier
from finrisk.rules.language._runtime import FUNCTIONS

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MAX_LIST", "Parsed", "parse_condition"]

MAX_LENGTH = 4000
MAX_DEPTH = 40
MAX_LIST = 500
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%"}
_REFUSED_OPS = {ast.Pow: "'**' (power)", ast.FloorDiv: "'//'", ast.MatMult: "'@'", ast.LShift: "'<<'",
                ast.RShift: "'>>'", ast.BitAnd: "'&' (use 'and')", ast.BitOr: "'|' (use 'or')", ast.BitXor: "'^'"}
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda expressions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.Subscript: "subscripts (x[...]) are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed (use a list after 'in': x in [1, 2])",
    ast.IfExp: "conditional expressions (a if c else b) are not allowed; use coalesce() or 'and'/'or'",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.List: "a list is only allowed after 'in' or 'not in'",
    ast.Tuple: "a tuple is only allowed after 'in' or 'not in'",
}
_CONSTANT_NAMES: dict[str, ir.Literal] = {"true": True, "false": False, "null": None,
                                          "True": True, "False": False, "None": None}
_NAMESPACE_LABEL = {"event": "event field", "features": "feature", "models": "model",
                    "profile": "profile field", "lists": "list"}
_DETECTED = re.compile(r"\s*\(detected at line \d+\)")


class Parsed:
    """The tree of a condition and the names it reads, per namespace."""

    def __init__(self, tree: ir.Node, references: dict[str, frozenset[str]]) -> None:
        self.tree = tree
        self.references = references


def _kind_of_value(v: ir.Literal) -> Kind:
    if v is None:
        return Kind.NULL
    if isinstance(v, bool):
        return Kind.BOOLEAN
    if isinstance(v, str):
        return Kind.STRING
    return Kind.NUMBER


def kind(node: ir.Node) -> Kind:
    """The type the parser can tell before any data (ANY when it depends on the data)."""
    if isinstance(node, ir.Const):
        return _kind_of_value(node.value)
    if isinstance(node, ir.BOOLEAN_NODES) or isinstance(node, ir.ListContains):
        return Kind.BOOLEAN
    if isinstance(node, ir.Negate):
        return Kind.NUMBER
    if isinstance(node, ir.Arith):
        if node.op == "+" and Kind.STRING in (kind(node.left), kind(node.right)):
            return Kind.STRING
        return Kind.NUMBER if node.op != "+" or Kind.NUMBER in (kind(node.left), kind(node.right)) else Kind.ANY
    if isinstance(node, ir.Call):
        return Kind(FUNCTIONS[node.function].returns)
    return Kind.ANY


class _Converter:
    def __init__(self, text: str, lines: list[str], names: RuleNames | None,
                 event_types: frozenset[str] | None) -> None:
        self.text = text
        self.lines = lines
        self.names = names
        self.event_types = event_types
        self.references: dict[str, set[str]] = {ns: set() for ns in ALL_NAMESPACES}

    # --- positions and errors -------------------------------------------------------------------
    def pos(self, node: ast.AST) -> ir.Pos:
        """1-based (line, column) in the condition text; the wrapper adds one line before it."""
        line = getattr(node, "lineno", 2) - 1
        byte_col = getattr(node, "col_offset", 0)
        line = min(max(line, 1), len(self.lines))
        source = self.lines[line - 1]
        column = len(source.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")) + 1
        return line, column

    def attr_pos(self, node: ast.Attribute) -> ir.Pos:
        """Where the name after the dot starts (the node itself starts at the namespace)."""
        line = min(max(getattr(node, "end_lineno", 2) - 1, 1), len(self.lines))
        end = getattr(node, "end_col_offset", 0) or 0
        source = self.lines[line - 1].encode("utf-8")
        start = max(end - len(node.attr.encode("utf-8")), 0)
        return line, len(source[:start].decode("utf-8", errors="ignore")) + 1

    def fail(self, where: ast.AST | ir.Pos, message: str) -> RuleSyntaxError:
        line, column = where if isinstance(where, tuple) else self.pos(where)
        return error(message, self.lines, line, column)

    # --- the whitelist --------------------------------------------------------------------------
    def convert(self, node: ast.expr) -> ir.Node:
        if isinstance(node, ast.Constant):
            return ir.Const(self.literal(node), self.pos(node))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.BinOp):
            return self.arith(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BoolOp):
            items = tuple(self.condition(v, "'and' / 'or'") for v in node.values)
            return ir.BoolOp("and" if isinstance(node.op, ast.And) else "or", items, self.pos(node))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        for refused, message in _REFUSED_NODES.items():
            if isinstance(node, refused):
                raise self.fail(node, message)
        raise self.fail(node, f"{type(node).__name__} expressions are not part of the rule language")

    def condition(self, node: ast.expr, where: str) -> ir.Node:
        """A node used as a truth value: refuse numbers and strings, which are never true or false."""
        out = self.convert(node)
        k = kind(out)
        if k in (Kind.NUMBER, Kind.STRING):
            raise self.fail(node, f"{where} needs a condition, got a {k.value}; compare it (e.g. x > 0)")
        return out

    def literal(self, node: ast.Constant) -> ir.Literal:
        v = node.value
        if v is None or isinstance(v, (bool, str, int)):
            return v
        if isinstance(v, float):
            if not math.isfinite(v):
                raise self.fail(node, "number literals must be finite")
            return v
        if isinstance(v, bytes):
            raise self.fail(node, "bytes literals are not allowed; use a string")
        if isinstance(v, complex):
            raise self.fail(node, "complex numbers are not allowed")
        raise self.fail(node, f"the literal {ast.unparse(node)!r} is not allowed")

    def name(self, node: ast.Name) -> ir.Node:
        n = node.id
        if n in _CONSTANT_NAMES:
            return ir.Const(_CONSTANT_NAMES[n], self.pos(node))
        if n in NAMESPACES:
            raise self.fail(node, f"'{n}' needs a name after it, e.g. {n}.<name>")
        if n == "lists":
            raise self.fail(node, "a list is used as lists.<list_name>.contains(value)")
        if n in FUNCTIONS:
            raise self.fail(node, f"'{n}' is a function: call it as {n}(...)")
        hint = ""
        if self.names is not None:
            homes = [ns for ns in NAMESPACES if (known := self.names.known(ns)) is not None and n in known]
            if homes:
                hint = f"; did you mean {homes[0]}.{n}?"
        if not hint:
            hint = suggest(n, [*ALL_NAMESPACES, *_CONSTANT_NAMES, *FUNCTIONS]).replace(" (", "; ").rstrip(")")
        raise self.fail(node, f"unknown name {n!r}: values are read as event.<field>, features.<name>, "
                              f"models.<name> or profile.<field>{hint}")

    def identifier(self, node: ast.Attribute, name: str) -> str:
        if not valid_identifier(name):
            raise self.fail(self.attr_pos(node),
                            f"{name!r} is not an allowed name (letters, digits and '_', starting with a letter)")
        return name

    def attribute(self, node: ast.Attribute) -> ir.Node:
        base = node.value
        if isinstance(base, ast.Name) and base.id in NAMESPACES:
            ns = base.id
            name = self.identifier(node, node.attr)
            self.check_known(self.attr_pos(node), ns, name)
            self.references[ns].add(name)
            return ir.Ref(ns, name, self.pos(node))
        if isinstance(base, ast.Name) and base.id == "lists":
            raise self.fail(node, f"a list is used as lists.{node.attr}.contains(value)")
        if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and base.value.id in NAMESPACES:
            raise self.fail(node, f"'{ast.unparse(node)}': names have no parts; use {base.value.id}.{base.attr}")
        if isinstance(base, ast.Name) and valid_identifier(base.id) and base.id not in FUNCTIONS:
            raise self.fail(base, f"unknown namespace {base.id!r}{suggest(base.id, ALL_NAMESPACES)}: values are "
                                  "read as event.<field>, features.<name>, models.<name> or profile.<field>")
        raise self.fail(node, "attribute access is not allowed: values are read as event.<field>, "
                              "features.<name>, models.<name> or profile.<field>")

    def check_known(self, node: ast.AST | ir.Pos, ns: str, name: str) -> None:
        if self.names is None:
            return
        known = self.names.known(ns)
        label = _NAMESPACE_LABEL[ns]
        if known is not None and name not in known:
            raise self.fail(node, f"unknown {label} {name!r}{suggest(name, known)}")
        by_type = self.names.fields_by_event_type
        if ns == "event" and self.event_types and by_type is not None:
            allowed = set().union(*(by_type.get(t, frozenset()) for t in self.event_types))
            if name not in allowed:
                types = ", ".join(sorted(self.event_types))
                raise self.fail(node, f"event field {name!r} is not a field of the rule's events ({types})"
                                      f"{suggest(name, allowed)}")

    def call(self, node: ast.Call) -> ir.Node:
        if node.keywords:
            raise self.fail(node.keywords[0], "keyword arguments are not allowed")
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.fail(a, "starred expressions (*x) are not allowed")
        func = node.func
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute)
                and isinstance(func.value.value, ast.Name) and func.value.value.id == "lists"):
            list_name = self.identifier(func.value, func.value.attr)
            if func.attr != "contains":
                raise self.fail(func, f"lists.{list_name} only has .contains(value), not .{func.attr}")
            if len(node.args) != 1:
                raise self.fail(node, f"lists.{list_name}.contains takes one value, got {len(node.args)}")
            self.check_known(self.attr_pos(func.value), "lists", list_name)
            self.references["lists"].add(list_name)
            return ir.ListContains(list_name, self.convert(node.args[0]), self.pos(node))
        if not isinstance(func, ast.Name):
            raise self.fail(node, "only the helper functions and lists.<name>.contains(value) can be called")
        spec = FUNCTIONS.get(func.id)
        if spec is None:
            raise self.fail(func, f"unknown function {func.id!r}{suggest(func.id, FUNCTIONS)}; "
                                  f"the functions are {', '.join(sorted(FUNCTIONS))}")
        n = len(node.args)
        if not spec.min_args <= n <= spec.max_args:
            want = str(spec.min_args) if spec.min_args == spec.max_args else f"{spec.min_args} to {spec.max_args}"
            raise self.fail(node, f"{func.id}() takes {want} argument(s), got {n}")
        args = tuple(self.convert(a) for a in node.args)
        for a, out in zip(node.args, args, strict=True):
            self.check_argument(a, func.id, spec.args, kind(out))
        if func.id == "round" and n == 2:
            digits = args[1]
            if not (isinstance(digits, ir.Const) and type(digits.value) is int and -15 <= digits.value <= 15):
                raise self.fail(node.args[1], "round()'s digits must be an integer literal from -15 to 15")
        return ir.Call(func.id, args, self.pos(node))

    def check_argument(self, node: ast.AST, fn: str, wanted: str, got: Kind) -> None:
        bad = {"string": (Kind.NUMBER, Kind.BOOLEAN), "number": (Kind.STRING, Kind.BOOLEAN),
               "time": (Kind.NUMBER, Kind.BOOLEAN)}.get(wanted, ())
        if got in bad:
            raise self.fail(node, f"{fn}() needs {'a timestamp' if wanted == 'time' else 'a ' + wanted}, "
                                  f"got a {got.value}")

    def arith(self, node: ast.BinOp) -> ir.Node:
        op = _ARITH.get(type(node.op))
        if op is None:
            raise self.fail(node, f"{_REFUSED_OPS.get(type(node.op), 'this operator')} is not allowed")
        left, right = self.convert(node.left), self.convert(node.right)
        kinds = (kind(left), kind(right))
        for k in (Kind.BOOLEAN, Kind.NULL):
            if k in kinds:
                raise self.fail(node, f"'{op}' needs numbers, got a {k.value}")
        if Kind.STRING in kinds:
            if op != "+":
                raise self.fail(node, f"'{op}' needs numbers; strings can only be joined with '+'")
            if Kind.NUMBER in kinds:
                raise self.fail(node, "'+' adds two numbers or joins two strings, not a string and a number")
        return ir.Arith(op, left, right, self.pos(node))

    def unary(self, node: ast.UnaryOp) -> ir.Node:
        if isinstance(node.op, ast.Not):
            return ir.Not(self.condition(node.operand, "'not'"), self.pos(node))
        if isinstance(node.op, ast.Invert):
            raise self.fail(node, "'~' is not allowed (use 'not')")
        operand = self.convert(node.operand)
        if isinstance(operand, ir.Const) and _kind_of_value(operand.value) is Kind.NUMBER:
            value = operand.value
            assert isinstance(value, (int, float))
            return ir.Const(-value if isinstance(node.op, ast.USub) else value, self.pos(node))
        k = kind(operand)
        if k not in (Kind.NUMBER, Kind.ANY):
            raise self.fail(node, f"a sign needs a number, got a {k.value}")
        if isinstance(node.op, ast.UAdd):
            return operand
        return ir.Negate(operand, self.pos(node))

    def compare(self, node: ast.Compare) -> ir.Node:
        ops, rights = node.ops, node.comparators
        if len(ops) == 1 and isinstance(ops[0], (ast.In, ast.NotIn)):
            return self.membership(node, isinstance(ops[0], ast.NotIn))
        if len(ops) == 1 and isinstance(ops[0], (ast.Is, ast.IsNot)):
            right = rights[0]
            if not (_is_null_literal(right)):
                raise self.fail(node, "'is' only tests for null: x is null / x is not null")
            return _is_null(self.convert(node.left), isinstance(ops[0], ast.IsNot), self.pos(node))
        if len(ops) == 1 and isinstance(ops[0], (ast.Eq, ast.NotEq)):
            negate = isinstance(ops[0], ast.NotEq)
            for value, other in ((rights[0], node.left), (node.left, rights[0])):
                if _is_null_literal(value):
                    return _is_null(self.convert(other), negate, self.pos(node))
        for op in ops:
            if type(op) not in _CMP:
                raise self.fail(node, "'in', 'not in', 'is' and 'is not' cannot be chained; join them with 'and'")
        operands = tuple(self.convert(x) for x in (node.left, *rights))
        symbols = tuple(_CMP[type(op)] for op in ops)
        for (a, b), symbol in zip(zip(operands, operands[1:], strict=False), symbols, strict=True):
            ka, kb = kind(a), kind(b)
            if Kind.NULL in (ka, kb):
                raise self.fail(node, "a comparison with null is never true; test with is_null(x) or x == null")
            if symbol not in ("==", "!=") and {ka, kb} == {Kind.NUMBER, Kind.STRING}:
                raise self.fail(node, f"cannot compare a {ka.value} with a {kb.value} using '{symbol}'")
            if symbol not in ("==", "!=") and Kind.BOOLEAN in (ka, kb):
                raise self.fail(node, f"'{symbol}' does not order true and false; use == or !=")
        return ir.Compare(operands, symbols, self.pos(node))

    def membership(self, node: ast.Compare, negate: bool) -> ir.Node:
        right = node.comparators[0]
        word = "not in" if negate else "in"
        if not isinstance(right, (ast.List, ast.Tuple)):
            raise self.fail(right, f"'{word}' needs a list of literals, e.g. x {word} ['a', 'b']; "
                                   "for text inside text use contains(s, part)")
        if not right.elts:
            raise self.fail(right, f"'{word}' needs a non-empty list")
        if len(right.elts) > MAX_LIST:
            raise self.fail(right, f"a list may hold at most {MAX_LIST} values, got {len(right.elts)}")
        values: list[str | int | float | bool] = []
        for elt in right.elts:
            item = self.convert(elt)
            if not isinstance(item, ir.Const):
                raise self.fail(elt, "lists after 'in' may hold only literals (strings, numbers, true/false)")
            if item.value is None:
                raise self.fail(elt, "null in a list never matches; test with is_null(x) instead")
            values.append(item.value)
        operand = self.convert(node.left)
        if isinstance(operand, ir.Const):  # known now: fold it (the generated code never tests a literal)
            found = operand.value in values
            return ir.Const(found != negate if operand.value is not None else None, self.pos(node))
        return ir.InList(operand, tuple(values), negate, self.pos(node))


def _is_null(operand: ir.Node, negate: bool, pos: ir.Pos) -> ir.Node:
    if isinstance(operand, ir.Const):
        return ir.Const((operand.value is None) != negate, pos)
    return ir.IsNull(operand, negate, pos)


def _is_null_literal(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Name) and node.id == "null")


def error(message: str, lines: list[str], line: int, column: int) -> RuleSyntaxError:
    line = min(max(line, 1), max(len(lines), 1))
    source = "".join(c if c.isprintable() else " " for c in lines[line - 1]) if lines else ""
    column = min(max(column, 1), len(source) + 1)
    return RuleSyntaxError(message, line=line, column=column, source_line=source)


def _check_depth(tree: ast.AST, lines: list[str]) -> None:
    """Refuse trees nested deeper than MAX_DEPTH, iteratively (so the check itself cannot overflow)."""
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            line = max(getattr(node, "lineno", 2) - 1, 1)
            column = getattr(node, "col_offset", 0) + 1
            raise error(f"the condition is nested too deeply (more than {MAX_DEPTH} levels); split it into rules",
                        lines, line, column)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}


def _bracket_problem(lines: list[str]) -> RuleSyntaxError | None:
    """An unclosed or unmatched bracket in the user's own text (CPython would blame our wrapper)."""
    stack: list[tuple[str, int, int]] = []
    readline = iter([line + "\n" for line in lines]).__next__
    try:
        for tok in tokenize.generate_tokens(readline):
            if tok.type != tokenize.OP:
                continue
            if tok.string in _OPEN:
                stack.append((tok.string, tok.start[0], tok.start[1] + 1))
            elif tok.string in _CLOSE:
                if not stack or stack[-1][0] != _CLOSE[tok.string]:
                    return error(f"unmatched {tok.string!r}", lines, tok.start[0], tok.start[1] + 1)
                stack.pop()
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    if stack:
        bracket, line, column = stack[-1]
        return error(f"{bracket!r} was never closed", lines, line, column)
    return None


def split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_condition(text: str, names: RuleNames | None = None, *,
                    event_types: Iterable[str] | None = None) -> Parsed:
    """Parse and check one condition (see the module docstring); raises :class:`RuleSyntaxError`."""
    if not isinstance(text, str):
        raise RuleSyntaxError(f"a condition must be text, got {type(text).__name__}", line=1, column=1)
    lines = split_lines(text)
    if not text.strip():
        raise RuleSyntaxError("the condition is empty", line=1, column=1, source_line="")
    if len(text) > MAX_LENGTH:
        raise error(f"the condition is too long ({len(text)} characters; at most {MAX_LENGTH})", lines, 1, 1)
    source = "(\n" + "\n".join(lines) + "\n)"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        bracket = _bracket_problem(lines)
        if bracket is not None:
            raise bracket from None
        message = _DETECTED.sub("", exc.msg or "invalid syntax")
        line = (exc.lineno or 2) - 1
        column = exc.offset or 1
        if line < 1:
            line, column = 1, 1
        elif line > len(lines):
            line, column = len(lines), len(lines[-1]) + 1
        raise error(f"syntax error: {message}", lines, line, column) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise error(f"the condition cannot be read: {str(exc)[:100]}", lines, 1, 1) from None
    _check_depth(tree.body, lines)
    converter = _Converter(text, lines, names, frozenset(event_types) if event_types is not None else None)
    root = converter.condition(tree.body, "a rule")
    refs = {ns: frozenset(v) for ns, v in converter.references.items()}
    return Parsed(root, refs)
