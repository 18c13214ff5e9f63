"""Rule sets: a YAML file of named rules with conditions, actions, scores and reasons, and its policy.

The file format is documented in ``docs/rules.md``; :func:`parse_ruleset` checks everything at once
it can without knowing the workspace (keys, values, conditions' syntax, reason placeholders) and
:meth:`RuleSet.compile` checks names against the workspace. Every error names the file, the line
(and column, for conditions), the rule and the problem.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finrisk._yamlfile import LocatedDocument, PathKey, parse_yaml
from finrisk.errors import RuleSetError, RuleSyntaxError, WorkspaceError
from finrisk.rules._reason import TemplateError, parse_reason
from finrisk.rules._yamlpos import value_position
from finrisk.rules.language import RuleNames
from finrisk.rules.language._names import suggest
from finrisk.rules.language._parser import parse_condition
from finrisk.rules.policy import DEFAULT_LEVELS, Action, ChallengeMethod, Policy, RiskLevel

if TYPE_CHECKING:
    from finrisk.rules.compiled import CompiledRuleSet

__all__ = ["Rule", "RuleSet", "load_ruleset", "parse_ruleset"]

_RULESET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_RULE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TOP_KEYS = ("name", "description", "policy", "levels", "rules")
_RULE_KEYS = ("name", "description", "events", "when", "action", "method", "score", "reason", "enabled")
_LEVEL_KEYS = ("min_score", "action", "method")
_NAME_RULE = "letters, digits and '_', starting with a lower-case letter, at most 64 characters"


@dataclass(frozen=True)
class Rule:
    """One rule: when ``when`` is true for an event of one of ``events``, it hits.

    Attributes
    ----------
    name : str
        Unique in its rule set.
    when : str
        The condition (see ``docs/rules.md``).
    action : Action or None
        What a hit asks for; ``None`` when the rule only contributes ``score``.
    method : ChallengeMethod or None
        For ``action: challenge``: how to challenge (``sms_otp`` when not given).
    score : float
        Added to the event's score on a hit.
    reason : str
        What an investigator reads on a hit; may hold ``{namespace.name}`` placeholders.
    events : tuple[str, ...] or None
        Event types the rule applies to (``None``: all).
    enabled : bool
        A disabled rule is checked but never evaluated.
    """

    name: str
    when: str
    description: str = ""
    events: tuple[str, ...] | None = None
    action: Action | None = None
    method: ChallengeMethod | None = None
    score: float = 0.0
    reason: str = ""
    enabled: bool = True
    line: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description, "when": self.when,
                               "events": list(self.events) if self.events is not None else None,
                               "action": self.action.value if self.action else None,
                               "method": self.method.value if self.method else None,
                               "score": self.score, "reason": self.reason, "enabled": self.enabled}
        return out


@dataclass(frozen=True)
class RuleSet:
    """A parsed rule set: name, policy, risk levels and rules, with its source text and fingerprint.

    ``fingerprint`` is the SHA-256 of the canonical content (not of the text), so comments and
    formatting do not change it and any change of meaning does.

    Examples
    --------
    >>> rs = parse_ruleset('''
    ... name: demo
    ... rules:
    ...   - name: big_amount
    ...     when: event.amount > 5000
    ...     action: review
    ...     reason: "Amount {event.amount} is above 5000"
    ... ''')
    >>> rs.compile().evaluate({"event_type": "transaction", "amount": 7500.0}, {}).reasons
    ('Amount 7500 is above 5000',)
    """

    name: str
    description: str
    policy: Policy
    levels: tuple[RiskLevel, ...]
    rules: tuple[Rule, ...]
    text: str = field(repr=False, compare=False)
    file: str = field(default="rules.yaml", repr=False, compare=False)

    @cached_property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The canonical content (what the fingerprint covers)."""
        return {"name": self.name, "description": self.description, "policy": self.policy.value,
                "levels": [lv.to_dict() for lv in self.levels], "rules": [r.to_dict() for r in self.rules]}

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def compile(self, names: RuleNames | None = None) -> CompiledRuleSet:
        """Check every name against ``names`` and compile the whole set into one function."""
        from finrisk.rules.compiled import CompiledRuleSet

        return CompiledRuleSet.build(self, names)

    # --- error positions (used by the compiler too) ------------------------------------------------
    def condition_error(self, index: int, exc: RuleSyntaxError) -> RuleSyntaxError:
        """Move a condition error of rule ``index`` to its place in the file."""
        return _condition_error(self.text, self.file, index, self.rules[index].name, exc)

    def error(self, index: int | None, key: str | None, message: str) -> RuleSetError:
        """A RuleSetError at rule ``index`` (and ``key``), with the line found in the text."""
        doc = _located(self.text, self.file)
        path: PathKey = ("rules", index) if index is not None else ()
        if key is not None:
            path = (*path, key)
        rule = self.rules[index].name if index is not None else None
        return RuleSetError(message, file=self.file, line=doc.line_of(path) if doc else None, rule=rule)


