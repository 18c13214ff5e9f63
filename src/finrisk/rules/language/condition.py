"""``compile_condition``: one condition, checked and compiled once, evaluated many times."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from finrisk.rules.language import _codegen, _interp
from finrisk.rules.language import _ir as ir
from finrisk.rules.language._names import RuleNames
from finrisk.rules.language._parser import error, parse_condition, split_lines
from finrisk.rules.language._runtime import EMPTY, ListLookup

__all__ = ["CompiledCondition", "compile_condition"]


@dataclass(frozen=True)
class CompiledCondition:
    """A checked, compiled condition.

    Attributes
    ----------
    text : str
        The condition as written.
    references : dict[str, frozenset[str]]
        The names it reads per namespace (``event``, ``features``, ``models``, ``profile``, ``lists``).
    source : str
        The generated Python function (for reading and debugging; it is already compiled).

    Examples
    --------
    >>> c = compile_condition("event.amount > 5000 and features.cust_cities_1h >= 2")
    >>> c.evaluate({"amount": 9000}, {"cust_cities_1h": 3})
    True
    >>> c.evaluate({"amount": 9000}, {})  # the feature is missing: unknown, so the rule does not hit
    >>> c.evaluate({"amount": 10}, {})  # false and unknown is false
    False
    """

    text: str
    references: dict[str, frozenset[str]]
    source: str = field(repr=False)
    tree: ir.Node = field(repr=False, compare=False)
    _fast: Callable[..., bool | None] = field(repr=False, compare=False)
    _reference: _interp.Evaluator = field(repr=False, compare=False)

    def evaluate(
        self,
        event: Mapping[str, Any],
        features: Mapping[str, Any] | None = None,
        models: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
        lists: ListLookup | None = None,
        at_us: int | None = None,
    ) -> bool | None:
        """True, False, or None (unknown) under SQL's three-valued logic; never raises on data."""
        return self._fast(event, EMPTY if features is None else features, EMPTY if models is None else models,
                          EMPTY if profile is None else profile, lists, at_us)

    def evaluate_reference(
        self,
        event: Mapping[str, Any],
        features: Mapping[str, Any] | None = None,
        models: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
        lists: ListLookup | None = None,
        at_us: int = 0,
    ) -> bool | None:
        """The same answer from the reference interpreter (slow; for tests and the benchmark peer)."""
        ctx = (event, EMPTY if features is None else features, EMPTY if models is None else models,
               EMPTY if profile is None else profile, lists, at_us)
        result = self._reference(ctx)
        return result if result is None or isinstance(result, bool) else None


def compile_condition(text: str, names: RuleNames | None = None, *,
                      event_types: Iterable[str] | None = None) -> CompiledCondition:
    """Check and compile a condition; :class:`RuleSyntaxError` names the line and column of any problem.

    ``names`` (optional) lists the names that exist, so a misspelt feature fails here, with a
    suggestion, rather than being silently null for ever. ``event_types`` limits ``event.<field>``
    to the fields of those types (when ``names`` knows them).
    """
    parsed = parse_condition(text, names, event_types=event_types)
    reference = _interp.condition(parsed.tree)
    gen = _codegen.Generator(hoist_lists=True)
    code = gen.rule(parsed.tree)
    lines = ["def _condition(event, features, models, profile, lists, at_us):"]
    body = [gen.load(ns, name) for ns, name in code.refs]
    body.append("_at = at_us if at_us is not None else _default_at(event)" if code.uses_lists else "_at = 0")
    body += [
        "try:",
        *("    " + h for h in gen.hoisted),
        f"    if {code.true}:",
        "        return True",
        f"    if {code.false}:",
        "        return False",
        "    return None",
        "except _FinriskError:",
        "    raise",
        "except _Exception:",
        "    return _truth(_reference((event, features, models, profile, lists, _at)))",
    ]
    source = "\n".join(lines + _codegen.indent(body, 1)) + "\n"
    env = {**_codegen.base_globals(), **gen.constants, "_reference": reference}
    try:
        fast = _codegen.compile_function(source, "_condition", env, "<rule condition>")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        raise error("the condition is too complex to compile; split it into simpler rules",
                    split_lines(text), 1, 1) from None
    return CompiledCondition(text=text, references=parsed.references, source=source, tree=parsed.tree,
                             _fast=fast, _reference=reference)
