"""A rule set compiled into one generated function, and the result of evaluating it on an event.

The function branches once on ``event_type``; each branch reads the names its rules use into
locals and tests each rule's "is true" expression (see ``language/_codegen.py``), appending the
indexes of the rules that hit. Everything after that (scores, the policy, reason texts) runs only
for events that hit something; an event that hits nothing gets one shared, immutable result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from finrisk.errors import RuleSyntaxError
from finrisk.rules._reason import ReasonTemplate, parse_reason
from finrisk.rules.language import CompiledCondition, ListLookup, RuleNames, _codegen, compile_condition
from finrisk.rules.language._names import suggest
from finrisk.rules.language._runtime import EMPTY
from finrisk.rules.policy import Action, ChallengeMethod, decide
from finrisk.rules.ruleset import Rule, RuleSet

__all__ = ["CompiledRuleSet", "RuleHit", "RuleSetResult"]


@dataclass(frozen=True)
class RuleHit:
    """A rule that hit: its name, the action it asks for (if any), its score and its reason text."""

    rule: str
    action: Action | None
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "action": self.action.value if self.action else None,
                "score": self.score, "reason": self.reason}


@dataclass(frozen=True)
class RuleSetResult:
    """The outcome for one event.

    Attributes
    ----------
    action : Action
        pass, challenge, review or reject.
    challenge_method : str or None
        For challenge: sms_otp, security_question or face.
    risk_level : str
        The name of the risk level (see ``levels`` in the rule set).
    score : float
        The sum of the scores of the rules that hit.
    hits : tuple[RuleHit, ...]
        The rules that hit, in rule-file order.
    reasons : tuple[str, ...]
        The hits' reason texts, strongest first (by action, then score, then file order).
    """

    action: Action
    challenge_method: str | None
    risk_level: str
    score: float
    hits: tuple[RuleHit, ...]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "challenge_method": self.challenge_method,
                "risk_level": self.risk_level, "score": self.score,
                "hits": [h.to_dict() for h in self.hits], "reasons": list(self.reasons)}


@dataclass(frozen=True)
class _RuleInfo:
    rule: Rule
    index: int
    template: ReasonTemplate
    order: tuple[int, float, int]  # how reasons sort: strongest action, highest score, file order


class CompiledRuleSet:
    """A rule set ready to evaluate; build it with :meth:`RuleSet.compile`.

    Attributes
    ----------
    ruleset : RuleSet
    conditions : dict[str, CompiledCondition]
        Each rule's compiled condition by rule name (disabled rules included).
    references : dict[str, frozenset[str]]
        Every name the enabled rules read (conditions and reasons), per namespace.
    source : str
        The generated function.
    """

    def __init__(self, ruleset: RuleSet, conditions: dict[str, CompiledCondition], infos: list[_RuleInfo],
                 function: Callable[..., list[int]], source: str, references: dict[str, frozenset[str]]) -> None:
        self.ruleset = ruleset
        self.conditions = conditions
        self.references = references
        self.source = source
        self._infos = {info.index: info for info in infos}
        self._function = function
        nothing = decide(ruleset.policy, ruleset.levels, [])
        self._nothing = RuleSetResult(nothing.action, None, nothing.risk_level, nothing.score, (), ())

    @classmethod
    def build(cls, ruleset: RuleSet, names: RuleNames | None) -> CompiledRuleSet:
        conditions: dict[str, CompiledCondition] = {}
        infos: list[_RuleInfo] = []
        for i, rule in enumerate(ruleset.rules):
            _check_events(ruleset, i, rule, names)
            try:
                conditions[rule.name] = compile_condition(rule.when, names, event_types=rule.events)
            except RuleSyntaxError as exc:
                raise ruleset.condition_error(i, exc) from None
            template = parse_reason(rule.reason)
            _check_reason(ruleset, i, template, names)
            if rule.enabled:
                strength = rule.action.strength if rule.action is not None else -1
                infos.append(_RuleInfo(rule, i, template, (-strength, -rule.score, i)))
        source, env = _generate(ruleset, conditions, infos)
        function = _codegen.compile_function(source, "_ruleset", env, f"<rule set {ruleset.name}>")
        references: dict[str, set[str]] = {ns: set() for ns in ("event", "features", "models", "profile", "lists")}
        for info in infos:
            for ns, used in conditions[info.rule.name].references.items():
                references[ns] |= used
            for ns, name in info.template.references:
                references[ns].add(name)
        refs = {ns: frozenset(v) for ns, v in references.items()}
        return cls(ruleset, conditions, infos, function, source, refs)

    def hit_indexes(
        self,
        event: Mapping[str, Any],
        features: Mapping[str, Any] | None = None,
        models: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
        lists: ListLookup | None = None,
        at_us: int | None = None,
    ) -> list[int]:
        """Indexes (into ``ruleset.rules``) of the enabled rules that hit, in file order."""
        return self._function(event, EMPTY if features is None else features, EMPTY if models is None else models,
                              EMPTY if profile is None else profile, lists, at_us)

    def evaluate(
        self,
        event: Mapping[str, Any],
        features: Mapping[str, Any] | None = None,
        models: Mapping[str, Any] | None = None,
        profile: Mapping[str, Any] | None = None,
        lists: ListLookup | None = None,
        at_us: int | None = None,
    ) -> RuleSetResult:
        """Evaluate every enabled rule on one event and apply the policy; never raises on data."""
        f = EMPTY if features is None else features
        m = EMPTY if models is None else models
        p = EMPTY if profile is None else profile
        hit = self._function(event, f, m, p, lists, at_us)
        if not hit:
            return self._nothing
        infos = [self._infos[i] for i in hit]
        sources = {"event": event, "features": f, "models": m, "profile": p}
        hits = tuple(RuleHit(x.rule.name, x.rule.action, x.rule.score, x.template.render(sources)) for x in infos)
        decision = decide(self.ruleset.policy, self.ruleset.levels,
                          [(x.rule.action, x.rule.method, x.rule.score) for x in infos])
        order = sorted(range(len(infos)), key=lambda k: infos[k].order)
        method = decision.challenge_method.value if isinstance(decision.challenge_method, ChallengeMethod) else None
        return RuleSetResult(decision.action, method, decision.risk_level, decision.score, hits,
                             tuple(hits[k].reason for k in order))


def _check_events(ruleset: RuleSet, index: int, rule: Rule, names: RuleNames | None) -> None:
    if names is None or names.event_types is None or rule.events is None:
        return
    for t in rule.events:
        if t not in names.event_types:
            raise ruleset.error(index, "events", f"unknown event type {t!r}{suggest(t, names.event_types)}")


def _check_reason(ruleset: RuleSet, index: int, template: ReasonTemplate, names: RuleNames | None) -> None:
    if names is None:
        return
    for ns, name in sorted(template.references):
        known = names.known(ns)
        if known is not None and name not in known:
            raise ruleset.error(index, "reason", f"reason: unknown {ns} name {name!r}{suggest(name, known)}")
        if ns == "event" and name in names.pii_fields:
            raise ruleset.error(index, "reason", f"reason: event.{name} is personal data and may not be shown")


def _generate(ruleset: RuleSet, conditions: dict[str, CompiledCondition],
              infos: list[_RuleInfo]) -> tuple[str, dict[str, Any]]:
    """The source of ``_ruleset(event, features, models, profile, lists, at_us) -> [hit indexes]``."""
    gen = _codegen.Generator()
    env = _codegen.base_globals()
    codes = {}
    for info in infos:
        cond = conditions[info.rule.name]
        codes[info.index] = gen.rule(cond.tree)
        env[f"_slow{info.index}"] = cond._reference
    types = sorted({t for info in infos for t in (info.rule.events or ())})
    branches: list[tuple[str | None, list[_RuleInfo]]] = [
        (t, [x for x in infos if x.rule.events is None or t in x.rule.events]) for t in types]
    branches.append((None, [x for x in infos if x.rule.events is None]))
    lines = ["def _ruleset(event, features, models, profile, lists, at_us):",
             "    _h = []"]
    if types:
        lines.insert(1, "    _et = event.get('event_type')")
    for k, (t, members) in enumerate(branches):
        if t is not None:
            lines.append(f"    {'if' if k == 0 else 'elif'} _et == {t!r}:")
        elif types:
            lines.append("    else:")
        body: list[str] = []
        loads: list[tuple[str, str]] = []
        for x in members:
            for ref in codes[x.index].refs:
                if ref not in loads:
                    loads.append(ref)
        body += [gen.load(ns, name) for ns, name in loads]
        uses_lists = any(codes[x.index].uses_lists for x in members)
        body.append("_at = at_us if at_us is not None else _default_at(event)" if uses_lists else "_at = 0")
        for x in members:
            code = codes[x.index]
            body += [
                f"# {x.rule.name}",
                "try:",
                f"    if {code.true}:",
                f"        _h.append({x.index})",
                "except _FinriskError:",
                "    raise",
                "except _Exception:",
                f"    if _slow{x.index}((event, features, models, profile, lists, _at)) is True:",
                f"        _h.append({x.index})",
            ]
        lines += _codegen.indent(body, 2 if types else 1)
    lines.append("    return _h")
    env.update(gen.constants)
    return "\n".join(lines) + "\n", env
