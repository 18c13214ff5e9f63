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
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from finrisk.features import _online_state as st
from finrisk.features._online_native import KERNEL
from finrisk.features.derived import EARTH_RADIUS_KM, formula
from finrisk.features.expr import Filter
from finrisk.features.spec import DerivedKind

__all__ = ["compile_derived", "compile_plan", "compile_slide", "filter_source"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD_GET = re.compile(r"event\.get\('([A-Za-z_][A-Za-z0-9_]*)'\)")
_SCALED = re.compile(r"event\.scaled\('([A-Za-z_][A-Za-z0-9_]*)'\)")
_KS = re.compile(r"\bks\b")
_OUT = re.compile(r"\bout\[(\d+)\]")
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def _get(name: str) -> str:
    return f"event.get({name!r})"


def _atom(node: ast.expr) -> str | None:
    """Python source that is true exactly when the three-valued filter atom is true (None: not handled)."""
    if isinstance(node, ast.Name):  # true when not null and truthy (a null is unknown)
        return f"bool({_get(node.id)})" if _IDENT.match(node.id) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Name):
        return f"((_v := {_get(node.operand.id)}) is not None and not _v)"
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name)):
        return None
    op, right, field = node.ops[0], node.comparators[0], node.left.id
    if isinstance(op, (ast.Is, ast.IsNot)) and isinstance(right, ast.Constant) and right.value is None:
        return f"({_get(field)} is {'not ' if isinstance(op, ast.IsNot) else ''}None)"
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.List, ast.Tuple, ast.Set)):
        values = [e.value for e in right.elts if isinstance(e, ast.Constant)]
        if len(values) != len(right.elts) or any(v is None or isinstance(v, bool) for v in values):
            return None
        literal = "{" + ", ".join(repr(v) for v in values) + "}"  # a set display: a constant frozenset
        if isinstance(op, ast.In):
            return f"({_get(field)} in {literal})"
        return f"((_v := {_get(field)}) is not None and _v not in {literal})"
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
    st.COUNT: ["out[{i}] = ks.we - ks.ws"],
    st.SUM: ["out[{i}] = ks.s1[{c}] * INV_SCALE"],
    st.MEAN: ["n = ks.nn[{c}]", "out[{i}] = ks.s1[{c}] * INV_SCALE / n if n else None"],
    st.STD: ["n = ks.nn[{c}]", "if n > 1:", "    s = ks.s1[{c}]",
             "    out[{i}] = sqrt((n * ks.s2[{c}] - s * s) * INV_SCALE2 / (n * (n - 1)))",
             "else:", "    out[{i}] = None"],
    st.MIN: ["if ks.dirty:", "    rebuild({p}columns, ks)", "dq = ks.mins[{c}]",
             "out[{i}] = float(dq[0][{pos}]) if dq else None"],
    st.MAX: ["if ks.dirty:", "    rebuild({p}columns, ks)", "dq = ks.maxs[{c}]",
             "out[{i}] = float(dq[0][{pos}]) if dq else None"],
    st.COUNT_DISTINCT: ["out[{i}] = len(ks.dist[{c}])"],
    st.LAST: ["if ks.nn[{c}]:", "    v = ks.ents[ks.we - 1][{pos}]",
              "    out[{i}] = last(ks, {pos}) if v is None else v", "else:", "    out[{i}] = None"],
    st.TIME_SINCE_LAST: ["out[{i}] = (t - ks.ents[ks.we - 1][0]) / 1_000_000 if ks.we > ks.ws else None"],
    st.COUNT_MATCHED: ["out[{i}] = ks.nn[{c}]"],
    st.TIME_SINCE_MATCHED: ["if ks.nn[{c}]:", "    v = ks.ents[ks.we - 1][{pos}]",
                            "    out[{i}] = (t - (last(ks, {pos}) if v is None else v)) / 1_000_000",
                            "else:", "    out[{i}] = None"],
}


def _count_once(lines: list[str]) -> list[str]:
    """``lines`` without an ``n = ...`` that repeats the latest one (a mean and a std of one column
    read its count once; only these reads assign ``n``)."""
    kept: list[str] = []
    n_line = ""
    for line in lines:
        if line.startswith("n = "):
            if line == n_line:
                continue
            n_line = line
        kept.append(line)
    return kept


