"""Specialised hot-path code for one state group, generated once from its declarations.

The in-order path of :class:`~finrisk.features._online_group.WindowGroup` runs for every group
of every event, so its per-call overhead decides the engine's speed. This module writes, for one
group, the source of a ``process(event, t, eid, own, out)`` function with the group's constants
(window, lag, value columns, feature outputs) and its filter inlined, and compiles it. The
generated code does what the generic ``WindowGroup.process`` does (which stays the readable
reference and handles what is not generated): slide the window, read every feature from the
running aggregates, insert the event. Only this module's templates reach ``exec``; declarations
contribute identifiers checked against a pattern and literals through :func:`repr`.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from typing import Any

from finrisk.features import _online_state as st
from finrisk.features.expr import Filter

__all__ = ["compile_process", "filter_source"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def _get(name: str) -> str:
    return f"event.get({name!r})"


def _atom(node: ast.expr) -> str | None:
    """Python source that is true exactly when the three-valued filter atom is true (None: not handled)."""
    if isinstance(node, ast.Name):
        return f"({_get(node.id)} is True)" if _IDENT.match(node.id) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Name):
        return f"({_get(node.operand.id)} is False)"
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)):
        return None
    op, right, field = node.ops[0], node.comparators[0], node.left.id
    if isinstance(op, (ast.Is, ast.IsNot)) and isinstance(right, ast.Constant) and right.value is None:
        return f"({_get(field)} is {'not ' if isinstance(op, ast.IsNot) else ''}None)"
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple, ast.Set)):
        values = [e.value for e in right.elts if isinstance(e, ast.Constant)]
        if len(values) != len(right.elts) or any(v is None or isinstance(v, bool) for v in values):
            return None
        if isinstance(op, ast.In):
            return f"({_get(field)} in {frozenset(values)!r})"
        return f"((_v := {_get(field)}) is not None and _v not in {frozenset(values)!r})"
    value: Any
    if isinstance(right, ast.Constant):
        value = right.value
    elif (isinstance(right, ast.UnaryOp) and isinstance(right.op, ast.USub) and isinstance(right.operand, ast.Constant)
          and isinstance(right.operand.value, (int, float))):
        value = -right.operand.value
    else:
        return None
    if type(op) not in _CMP or value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    if isinstance(op, ast.Eq):
        return f"({_get(field)} == {value!r})"
    return f"((_v := {_get(field)}) is not None and _v {_CMP[type(op)]} {value!r})"


def filter_source(flt: Filter) -> str | None:
    """A Python expression over ``event`` equal to ``flt.matches(event)``, for plain conjunctions of
    comparisons with literals (the common case); None for anything else (the caller uses ``matches``)."""
    try:
        tree = ast.parse(flt.text.strip(), mode="eval").body
    except SyntaxError:
        return None
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    atoms = [_atom(p) for p in parts]
    if any(a is None for a in atoms) or any(not _IDENT.match(n) for n in flt.fields):
        return None
    return " and ".join(a for a in atoms if a is not None)


_READS = {
    st.COUNT: "out[{i}] = ks.we - ks.ws",
    st.SUM: "out[{i}] = ks.s1[{c}] * INV_SCALE",
    st.MEAN: "n = ks.nn[{c}]\n    out[{i}] = ks.s1[{c}] / (n << 64) if n else None",
    st.STD: ("n = ks.nn[{c}]\n    if n > 1:\n        s = ks.s1[{c}]\n"
             "        out[{i}] = sqrt((n * ks.s2[{c}] - s * s) / ((n * (n - 1)) << 128))\n"
             "    else:\n        out[{i}] = None"),
    st.MIN: "if ks.dirty:\n        rebuild(columns, ks)\n    dq = ks.mins[{c}]\n"
            "    out[{i}] = float(dq[0][{pos}]) if dq else None",
    st.MAX: "if ks.dirty:\n        rebuild(columns, ks)\n    dq = ks.maxs[{c}]\n"
            "    out[{i}] = float(dq[0][{pos}]) if dq else None",
    st.COUNT_DISTINCT: "out[{i}] = len(ks.dist[{c}])",
    st.LAST: "out[{i}] = last(ks, {c}, {pos}) if ks.nn[{c}] else None",
    st.TIME_SINCE_LAST: "out[{i}] = (t - ks.ents[ks.we - 1][0]) / 1_000_000 if ks.we > ks.ws else None",
}


def _last(ks: st.KeyState, c: int, pos: int) -> Any:
    """The latest non-null value of column ``c`` in the window (there is one: ``nn[c] > 0``)."""
    ents = ks.ents
    for i in range(ks.we - 1, ks.ws - 1, -1):
        v = ents[i][pos]
        if v is not None:
            return v
    return None


def compile_process(group: Any) -> Callable[[Any, int, str, bool, list[Any]], None]:
    """The in-order ``process`` of a :class:`~finrisk.features._online_group.WindowGroup`."""
    single = group.single_key
    if single is not None:
        key_src = f"key = {_get(single)}\n    if key is None:\n        return"
    else:
        parts = ", ".join(_get(k) for k in group.key)
        key_src = f"key = ({parts},)\n    if None in key:\n        return"
    flt = filter_source(group.filter) if group.filter is not None else "True"
    cond = f"own and ({flt})" if flt is not None else "own and matches(event)"
    if group.time_field is None:
        values = "".join(f", {_get(f)}" for f in group.fields)
        entry_src = f"ent = (t, t, eid{values})"
    else:
        entry_src = "ent = entry(event, t, eid)"
    reads = "\n    ".join(_READS[code].format(i=i, c=c, pos=st.FIRST_COLUMN + c) for i, code, c in group.reads)
    empty = "\n            ".join(f"out[{i}] = {v!r}" for i, v in group.empty) or "pass"
    # In order, an event_time entry is after every stored one: it is appended; with lag 0 it joins the
    # window at its end, with a lag it joins when the window reaches it (slide).
    if group.time_field is not None:
        insert_src = "insert(ks, ent)"
    elif group.lag_us == 0:
        insert_src = "ks.ents.append(ent)\n        add(columns, ks, ent)\n        ks.we += 1"
    else:
        insert_src = "ks.ents.append(ent)"
    first, then = ("", f"if ent is not None:\n        {insert_src}")
    if group.include_current:
        first, then = f"if ent is not None:\n        {insert_src}", ""
    src = f"""
def process(event, t, eid, own, out):
    {key_src}
    ent = None
    if {cond}:
        {entry_src}
    ks = states_get(key)
    if ks is None:
        if ent is None:
            {empty}
            return
        ks = states[key] = KeyState(columns, t)
    elif t > ks.now:
        slide(ks, t)
    {first}
    {reads}
    {then}
"""
    namespace: dict[str, Any] = {
        "states_get": group.states.get, "KeyState": st.KeyState, "columns": group.columns, "slide": group.advance,
        "insert": group.insert, "add": st.add, "entry": group.entry, "rebuild": st.rebuild_extremes, "last": _last,
        "INV_SCALE": st.INV_SCALE, "sqrt": math.sqrt, "matches": group.filter.matches if group.filter else None,
    }

    namespace["states"] = group.states  # never replaced: restore refills it in place
    exec(compile(src, f"<finrisk online group {group.features[0].name}>", "exec"), namespace)  # noqa: S102
    fn: Callable[[Any, int, str, bool, list[Any]], None] = namespace["process"]
    return fn
