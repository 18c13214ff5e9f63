"""Diff of two rule-set texts: unified text diff plus a per-rule summary read as plain YAML.

Plain YAML (not the rule parser) so that any two stored versions can be compared, even ones the
current parser would reject.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

import yaml

__all__ = ["RuleChange", "RuleSetDiff", "diff_texts"]

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class RuleChange:
    """One rule that was added, removed or changed (with the keys that differ, sorted)."""

    rule: str
    change: ChangeKind
    keys: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "change": self.change, "keys": list(self.keys)}


@dataclass(frozen=True)
class RuleSetDiff:
    """What changed between versions ``a`` and ``b`` of a rule set.

    ``summarised`` is False when either text is not a YAML mapping with a ``rules:`` list of
    mappings with a ``name``; then only ``unified`` is filled. ``settings`` lists the other
    top-level keys that differ (``policy``, ``levels``...).
    """

    name: str
    a: int
    b: int
    unified: str
    summarised: bool
    changes: tuple[RuleChange, ...]
    settings: tuple[str, ...]

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(c.rule for c in self.changes if c.change == "added")

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(c.rule for c in self.changes if c.change == "removed")

    @property
    def changed(self) -> tuple[RuleChange, ...]:
        return tuple(c for c in self.changes if c.change == "changed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "a": self.a, "b": self.b, "unified": self.unified, "summarised": self.summarised,
            "changes": [c.to_dict() for c in self.changes], "settings": list(self.settings),
        }


def _rules_by_name(text: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]] | None:
    """``({rule name: rule mapping}, other top-level keys)``, or None when the text has no such shape."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        return None
    rules: dict[str, dict[str, Any]] = {}
    for rule in doc["rules"]:
        if not isinstance(rule, dict) or not isinstance(rule.get("name"), str):
            return None
        rules[rule["name"]] = rule
    return rules, {k: v for k, v in doc.items() if k != "rules"}


def diff_texts(old: str, new: str, *, name: str, a: int, b: int) -> RuleSetDiff:
    """Compare two rule-set texts (rules in the order of the new text, removed ones last)."""
    unified = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"{name} v{a}", tofile=f"{name} v{b}"
        )
    )
    parsed_old, parsed_new = _rules_by_name(old), _rules_by_name(new)
    if parsed_old is None or parsed_new is None:
        return RuleSetDiff(name, a, b, unified, False, (), ())
    (rules_old, top_old), (rules_new, top_new) = parsed_old, parsed_new
    changes: list[RuleChange] = []
    for rule, body in rules_new.items():
        before = rules_old.get(rule)
        if before is None:
            changes.append(RuleChange(rule, "added"))
            continue
        keys = tuple(sorted(str(k) for k in before.keys() | body.keys() if before.get(k) != body.get(k)))
        if keys:
            changes.append(RuleChange(rule, "changed", keys))
    changes.extend(RuleChange(rule, "removed") for rule in rules_old if rule not in rules_new)
    settings = tuple(sorted(str(k) for k in top_old.keys() | top_new.keys() if top_old.get(k) != top_new.get(k)))
    return RuleSetDiff(name, a, b, unified, True, tuple(changes), settings)