def _indent(lines: list[str], by: int) -> list[str]:
    return [" " * by + line for line in lines]


def _on(var: str, lines: list[str]) -> list[str]:
    """``lines`` written for the state ``ks``, made to work on the state in local ``var``."""
    return lines if var == "ks" else [_KS.sub(var, line) for line in lines]


def _window_body(group: Any, own: bool, p: str, ns: dict[str, Any], access: _Access, ent: str = "",
                 values: bool = True, flags: dict[str, str] | None = None) -> list[str]:
    """Statements (the entity's record ``rec`` already looked up) for one window group, names prefixed by
    ``p``; ``access``: how its state is read and stored;
    ``ent``: a local holding the event's entry (groups with the same value fields share one tuple);
    ``flags``: the local holding each column filter's outcome, by filter text (see :func:`compile_plan`);
    ``values`` false: update only (no reads; the windows still slide, so the state stays identical).

    The longest window's state is ``ks``; the shorter windows' (``ks.sibs``) are ``ks0``, ``ks1``, ...
    """
    ns.update({f"{p}insert": group.insert, f"{p}entry": group.entry,
               f"{p}matches": group.filter.matches if group.filter else None})
    wins = list(group.windows)
    names = [f"ks{j}" for j in range(len(wins) - 1)] + ["ks"]
    reads: list[str] = []
    slides: list[str] = []
    for j, (win, var) in enumerate(zip(wins, names, strict=True)):
        w = f"{p}w{j}_"
        ns.update({f"{w}columns": win.columns, f"{w}slide": win.slide})
        if values:
            lines = [line.format(i=i, c=c, pos=win.columns[c][0] if c >= 0 else 0, p=w)
                     for i, code, c in win.reads for line in _READS[code]]
            reads += _on(var, _count_once(lines))
        # the window moves only at its due (see KeyState): until then its aggregates hold as they are
        slides += [f"if t >= {var}.due:", f"    {w}slide({var}, t)"]  # the longest (trimming) one last
    unpack = access.unpack(names[:-1])
    get = access.get("ks")
    empty = _indent([f"out[{i}] = {v!r}" for win in wins for i, v in win.empty if values] or ["pass"], 4)
    if group.time_field is None and group.kernel is not None:  # the compiled group step (_online_native)
        return _kernel_body(group, own, p, ns, get, empty, _new_state(group, access), ent, values, flags)
    read_only = [*get, "if ks is None:", *empty, "else:", *_indent([*unpack, *slides], 4), *_indent(reads, 4)]
    # one window: ``elif t >= ks.due`` after the new state (no sibling to unpack)
    moved = (["else:", *_indent([*unpack, *slides], 4)] if unpack
             else ["elif t >= ks.due:", f"    {p}w0_slide(ks, t)"])
    if not own:
        return read_only
    if group.time_field is None:
        # In order, an event_time entry is after every stored one: it is appended; with lag 0 it joins
        # each window at its end (``now`` follows: every entry in a window lies at or before its ``now``,
        # which insert() relies on), with a lag it joins when the window reaches it (slide).
        insert = ["ks.ents.append(ent)"]
        for j, (win, var) in enumerate(zip(wins, names, strict=True)):
            if group.lag_us == 0 and win.kernel is not None:  # the same, compiled (see _online_native)
                ns[f"{p}w{j}_push"] = win.kernel.push
                insert.append(f"{p}w{j}_push({var}, ent, t)")
            elif group.lag_us == 0:
                # after the slide, a lag-0 window's due is FAR (empty) or within (t, t + window]: only an
                # empty window gets the new entry's
                insert += _on(var, [*_add_lines(win, win.fields, flags, group.filters), "ks.we += 1", "ks.now = t",
                                    "if ks.due == FAR:", f"    ks.due = t + {win.window_us}"])
            else:
                insert += _on(var, [f"if ks.due > t + {group.lag_us}:", f"    ks.due = t + {group.lag_us}"])
        feeds = [f"ent = {ent or _entry_source(group.fields, flags, group.filters)}", *get,
                 "if ks is None:", *_indent(_new_state(group, access), 4), *moved,
                 *([*insert, *reads] if group.include_current else [*reads, *insert])]
        if group.filters and not group.always:  # kept when it matches any column's filter
            matched = " or ".join(_flag(flags, flt) for flt in group.filters)
            return [f"if {matched}:", *_indent(feeds, 4), "else:", *_indent(read_only, 4)]
        flt = filter_source(group.filter) if group.filter is not None else None
        if group.filter is None:
            return feeds
        return [f"if {flt if flt is not None else f'{p}matches(event)'}:", *_indent(feeds, 4),
                "else:", *_indent(read_only, 4)]
    flt = filter_source(group.filter) if group.filter is not None else "True"
    lines = ["ent = None", f"if {flt if flt is not None else f'{p}matches(event)'}:",
             f"    ent = {p}entry(event, t, eid)"]
    # a label placed at its time field: the entry may be missing (no placement), insert() places it
    lines += [*get, "if ks is None and ent is None:", *empty, "else:"]
    body = ["if ks is None:", *_indent(_new_state(group, access), 4), *moved]
    insert = [f"{p}insert(ks, ent)"]
    if group.include_current:
        body += ["if ent is not None:", *_indent(insert, 4), *reads]
    else:
        body += [*reads, "if ent is not None:", *_indent(insert, 4)]
    return lines + _indent(body, 4)