def _located(text: str, file: str) -> LocatedDocument | None:
    try:
        return parse_yaml(text, file)
    except WorkspaceError:
        return None


def _condition_error(text: str, file: str, index: int, rule: str, exc: RuleSyntaxError) -> RuleSyntaxError:
    where = value_position(text, ("rules", index, "when"), exc.line, exc.column)
    if where is None:
        return RuleSyntaxError(exc.message, line=exc.line, column=exc.column, source_line=exc.source_line,
                               file=file, rule=rule)
    line, column = where
    source_lines = text.split("\n")
    source = source_lines[line - 1] if line - 1 < len(source_lines) else ""
    source = "".join(c if c.isprintable() else " " for c in source)
    return RuleSyntaxError(exc.message, line=line, column=column, source_line=source, file=file, rule=rule)


class _Reader:
    """Checks one located document against the declared keys and value constraints."""

    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc
        self.rule: str | None = None

    def fail(self, path: PathKey, message: str) -> RuleSetError:
        return RuleSetError(message, file=self.doc.file, line=self.doc.line_of(path), rule=self.rule)

    def keys(self, path: PathKey, value: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
        for key in value:
            if key not in allowed:
                raise self.fail((*path, key), f"unknown key {key!r} in {what}{suggest(key, allowed)}; "
                                              f"the keys are {', '.join(allowed)}")

    def text(self, path: PathKey, value: Any, what: str, *, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str):
            raise self.fail(path, f"{what} must be text, got {_describe(value)}")
        return value

    def number(self, path: PathKey, value: Any, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(path, f"{what} must be a finite number, got {_describe(value)}")
        return float(value)

    def choice(self, path: PathKey, value: Any, enum: type[Action] | type[ChallengeMethod] | type[Policy],
               what: str) -> Any:
        allowed = [m.value for m in enum]
        if value not in allowed:
            raise self.fail(path, f"{what} must be one of {', '.join(allowed)}, got {_describe(value)}"
                                  f"{suggest(str(value), allowed)}")
        return enum(value)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."


def _levels(r: _Reader, raw: Any) -> tuple[RiskLevel, ...]:
    if raw is None:
        return DEFAULT_LEVELS
    if not isinstance(raw, dict) or not raw:
        raise r.fail(("levels",), "levels must map level names to {min_score, action}, e.g. "
                                  "low: {min_score: 0, action: pass}")
    levels: list[RiskLevel] = []
    for name, spec in raw.items():
        path: PathKey = ("levels", name)
        if not _RULE_NAME.match(name):
            raise r.fail(path, f"level name {name!r} must be {_NAME_RULE}")
        if not isinstance(spec, dict):
            raise r.fail(path, f"level {name!r} must be a mapping such as {{min_score: 40, action: challenge}}")
        r.keys(path, spec, _LEVEL_KEYS, f"level {name!r}")
        for key in ("min_score", "action"):
            if key not in spec:
                raise r.fail(path, f"level {name!r} needs {key!r}")
        min_score = r.number((*path, "min_score"), spec["min_score"], f"level {name!r} min_score")
        action = r.choice((*path, "action"), spec["action"], Action, f"level {name!r} action")
        method = None
        if spec.get("method") is not None:
            if action is not Action.CHALLENGE:
                raise r.fail((*path, "method"), f"level {name!r}: a method only goes with action: challenge")
            method = r.choice((*path, "method"), spec["method"], ChallengeMethod, f"level {name!r} method")
        if levels and min_score <= levels[-1].min_score:
            raise r.fail((*path, "min_score"), f"level {name!r}: min_score must be above the previous level's "
                                               f"({levels[-1].min_score:g}), got {min_score:g}")
        if levels and action.strength < levels[-1].action.strength:
            raise r.fail((*path, "action"), f"level {name!r}: action {action.value} is weaker than the previous "
                                            f"level's ({levels[-1].action.value}); levels go from weak to strong")
        levels.append(RiskLevel(name, min_score, action, method))
    return tuple(levels)


def _rule(r: _Reader, index: int, raw: Any, seen: dict[str, int]) -> Rule:
    path: PathKey = ("rules", index)
    r.rule = None
    if not isinstance(raw, dict):
        raise r.fail(path, f"rule #{index + 1} must be a mapping with name, when, action or score, and reason")
    name = raw.get("name")
    if not isinstance(name, str) or not _RULE_NAME.match(name):
        raise r.fail((*path, "name"), f"rule #{index + 1} needs a name of {_NAME_RULE}, got {_describe(name)}")
    r.rule = name
    if name in seen:
        raise r.fail((*path, "name"), f"duplicate rule name (first at line {seen[name]})")
    seen[name] = r.doc.line_of((*path, "name")) or 0
    r.keys(path, raw, _RULE_KEYS, "a rule")
    if "when" not in raw:
        raise r.fail(path, "a rule needs a condition under 'when'")
    when = raw["when"]
    if isinstance(when, bool):  # `when: true` - YAML read it as a boolean
        when = "true" if when else "false"
    when = r.text((*path, "when"), when, "'when'")
    description = r.text((*path, "description"), raw.get("description"), "'description'", default="")
    action = None
    if raw.get("action") is not None:
        action = r.choice((*path, "action"), raw["action"], Action, "'action'")
    method = None
    if raw.get("method") is not None:
        if action is not Action.CHALLENGE:
            raise r.fail((*path, "method"), "a method only goes with action: challenge")
        method = r.choice((*path, "method"), raw["method"], ChallengeMethod, "'method'")
    score = 0.0 if raw.get("score") is None else r.number((*path, "score"), raw["score"], "'score'")
    if action is None and score == 0:
        raise r.fail(path, "a rule needs an action or a score (use action: pass for a rule that only records hits)")
    events = _events(r, (*path, "events"), raw.get("events"))
    reason = r.text((*path, "reason"), raw.get("reason"), "'reason'", default=description or name)
    try:
        parse_reason(reason)
    except TemplateError as exc:
        raise r.fail((*path, "reason"), f"reason: {exc} (column {exc.column})") from None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise r.fail((*path, "enabled"), f"'enabled' must be true or false, got {_describe(enabled)}")
    return Rule(name=name, when=when, description=description, events=events, action=action, method=method,
                score=score, reason=reason, enabled=enabled, line=r.doc.line_of(path))


def _events(r: _Reader, path: PathKey, raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(e, str) and e for e in items):
        raise r.fail(path, f"'events' must be an event type or a list of them, got {_describe(raw)}")
    if len(set(items)) != len(items):
        raise r.fail(path, "'events' names an event type twice")
    return tuple(items)


def parse_ruleset(text: str, file: str = "rules.yaml") -> RuleSet:
    """Parse and check a rule-set file's text (conditions' syntax included; names at compile time)."""
    try:
        doc = parse_yaml(text, file)
    except WorkspaceError as exc:
        message = str(exc)
        prefix = f"{exc.file}:{exc.line}: " if exc.line is not None else f"{exc.file}: "
        raise RuleSetError(message.removeprefix(prefix), file=file, line=exc.line) from None
    r = _Reader(doc)
    data = doc.data
    if not isinstance(data, dict):
        raise r.fail((), "a rule set is a mapping with name, policy, levels and rules")
    r.keys((), data, _TOP_KEYS, "the rule set")
    name = data.get("name")
    if not isinstance(name, str) or not _RULESET_NAME.match(name):
        raise r.fail(("name",), "a rule set needs a name of letters, digits, '_', '.' or '-', starting with a "
                                f"letter, got {_describe(name)}")
    description = r.text(("description",), data.get("description"), "'description'", default="")
    policy = Policy.STRONGEST
    if data.get("policy") is not None:
        policy = r.choice(("policy",), data["policy"], Policy, "'policy'")
    levels = _levels(r, data.get("levels"))
    raw_rules = data.get("rules")
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        raise r.fail(("rules",), "'rules' must be a list of rules")
    seen: dict[str, int] = {}
    rules = tuple(_rule(r, i, raw, seen) for i, raw in enumerate(raw_rules))
    for i, rule in enumerate(rules):
        try:
            parse_condition(rule.when)
        except RuleSyntaxError as exc:
            raise _condition_error(text, file, i, rule.name, exc) from None
    return RuleSet(name=name, description=description, policy=policy, levels=levels, rules=rules,
                   text=text, file=file)


def load_ruleset(path: str | Path) -> RuleSet:
    """Read and parse a rule-set file (errors name ``path``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleSetError("file not found", file=str(p)) from None
    except UnicodeDecodeError as exc:
        raise RuleSetError(f"not UTF-8 text ({exc.reason})", file=str(p)) from None
    except OSError as exc:
        raise RuleSetError(f"cannot read the file ({exc.strerror})", file=str(p)) from None
    return parse_ruleset(text, file=str(p))
