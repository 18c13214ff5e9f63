"""The rule language: safe conditions over events, features, model scores, profiles and lists.

See ``docs/rules.md`` for the grammar, the null semantics and the helper functions.
"""

from __future__ import annotations

from finrisk.errors import RuleSyntaxError
from finrisk.rules.language._names import RuleNames
from finrisk.rules.language._parser import MAX_DEPTH, MAX_LENGTH, MAX_LIST
from finrisk.rules.language._runtime import FUNCTIONS, ListLookup
from finrisk.rules.language.condition import CompiledCondition, compile_condition

__all__ = [
    "CompiledCondition",
    "FUNCTIONS",
    "ListLookup",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_LIST",
    "RuleNames",
    "RuleSyntaxError",
    "compile_condition",
]