def _kernel_body(group: Any, own: bool, p: str, ns: dict[str, Any], get: list[str], empty: list[str],
                 new_state: list[str], ent: str, values: bool, flags: dict[str, str] | None) -> list[str]:
    """:func:`_window_body` for an event-time group with a compiled kernel: one call slides the windows,
    reads the features (unpacked into their locals) and inserts the event, as the Python lines do."""
    ns.update({f"{p}run": group.kernel.run, f"{p}feed": group.kernel.feed})
    outs = [f"out[{i}]" for win in group.windows for i, _code, _c in win.reads]

    def call(entry: str) -> str:
        if values and outs:
            return f"{', '.join(outs)}, = {p}run(ks, t, {entry})"
        return f"{p}feed(ks, t, {entry})"

    read_only = [*get, "if ks is None:", *empty, "else:", f"    {call('None')}"]
    if not own:
        return read_only
    feeds = [f"ent = {ent or _entry_source(group.fields, flags, group.filters)}", *get,
             "if ks is None:", *_indent(new_state, 4), call("ent")]
    if group.filters and not group.always:  # kept when it matches any column's filter
        matched = " or ".join(_flag(flags, flt) for flt in group.filters)
        return [f"if {matched}:", *_indent(feeds, 4), "else:", *_indent(read_only, 4)]
    if group.filter is None:
        return feeds
    flt = filter_source(group.filter)
    return [f"if {flt if flt is not None else f'{p}matches(event)'}:", *_indent(feeds, 4),
            "else:", *_indent(read_only, 4)]


class _Access:
    """How the generated step reaches one group's state, through the record ``rec`` of the key's first
    field (looked up once per entity; an immutable empty record when the entity has none yet, replaced
    by a new one in table ``T<n>`` when a state is stored) and, for a composite key, the record's dict
    of the rest of the key (local ``sub``). See :mod:`._online_entities`."""

    def __init__(self, table: str, width: int, slot: int, composite: bool, siblings: int = 0) -> None:
        self.table, self.width, self.slot, self.composite, self.siblings = table, width, slot, composite, siblings

    def unpack(self, names: Sequence[str]) -> list[str]:
        """The shorter windows' states (``ks`` set): from the record's slots after the group's (one
        object less to reach than ``ks.sibs``), or for a composite key from ``ks.sibs``."""
        if not names:
            return []
        if self.siblings:
            assert len(names) == self.siblings
            return [f"{name} = rec[{self.slot + 1 + j}]" for j, name in enumerate(names)]
        return [f"({', '.join(names)},) = ks.sibs"]

    def get(self, var: str) -> list[str]:
        if not self.composite:
            return [f"{var} = rec[{self.slot}]"]
        return [f"sd = rec[{self.slot}]", f"{var} = None if sd is None else sd.get(sub)"]

    def put(self, value: str, siblings: Sequence[str] = ()) -> list[str]:
        record = f"[None] * {self.width}" if KERNEL is None else f"untracked([None] * {self.width})"
        lines = [f"if rec is {self.table}_EMPTY:", f"    rec = {self.table}[key] = {record}"]
        if not self.composite:  # and in the slot's dict by key (see Slot.by_key)
            lines += [f"rec[{self.slot + 1 + j}] = {name}" for j, name in enumerate(siblings) if self.siblings]
            return [*lines, f"rec[{self.slot}] = {self.table}_K{self.slot}[key] = {value}"]
        return [*lines, f"sd = rec[{self.slot}]", "if sd is None:", f"    sd = rec[{self.slot}] = {{}}",
                f"sd[sub] = {value}"]


