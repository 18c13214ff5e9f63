"""Rules: the safe rule language, rule sets with actions and risk levels, and their evaluation.

See ``docs/rules.md`` for the language, the rule-set file and the policies.
"""

from __future__ import annotations

from finrisk.errors import RuleSetError, RuleSyntaxError
from finrisk.rules.compiled import CompiledRuleSet, RuleHit, RuleSetResult
from finrisk.rules.language import CompiledCondition, ListLookup, RuleNames, compile_condition
from finrisk.rules.policy import DEFAULT_LEVELS, Action, ChallengeMethod, Policy, RiskLevel
from finrisk.rules.ruleset import Rule, RuleSet, load_ruleset, parse_ruleset

__all__ = [
    "Action",
    "ChallengeMethod",
    "CompiledCondition",
    "CompiledRuleSet",
    "DEFAULT_LEVELS",
    "ListLookup",
    "Policy",
    "RiskLevel",
    "Rule",
    "RuleHit",
    "RuleNames",
    "RuleSet",
    "RuleSetError",
    "RuleSetResult",
    "RuleSyntaxError",
    "compile_condition",
    "load_ruleset",
    "parse_ruleset",
]
