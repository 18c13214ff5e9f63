"""The checked syntax tree a condition compiles from: only the constructs the language has.

The parser turns Python's :mod:`ast` into these nodes after checking every construct, so the two
back ends (the generated Python and the reference interpreter) never see anything else.
``pos`` is ``(line, column)``, 1-based within the condition text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Union


class Kind(StrEnum):
    """What the parser knows about a value's type before any event arrives (for early errors)."""

    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    NULL = "null"
    ANY = "any"


Pos = tuple[int, int]
Literal = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Const:
    value: Literal
    pos: Pos


@dataclass(frozen=True, slots=True)
class Ref:
    """``namespace.name``: a field of the event, a feature, a model score or a profile field."""

    namespace: str
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class ListContains:
    """``lists.<list_name>.contains(arg)``."""

    list_name: str
    arg: Node
    pos: Pos


@dataclass(frozen=True, slots=True)
class Call:
    """A helper from the fixed table in ``_runtime.FUNCTIONS``."""

    function: str
    args: tuple[Node, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * / %
    left: Node
    right: Node
    pos: Pos


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node
    pos: Pos


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    pos: Pos


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and / or
    items: tuple[Node, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Compare:
    """``a op b [op c ...]``; a chain means the pairwise comparisons joined by ``and``."""

    operands: tuple[Node, ...]
    ops: tuple[str, ...]  # == != < <= > >=
    pos: Pos


@dataclass(frozen=True, slots=True)
class InList:
    operand: Node
    values: tuple[str | int | float | bool, ...]
    negate: bool
    pos: Pos


@dataclass(frozen=True, slots=True)
class IsNull:
    operand: Node
    negate: bool
    pos: Pos


Node = Union[Const, Ref, ListContains, Call, Arith, Negate, Not, BoolOp, Compare, InList, IsNull]  # noqa: UP007

#: Nodes whose value is a three-valued truth by construction.
BOOLEAN_NODES = (Not, BoolOp, Compare, InList, IsNull)