def _flag(flags: dict[str, str] | None, flt: Filter) -> str:
    """The local holding whether the event matches the column filter ``flt`` (set by the step)."""
    assert flags is not None and flt.text in flags, "compile_plan computes every column filter first"
    return flags[flt.text]


def _value_source(src: tuple[str | None, int | None], flags: dict[str, str] | None,
                  filters: Sequence[Filter]) -> str:
    """The entry value of one column: the field (or ``True``, or the event time) where its filter matches."""
    name, n = src
    value = "True" if name is None else "t" if name.startswith("@") else _get(name)
    return value if n is None else f"({value} if {_flag(flags, filters[n])} else None)"


def _entry_source(fields: Sequence[tuple[str | None, int | None]], flags: dict[str, str] | None = None,
                  filters: Sequence[Filter] = ()) -> str:
    """The entry of an in-order event placed at its event time: ``(t, t, eid, value, ...)``."""
    return f"(t, t, eid{''.join(f', {_value_source(f, flags, filters)}' for f in fields)})"


def _new_state(group: Any, access: _Access) -> list[str]:
    """Fresh :class:`KeyState` objects for the key, built attribute by attribute (no per-column loops):
    one per window sharing one entry list, the longest (``ks``) stored with the others as ``sibs``."""
    ext = {True: "deque()", False: "None"}
    wins = list(group.windows)
    names = [f"ks{j}" for j in range(len(wins) - 1)] + ["ks"]
    lines = ["ents = []"]
    for win, var in zip(wins, names, strict=True):
        cols = win.columns
        lines += _on(var, [
            "ks = new(KeyState)", "ks.ents = ents", "ks.ws = ks.we = 0", "ks.now = t", "ks.due = FAR",
            f"ks.nn = {_exact_display(len(cols), any(c[6] for c in cols))}",
            f"ks.s1 = {_exact_display(len(cols), any(c[1] for c in cols))}",
            f"ks.s2 = {_exact_display(len(cols), any(c[2] for c in cols))}",
            f"ks.mins = {_untracked([ext[c[3]] for c in cols], any(c[3] for c in cols))}",
            f"ks.maxs = {_untracked([ext[c[4]] for c in cols], any(c[4] for c in cols))}",
            f"ks.dist = {_untracked(['{}' if c[5] else 'None' for c in cols], any(c[5] for c in cols), False)}",
            "ks.dirty = False"])
        if var != "ks":
            lines.append(f"{var}.sibs = ()")
    sibs = ", ".join(names[:-1])
    return [*lines, f"ks.sibs = {_untracked(names[:-1], True, False)}" if sibs else "ks.sibs = ()",
            *access.put("ks", names[:-1])]


def _untracked(items: list[str], made: bool, mutable: bool | None = None) -> str:
    """The display of ``items`` (a list when ``mutable``, which defaults to ``made``), untracked from the
    collector with the kernel where it makes a new container (see ``_online_state.untrack_containers``: a
    state's containers cannot be part of a reference cycle)."""
    display = _display(items, made if mutable is None else mutable)
    return f"untracked({display})" if made and KERNEL is not None else display


def _exact_display(n: int, mutable: bool) -> str:
    """``n`` zero integer aggregates as :class:`KeyState` builds them (``exact``: the kernel's ``Exact``,
    where the compiled group keeps them as machine numbers; else a list display), or a tuple of zeros
    when no column writes them."""
    if mutable and KERNEL is not None:
        return f"exact({n})"
    return _display(["0"] * n, mutable)


def _display(items: list[str], mutable: bool) -> str:
    """A list display, or a tuple one for an aggregate no column writes (as :class:`KeyState` builds it;
    a tuple of literals is a constant of the generated code: nothing to allocate or to collect)."""
    if mutable:
        return f"[{', '.join(items)}]"
    return f"({', '.join(items)},)" if items else "()"


