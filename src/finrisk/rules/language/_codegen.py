"""Checked trees -> Python source for one function, compiled once: the fast path.

Why generated source and not closures: a rule hits only when its condition is *true*, so each
condition compiles to two plain Python boolean expressions, "is true" and "is false", that follow
SQL's three-valued logic exactly without building any unknown value::

    T(a and b) = T(a) and T(b)        F(a and b) = F(a) or F(b)
    T(not a)   = F(a)                 T(x > 5)   = x is not None and x > 5

That is short-circuiting bytecode with no call per node, measured at about 10x the closure tree
(``benchmarks/rules_eval.py``). Values that need care (arithmetic, helpers, list lookups) call the
same run-time helpers as the reference interpreter. When a comparison meets values Python refuses
('a' < 3), the generated code raises, and the rule is handed to the reference interpreter
(``_interp``), which gives null; the try costs nothing in CPython 3.11+ when nothing raises.

Safety: the source holds only names this module makes up (``r0``, ``_t1``, ``_add``...), Python
literals written by ``repr`` of str/int/float/bool/None, and operators from a fixed table. User
identifiers appear only inside string constants (``event.get('amount')``). The function's globals
are the helper table with an empty ``__builtins__``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from finrisk.errors import FinriskError
from finrisk.rules.language import _ir as ir
from finrisk.rules.language import _runtime as rt

__all__ = ["Generator", "RuleCode", "base_globals", "compile_function"]

_NS_ARG = {"event": "event", "features": "features", "models": "models", "profile": "profile"}


def base_globals() -> dict[str, Any]:
    """The fixed table every generated function sees; nothing else is reachable from it."""
    env: dict[str, Any] = {
        "__builtins__": {},
        "_add": rt.add, "_sub": rt.sub, "_mul": rt.mul, "_div": rt.div, "_mod": rt.mod, "_neg": rt.neg,
        "_cmp": rt.compare, "_chain": rt.chain, "_member": rt.member, "_truth": rt.truth,
        "_and3": rt.and3, "_or3": rt.or3, "_not3": rt.not3, "_lc": rt.list_contains,
        "_default_at": rt.default_at_us, "_FinriskError": FinriskError, "_Exception": Exception,
    }
    for name, fn in rt.FUNCTIONS.items():
        env[f"_f_{name}"] = fn.impl
    return env


def _literal(value: ir.Literal) -> str:
    text = repr(value)
    return f"({text})" if text.startswith("-") else text


@dataclass
class RuleCode:
    """The generated pieces of one condition: its ``is true`` / ``is false`` expressions and needs."""

    true: str
    false: str
    refs: list[tuple[str, str]]
    uses_lists: bool


@dataclass
class Generator:
    """Writes expressions for conditions; one generator per generated function (shared locals)."""

    constants: dict[str, Any] = field(default_factory=dict)
    #: Look list values up once, before the test (for one condition evaluated both ways: is true / is false).
    hoist_lists: bool = False
    hoisted: list[str] = field(default_factory=list)
    _locals: dict[tuple[str, str], str] = field(default_factory=dict)
    _temps: int = 0
    _refs: list[tuple[str, str]] = field(default_factory=list)
    _uses_lists: bool = False

    # --- bookkeeping --------------------------------------------------------------------------
    def local(self, ns: str, name: str) -> str:
        key = (ns, name)
        if key not in self._locals:
            self._locals[key] = f"r{len(self._locals)}"
        if key not in self._refs:
            self._refs.append(key)
        return self._locals[key]

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def constant(self, value: Any) -> str:
        name = f"_K{len(self.constants)}"
        self.constants[name] = value
        return name

    def load(self, ns: str, name: str) -> str:
        """The statement that reads a reference into its local."""
        return f"{self._locals[(ns, name)]} = {_NS_ARG[ns]}.get({name!r})"

    def rule(self, node: ir.Node) -> RuleCode:
        self._refs, self._uses_lists = [], False
        t, f = self.true(node), self.false(node)
        return RuleCode(t, f, self._refs, self._uses_lists)

    # --- values -------------------------------------------------------------------------------
    def simple(self, node: ir.Node) -> bool:
        return isinstance(node, (ir.Const, ir.Ref))

    def value(self, node: ir.Node) -> str:
        if isinstance(node, ir.Const):
            return _literal(node.value)
        if isinstance(node, ir.Ref):
            return self.local(node.namespace, node.name)
        if isinstance(node, ir.ListContains):
            self._uses_lists = True
            lookup = f"_lc(lists, {node.list_name!r}, {self.value(node.arg)}, _at)"
            if not self.hoist_lists:
                return lookup
            for line in self.hoisted:  # the same lookup (from "is true" and "is false") is made once
                name, _, known = line.partition(" = ")
                if known == lookup:
                    return name
            name = f"_l{len(self.hoisted)}"
            self.hoisted.append(f"{name} = {lookup}")
            return name
        if isinstance(node, ir.Call):
            return f"_f_{node.function}({', '.join(self.value(a) for a in node.args)})"
        if isinstance(node, ir.Arith):
            fn = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod"}[node.op]
            return f"{fn}({self.value(node.left)}, {self.value(node.right)})"
        if isinstance(node, ir.Negate):
            return f"_neg({self.value(node.operand)})"
        return self.tri(node)

    def tri(self, node: ir.Node) -> str:
        """A condition as a three-valued value (only where a condition is used as a value)."""
        if isinstance(node, ir.Not):
            return f"_not3({self.tri(node.operand)})"
        if isinstance(node, ir.BoolOp):
            fn = "_and3" if node.op == "and" else "_or3"
            return f"{fn}({', '.join(self.tri(i) for i in node.items)})"
        if isinstance(node, ir.Compare):
            values = ", ".join(self.value(o) for o in node.operands)
            if len(node.ops) == 1:
                return f"_cmp({node.ops[0]!r}, {values})"
            return f"_chain({node.ops!r}, {values})"
        if isinstance(node, ir.InList):
            return f"_member({self.value(node.operand)}, {self.constant(frozenset(node.values))}, {node.negate})"
        if isinstance(node, ir.IsNull):
            return f"({self.value(node.operand)} is {'not ' if node.negate else ''}None)"
        return f"_truth({self.value(node)})"

    # --- "is true" / "is false" -----------------------------------------------------------------
    def true(self, node: ir.Node) -> str:
        return self._truth(node, want=True)

    def false(self, node: ir.Node) -> str:
        return self._truth(node, want=False)

    def _truth(self, node: ir.Node, *, want: bool) -> str:
        if isinstance(node, ir.Const):
            return "True" if node.value is want else "False"
        if isinstance(node, ir.Not):
            return self._truth(node.operand, want=not want)
        if isinstance(node, ir.BoolOp):
            # T(and) = all T; F(and) = any F; T(or) = any T; F(or) = all F.
            joiner = " and " if (node.op == "and") == want else " or "
            return "(" + joiner.join(self._truth(i, want=want) for i in node.items) + ")"
        if isinstance(node, ir.IsNull):
            tests_none = want != node.negate  # IsNull is true when (value is None) != negate
            return f"({self.value(node.operand)} is {'' if tests_none else 'not '}None)"
        if isinstance(node, ir.InList):
            operand, prelude = self._operand(node.operand)
            inside = node.negate != want
            test = f"{operand} {'in' if inside else 'not in'} {self.constant(frozenset(node.values))}"
            return f"({prelude}{operand} is not None and {test})"
        if isinstance(node, ir.Compare):
            return self._compare(node, want=want)
        return f"({self.value(node)} is {want})"

    def _operand(self, node: ir.Node) -> tuple[str, str]:
        """A name or literal for the node, plus a walrus prelude when it must be computed first."""
        if self.simple(node):
            return self.value(node), ""
        t = self.temp()
        return t, f"({t} := {self.value(node)}) is not None and "

    def _compare(self, node: ir.Compare, *, want: bool) -> str:
        if len(node.ops) == 1:
            left, right = node.operands
            (a, pa), (b, pb) = self._operand(left), self._operand(right)
            checked = (not isinstance(left, ir.Ref), not isinstance(right, ir.Ref))  # consts and temps
            return "(" + pa + pb + self._pair(node.ops[0], checked, a, b, want) + ")"
        # A chain: read every operand once, up front, then test the pairs with plain names.
        names: list[str] = []
        sets: list[str] = []
        for operand in node.operands:
            if self.simple(operand):
                names.append(self.value(operand))
            else:
                t = self.temp()
                sets.append(f"({t} := {self.value(operand)})")
                names.append(t)
        consts = [isinstance(o, ir.Const) for o in node.operands]
        pairs = [self._pair(op, (consts[i], consts[i + 1]), names[i], names[i + 1], want)
                 for i, op in enumerate(node.ops)]
        joined = "(" + (" and " if want else " or ").join(pairs) + ")"
        if not sets:
            return joined
        return f"(({', '.join(sets)},) and {joined})"

    def _pair(self, op: str, checked: tuple[bool, bool], a: str, b: str, want: bool) -> str:
        """``a op b`` (or its negation) after the null checks the operands still need."""
        checks = [f"{name} is not None" for name, done in ((a, checked[0]), (b, checked[1])) if not done]
        test = f"{a} {op} {b}" if want else f"not ({a} {op} {b})"
        return " and ".join([*checks, test])


def compile_function(source: str, name: str, env: dict[str, Any], filename: str) -> Callable[..., Any]:
    """Compile generated source in a fresh copy of the fixed globals and return the function."""
    with warnings.catch_warnings():  # e.g. SyntaxWarning, which the test suite turns into errors
        warnings.simplefilter("ignore")
        code = compile(source, filename, "exec")
    namespace = dict(env)
    exec(code, namespace)  # noqa: S102 - generated from the checked tree only; see the module docstring
    fn = namespace[name]
    assert callable(fn)
    return fn  # type: ignore[no-any-return]


def indent(lines: Iterable[str], depth: int) -> list[str]:
    pad = "    " * depth
    return [pad + line for line in lines]
