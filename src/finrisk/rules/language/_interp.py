"""The reference interpreter: the checked tree as a tree of closures, three-valued at every node.

It defines what a condition means. The generated code (``_codegen``) is the fast path and must
agree with it on every input (a hypothesis test checks this); when the fast path meets a value it
did not expect (a comparison Python refuses, an unhashable value), it hands the rule to this
interpreter instead of guessing. It is also the named peer in ``benchmarks/rules_eval.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from finrisk.rules.language import _ir as ir
from finrisk.rules.language import _runtime as rt

__all__ = ["Context", "Evaluator", "build"]

#: (event, features, models, profile, lists, at_us), the mappings never None.
Context = tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], Mapping[str, Any],
                "rt.ListLookup | None", int]
Evaluator = Callable[[Context], Any]
_SLOT = {"event": 0, "features": 1, "models": 2, "profile": 3}


def build(node: ir.Node) -> Evaluator:
    """A closure computing the node's value (three-valued for conditions) from a context."""
    if isinstance(node, ir.Const):
        value = node.value
        return lambda ctx: value
    if isinstance(node, ir.Ref):
        slot, name = _SLOT[node.namespace], node.name
        return lambda ctx: ctx[slot].get(name)  # type: ignore[union-attr]
    if isinstance(node, ir.ListContains):
        arg, list_name = build(node.arg), node.list_name
        return lambda ctx: rt.list_contains(ctx[4], list_name, arg(ctx), ctx[5])
    if isinstance(node, ir.Call):
        impl = rt.FUNCTIONS[node.function].impl  # every helper handles null arguments itself
        args = [build(a) for a in node.args]
        return lambda ctx: impl(*[a(ctx) for a in args])
    if isinstance(node, ir.Arith):
        arith, left, right = rt.ARITH[node.op], build(node.left), build(node.right)
        return lambda ctx: arith(left(ctx), right(ctx))
    if isinstance(node, ir.Negate):
        operand = build(node.operand)
        return lambda ctx: rt.neg(operand(ctx))
    if isinstance(node, ir.Not):
        inner = condition(node.operand)
        return lambda ctx: rt.not3(inner(ctx))
    if isinstance(node, ir.BoolOp):
        return _junction([condition(i) for i in node.items], decisive=node.op == "or")
    if isinstance(node, ir.Compare):
        values = [build(o) for o in node.operands]
        ops = node.ops
        if len(ops) == 1:
            op, a, b = ops[0], values[0], values[1]
            return lambda ctx: rt.compare(op, a(ctx), b(ctx))
        return lambda ctx: rt.chain(ops, *[v(ctx) for v in values])
    if isinstance(node, ir.InList):
        operand, allowed, negate = build(node.operand), frozenset(node.values), node.negate
        return lambda ctx: rt.member(operand(ctx), allowed, negate)
    if isinstance(node, ir.IsNull):
        operand, negate = build(node.operand), node.negate
        return lambda ctx: (operand(ctx) is None) != negate
    raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover - the parser makes only the above


def condition(node: ir.Node) -> Evaluator:
    """The node as a truth value: booleans as they are, any other value unknown."""
    value = build(node)
    if isinstance(node, ir.BOOLEAN_NODES):
        return value
    return lambda ctx: rt.truth(value(ctx))


def _junction(items: list[Evaluator], *, decisive: bool) -> Evaluator:
    """SQL AND (any false decides) or OR (any true decides), evaluated left to right with short cut."""

    def combined(ctx: Context) -> Any:
        unknown = False
        for item in items:
            v = item(ctx)
            if v is decisive:
                return decisive
            if v is None:
                unknown = True
        return None if unknown else not decisive

    return combined