def _add_lines(group: Any, values: Sequence[tuple[str | None, int | None]] = (),
               flags: dict[str, str] | None = None, filters: Sequence[Filter] = ()) -> list[str]:
    """:func:`~finrisk.features._online_state.add` unrolled for the group's columns (entry at the window end);
    ``values``: the sources of the entry's values (default: read from ``ent``), whose scaled
    sums the step computes once for every window that adds them (see :func:`compile_plan`). A field
    read by the step (a local ``f_<name>`` there) and its scaled sum are used in place, not copied to
    ``v`` and ``x`` first: fewer interpreter operations per window that adds the event."""
    lines: list[str] = []
    for c, (pos, sums, squares, minimum, maximum, distinct, counts) in enumerate(group.columns):
        name = values[c][0] if values else None
        field = name if name is not None and not name.startswith("@") and _IDENT.match(name) else None
        direct = field is not None and values[c][1] is None
        v = _get(values[c][0] or "") if direct else "v"
        if not direct:
            lines.append(f"v = {_value_source(values[c], flags, filters) if values else f'ent[{pos}]'}")
        lines.append(f"if {v} is not None:")
        if counts:
            lines.append(f"    ks.nn[{c}] += 1")
        elif not (sums or distinct or minimum or maximum):
            lines.append("    pass")
        if sums:
            # not null, a filtered column's value is its field's: the step's scaled field serves it too
            x = f"event.scaled({field!r})" if field is not None else "x"
            if field is None:
                lines.append("    x = int(v * SCALE)")
            lines.append(f"    ks.s1[{c}] += {x}")
            if squares:
                lines.append(f"    ks.s2[{c}] += {x} * {x}")
        if distinct:
            lines += [f"    d = ks.dist[{c}]", f"    d[{v}] = d.get({v}, 0) + 1"]
        if minimum or maximum:
            lines.append("    if not ks.dirty:")
            for flag, agg, op in ((maximum, "maxs", "<="), (minimum, "mins", ">=")):
                if flag:
                    lines += [f"        dq = ks.{agg}[{c}]", f"        while dq and dq[-1][{pos}] {op} {v}:",
                              "            dq.pop()", "        dq.append(ent)"]
    return lines


def _remove_lines(group: Any) -> list[str]:
    """:func:`~finrisk.features._online_state.remove` unrolled for the group's columns (oldest entry)."""
    lines: list[str] = []
    for c, (pos, sums, squares, minimum, maximum, distinct, counts) in enumerate(group.columns):
        lines += [f"v = ent[{pos}]", "if v is not None:"]
        if counts:
            lines.append(f"    ks.nn[{c}] -= 1")
        elif not (sums or distinct or minimum or maximum):
            lines.append("    pass")
        if sums:
            lines += ["    x = int(v * SCALE)", f"    ks.s1[{c}] -= x"]
            if squares:
                lines.append(f"    ks.s2[{c}] -= x * x")
        if distinct:
            lines += [f"    d = ks.dist[{c}]", "    left = d[v] - 1", "    if left:", "        d[v] = left",
                      "    else:", "        del d[v]"]
        if minimum or maximum:
            lines.append("    if not ks.dirty:")
            for flag, name in ((maximum, "maxs"), (minimum, "mins")):
                if flag:
                    lines += [f"        dq = ks.{name}[{c}]", "        if dq and dq[0] is ent:",
                              "            dq.popleft()"]
    return lines


def compile_slide(group: Any) -> Callable[[st.KeyState, int], None]:
    """``slide(ks, t)``: :meth:`Window.advance` for ``t >= ks.due``, with the column updates unrolled."""
    hi = f"t - {group.lag_us}" if group.lag_us else "t"
    lo = group.lag_us + group.window_us
    horizon = lo + group.lateness_us
    lines = ["def slide(ks, t):", "    ks.now = t", "    ents = ks.ents", "    n = len(ents)", "    we = ks.we",
             f"    while we < n and ents[we][0] <= {hi}:", "        ent = ents[we]",
             *_indent(_add_lines(group), 8), "        we += 1", "    ks.we = we", "    ws = ks.ws",
             f"    while ws < we and ents[ws][0] <= t - {lo}:", "        ent = ents[ws]",
             *_indent(_remove_lines(group), 8), "        ws += 1", "    ks.ws = ws",
             # forget what no allowed late event can see, once that is half the list (amortised O(1))
             *([f"    if ws >= 32 and 2 * ws >= n and ents[ws // 2][0] <= t - {horizon}:",
                f"        k = bisect_left(ents, (t - {horizon} + 1,), 0, ws)", "        del ents[:k]",
                "        ws -= k", "        we -= k", "        ks.ws = ws", "        ks.we = we",
                # the shorter windows sharing the entries slid first: theirs start after the cut
                "        for o in ks.sibs:", "            o.ws -= k", "            o.we -= k"]
               if group.trims else []),
             f"    due = ents[ws][0] + {lo} if ws < we else FAR",
             f"    if we < len(ents) and ents[we][0] + {group.lag_us} < due:",
             f"        due = ents[we][0] + {group.lag_us}",
             "    ks.due = due"]
    ns: dict[str, Any] = {"SCALE": st.SCALE, "bisect_left": bisect_left, "FAR": st.FAR}
    exec(compile("\n".join(lines) + "\n", f"<finrisk online slide {group.features[0].name}>", "exec"), ns)  # noqa: S102
    fn: Callable[[st.KeyState, int], None] = ns["slide"]
    return fn


def _first_seen_body(group: Any, own: bool, p: str, ns: dict[str, Any], access: _Access, ent: str,
                     values: bool = True) -> list[str]:
    """Statements for one first_seen group placed at event_time (the entity's record ``rec`` looked up);
    ``ent``: a local holding the event's ``(t, t, eid)`` entry; ``values`` false: update only."""
    ns.update({f"{p}matches": group.filter.matches if group.filter else None})
    flt = None
    if own and group.filter is not None:
        flt = filter_source(group.filter) or f"{p}matches(event)"
    qualifies = "True" if flt is None else f"({flt})"
    if not values:  # in order, the event is after any stored first one: it is kept only when none is
        keep = [*access.get("first"), "if first is None:", *_indent(access.put(ent), 4)]
        return ([f"if {qualifies}:", *_indent(keep, 4)] if qualifies != "True" else keep) if own else []
    lines = access.get("first")
    if own and group.include_current:  # the event itself is the first one when nothing came before
        lines += [f"if first is None and {qualifies}:", f"    first = {ent}", *_indent(access.put("first"), 4)]
        lines += ["value = None if first is None else (t - first[0]) / 1_000_000"]
    else:
        lines += ["if first is None:", "    value = None"]
        if own:  # in order: the event is after the stored first one, so it replaces only a missing one
            lines += [f"    if {qualifies}:", *_indent(access.put(ent), 8)]
        lines += ["else:", "    value = (t - first[0]) / 1_000_000"]
    lines += [f"out[{i}] = value" for i in group.outputs]
    return lines


Derived = Sequence[tuple[int, Any, tuple[tuple[bool, Any], ...]]]

#: Formulas written inline (the same expression as :mod:`finrisk.features.derived`, so the same value);
#: the others (``distance_km``) stay calls.
_INLINE = {
    formula(DerivedKind.RATIO): "None if {1} == 0 else {0} / {1}",
    formula(DerivedKind.DIFFERENCE): "{0} - {1}",
    formula(DerivedKind.ZSCORE): "None if {2} == 0 else ({0} - {1}) / {2}",
    formula(DerivedKind.SPEED_KMH): "None if {1} == 0 else {0} / ({1} / 3600)",
    formula(DerivedKind.NOT_EQUAL): "True if {0} != {1} else False",
    formula(DerivedKind.EQUAL): "True if {0} == {1} else False",
    # haversine_km over floats, the same operations in the same order (two calls less per event)
    formula(DerivedKind.DISTANCE_KM): "2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(sin(((_p2 := radians(float({2})))"
                                      " - (_p1 := radians(float({0})))) / 2) ** 2 + cos(_p1) * cos(_p2)"
                                      " * sin(radians(float({3}) - float({1})) / 2) ** 2)))",
}
_MATH = {"EARTH_RADIUS_KM": EARTH_RADIUS_KM, "asin": math.asin, "sqrt": math.sqrt, "sin": math.sin,
         "cos": math.cos, "radians": math.radians}


def _derived_lines(derived: Derived, ns: dict[str, Any], direct: bool = False) -> list[str]:
    """Statements computing every derived feature, in declaration order, into ``out``; ``direct``: the
    inputs are used where they are (in a step, where ``out[i]`` and the fields become locals), not
    copied to ``a0``, ``a1``, ... first."""
    lines: list[str] = []
    for n, (idx, fn, sources) in enumerate(derived):
        args = [f"out[{s}]" if is_feature else _get(s) for is_feature, s in sources]
        names = args if direct else [f"a{j}" for j in range(len(args))]
        if not direct:
            lines += [f"{name} = {arg}" for name, arg in zip(names, args, strict=True)]
        missing = " or ".join(f"{name} is None" for name in names)
        template = _INLINE.get(fn)
        if template is None:
            ns[f"derive{n}"] = fn
            value = f"derive{n}({', '.join(names)})"
        else:
            ns.update(_MATH)
            value = template.format(*names)
        lines += [f"if {missing}:", f"    out[{idx}] = None", "else:", f"    out[{idx}] = {value}"]
    return lines


def compile_derived(derived: Derived) -> Callable[[Any, list[Any]], None]:
    """``derive(event, out)``: every derived feature, in declaration order, into ``out``."""
    ns: dict[str, Any] = {}
    lines = ["def derive(event, out):", "    pass", *_indent(_derived_lines(derived, ns), 4)]
    exec(compile("\n".join(lines) + "\n", "<finrisk derived features>", "exec"), ns)  # noqa: S102
    out_fn: Callable[[Any, list[Any]], None] = ns["derive"]
    return out_fn


def compile_plan(plan: Sequence[tuple[Any, bool]], label: str, derived: Derived = (), *,
                 values: bool = True) -> Callable[[Any, int, str], Any]:
    """One function running every group of ``plan`` for an in-order event: ``step(event, t, eid)``,
    which returns every feature's value as a list in index order.

    Groups keyed by the same first field share one lookup of its record (see _online_entities);
    first_seen groups placed at another
    time call their own ``process``; the ``derived`` features follow, inline (their event fields read
    with the others). Each value is a local of the step (``o<index>``, set on every path: a group
    whose key the event lacks sets its outputs to None), and the list is built once at the end: a
    store to a local instead of an item store into a list per feature, no list allocated beforehand.
    With ``values`` false the step only updates the state (warm-up) and returns None: the windows
    slide and the event is added exactly as with values, but nothing is read and no derived feature
    is computed.
    """
    from finrisk.features._online_group import WindowGroup

    ns: dict[str, Any] = {"KeyState": st.KeyState, "new": st.KeyState.__new__, "deque": deque, "add": st.add,
                          "SCALE": st.SCALE, "rebuild": st.rebuild_extremes, "last": st.latest,
                          "INV_SCALE": st.INV_SCALE, "INV_SCALE2": st.INV_SCALE2, "sqrt": math.sqrt, "FAR": st.FAR,
                          "exact": None if KERNEL is None else KERNEL.Exact,
                          "untracked": None if KERNEL is None else KERNEL.untracked}
    if not values:
        derived = ()
    outputs = sorted({i for group, _ in plan for i in group.outputs} | {idx for idx, _, _ in derived})
    width = outputs[-1] + 1 if outputs else 0
    assert not values or outputs == list(range(width)), "every feature is a group's output or a derived one"
    ns["scratch"] = [None] * width  # the values a generic ``process`` writes in an update-only step
    # groups by the table of their key's first field (one record per entity: see _online_entities)
    by_table: dict[int, list[tuple[int, Any, bool]]] = {}
    tables: dict[int, Any] = {}
    for n, (group, own) in enumerate(plan):
        if any(not _IDENT.match(k) for k in group.key):
            raise ValueError(f"The 'key' of a feature must be field names. Got {group.key!r} instead.")
        table = group.slot.table
        tables.setdefault(id(table), table)
        by_table.setdefault(id(table), []).append((n, group, own))
    lines = ["def step(event, t, eid):", "    pass"]
    # one entry tuple per event and set of value fields, shared by the groups it feeds (less to allocate
    # and to keep: the tuples are immutable and each group's deques compare them by identity)
    entries: dict[Any, str] = {(): "e_now"}  # ``(t, t, eid)``, also the first_seen entry
    lines.append("    e_now = (t, t, eid)")
    # each column filter (groups whose features have different filters) is evaluated once, into ``m<n>``
    flags: dict[str, str] = {}
    for group, own in plan:
        if own and isinstance(group, WindowGroup) and group.time_field is None:
            for flt in group.filters:
                if flt.text not in flags:
                    flags[flt.text] = name = f"m{len(flags)}"
                    ns[f"{name}_matches"] = flt.matches
                    lines.append(f"    {name} = {filter_source(flt) or f'{name}_matches(event)'}")
    # an entry shape that only one group takes is built where that group keeps the event (not at all
    # when its filter or key rules the event out); a shared one once, here
    shapes: dict[Any, list[Any]] = {}
    for group, own in plan:
        if own and isinstance(group, WindowGroup) and group.time_field is None:
            shape = tuple((name, None if n is None else group.filters[n].text) for name, n in group.fields)
            shapes.setdefault(shape, []).append(group)
    for shape, takers in shapes.items():
        if shape not in entries and len(takers) > 1:
            entries[shape] = name = f"e{len(entries)}"
            lines.append(f"    {name} = {_entry_source(takers[0].fields, flags, takers[0].filters)}")
    for j, (tid, members) in enumerate(by_table.items()):
        table = tables[tid]
        tv = f"T{j}"
        ns.update({tv: table.records, f"{tv}_get": table.records.get, f"{tv}_EMPTY": (None,) * table.width})
        ns.update({f"{tv}_K{g.slot.index}": g.slot.by_key for _, g, _ in members})
        lookup = f"rec = {tv}_get(key) or {tv}_EMPTY"
        block: list[str] = []
        for n, group, own in members:
            p = f"g{n}_"
            access = _Access(tv, table.width, group.slot.index, group.slot.composite, group.slot.siblings)
            if isinstance(group, WindowGroup):
                shape = tuple((name, None if n is None else group.filters[n].text) for name, n in group.fields)
                stmts = _window_body(group, own, p, ns, access, entries.get(shape, ""), values, flags)
            elif group.time_field is None:
                stmts = _first_seen_body(group, own, p, ns, access, "e_now", values)
            elif values or own:  # its own list, as process leaves the outputs untouched for a missing key;
                # the record is looked up again (process may have made it)
                ns[f"{p}process"] = group.process
                target = "_out" if values else "scratch"
                block += [*([f"_out = [None] * {width}"] if values else []),
                          f"{p}process(event, t, eid, {own}, {target})",
                          *(f"o{i} = _out[{i}]" for i in group.outputs if values), lookup]
                continue
            else:
                continue
            if not stmts:
                continue
            if not group.slot.composite:
                block += stmts
                continue
            rest = group.key[1:]
            sub = _get(rest[0]) if len(rest) == 1 else f"({', '.join(_get(k) for k in rest)},)"
            block += [f"if {' and '.join(f'{_get(k)} is not None' for k in rest)}:",
                      f"    sub = {sub}", *_indent(stmts, 4)]
            if values and group.outputs:  # each field tested for None (``None in key`` compares by ``==``)
                block += ["else:", f"    {' = '.join(f'o{i}' for i in group.outputs)} = None"]
        if not block:
            continue
        lines += [f"    key = {_get(table.field)}", "    if key is not None:", f"        {lookup}",
                  *_indent(block, 8)]
        missing = [f"o{i}" for _, group, _ in members for i in group.outputs]
        if values and missing:
            lines += ["    else:", f"        {' = '.join(missing)} = None"]
    lines += _indent(_derived_lines(derived, ns, direct=True), 4)
    # read each event field once, into a local; scale a summed field once (used only when not null)
    body = "\n".join(lines[2:])
    fields = list(dict.fromkeys(_FIELD_GET.findall(body)))
    body = _FIELD_GET.sub(lambda m: f"f_{m.group(1)}", body)
    scaled = list(dict.fromkeys(_SCALED.findall(body)))
    body = _SCALED.sub(lambda m: f"x_{m.group(1)}", body)
    body = _OUT.sub(lambda m: f"o{m.group(1)}", body)  # each value a local
    src = "\n".join([*lines[:2], *(f"    f_{f} = {_get(f)}" for f in fields),
                     *(f"    x_{f} = None if f_{f} is None else int(f_{f} * SCALE)" for f in scaled), body,
                     *([f"    return [{', '.join(f'o{i}' for i in range(width))}]"] if values else [])]) + "\n"
    exec(compile(src, f"<finrisk online plan {label}>", "exec"), ns)  # noqa: S102
    fn: Callable[[Any, int, str], Any] = ns["step"]
    return fn
