"""Safety: no text compiles to anything but the language, and no compiled rule raises or escapes.

- Known escape attempts are refused with a RuleSyntaxError.
- Random token soups and random text either compile or raise RuleSyntaxError (nothing else).
- Random conditions built from the grammar, evaluated on random hostile contexts, never raise,
  always give True/False/None, and the generated code agrees with the reference interpreter.
- The generated code names only the fixed helper table, locals it made up, and ``get``/``append``;
  its globals have empty builtins; user identifiers appear only inside string constants.
"""

from __future__ import annotations

import io
import json
import math
import re
import tokenize
import types
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from finrisk.errors import RuleSyntaxError
from finrisk.rules import CompiledCondition, compile_condition, parse_ruleset
from finrisk.rules.language import FUNCTIONS
from finrisk.rules.language._codegen import base_globals

SETTINGS = settings(max_examples=300, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate,
                                                             Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])

ESCAPES = [
    "().__class__.__bases__[0].__subclasses__()",
    "event.__class__",
    "event.__class__.__mro__",
    "event.get('amount') > 1",
    "event.amount.__class__ == 1",
    "__import__('os').system('id')",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('x=1')",
    "compile('1', 'f', 'eval')",
    "globals()",
    "locals()",
    "vars()",
    "dir()",
    "getattr(event, 'amount')",
    "getattr(event, '__class__')",
    "type(event)",
    "lambda: 1",
    "(lambda x: x)(1)",
    "[x for x in event]",
    "{x: 1 for x in 'ab'}",
    "(x for x in 'ab')",
    "'a' * 10 ** 9",
    "'a' * 1000000000 == 'b'",
    "[1] * 1000000000 == [1]",
    "2 ** 10000000 > 1",
    "9 ** 9 ** 9 > 1",
    "f'{event}' == 'x'",
    "f'{event.amount.__class__}' == 'x'",
    "(x := 1) > 0",
    "print(*event)",
    "max(*[1, 2]) > 1",
    "lower(**{'s': 'x'}) == 'x'",
    "event['amount'] > 1",
    "event.amount[0] > 1",
    "'abc'[::-1] == 'cba'",
    "event.__dict__",
    "event.__getattribute__('x')",
    "features.__len__() > 0",
    "lists.black.__class__",
    "lists.black.contains.__globals__",
    "lists.__dict__.contains(1)",
    "models.__class__.__name__ == 'dict'",
    "__builtins__",
    "__builtins__.open",
    "_add(1, 2) > 0",
    "_f_lower.__globals__",
    "True.__class__",
    "(1).__class__",
    "''.join(['a']) == 'a'",
    "'%s' % event.amount == '1'",
    "'{0.__class__}'.format(event) == 'x'",
    "import os",
    "yield 1",
    "await event",
    "event.amount if True else 0",
    "del event",
    "event.amount > 1; import os",
    "event.amount > 1\nimport os",
    "1 if __import__('os') else 2",
    "b'\\x00' == event.a",
    "...",
    "event.amount @ 2 > 1",
    "~event.amount > 1",
    "event.amount << 64 > 1",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_known_escape_attempts_are_refused(text: str) -> None:
    with pytest.raises(RuleSyntaxError):
        compile_condition(text)


def test_values_from_events_cannot_build_huge_values() -> None:
    """``event.s * n`` compiles (s may be a number) but a string operand makes it null, not a repetition."""
    cond = compile_condition("is_null(event.s * 1000000000) and is_null(event.l * 1000000000)"
                             " and is_null(event.s % event.l) and is_null(event.l + event.l)")
    assert cond.evaluate({"s": "ab", "l": [1, 2]}) is True
    assert cond.evaluate_reference({"s": "ab", "l": [1, 2]}) is True


def test_reason_templates_refuse_format_tricks() -> None:
    base = "name: s\nrules:\n  - name: r\n    when: event.a > 1\n    action: review\n    reason: \"{}\"\n"
    for bad in ("{event.__class__}", "{0}", "{event.a:>1000000000}", "{event.a!r}", "{event[a]}", "{a}",
                "{event.a.b}", "{features.x.__globals__}"):
        with pytest.raises(Exception, match="placeholder|never closed|lone"):
            parse_ruleset(base.format(bad.replace('"', '\\"')).replace("{}", bad))


# --- structural proof: what generated code can reach ---------------------------------------------------

_OUR_NAMES = re.compile(r"^(r\d+|_t\d+|_l\d+|_K\d+|_slow\d+|_h|_et|_at|event|features|models|profile|lists|at_us"
                        r"|_condition|_ruleset|_reference|get|append|def|if|elif|else|try|except|raise|return"
                        r"|and|or|not|is|in|None|True|False|_[a-z0-9_]+|_FinriskError|_Exception)$")


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def assert_confined(cond: CompiledCondition) -> None:
    fn = cond._fast
    assert fn.__globals__["__builtins__"] == {}
    allowed = set(base_globals()) | {"get", "append", "_reference"} | {k for k in fn.__globals__
                                                                       if re.match(r"^_K\d+$", k)}
    assert _code_names(fn.__code__) <= allowed, _code_names(fn.__code__) - allowed
    for tok in tokenize.generate_tokens(io.StringIO(cond.source).readline):
        if tok.type == tokenize.NAME:
            assert _OUR_NAMES.match(tok.string), f"user text reached the generated code as a name: {tok.string}"


def test_escape_names_only_reach_generated_code_as_strings() -> None:
    cond = compile_condition("event.os == 'x' and features.system > 1 and profile.open == true and "
                             "lists.eval.contains(event.exec) and models.getattr > 0")
    assert_confined(cond)
    assert "event.get('os')" in cond.source


# --- random text ----------------------------------------------------------------------------------------

TOKENS = ["event", "features", "models", "profile", "lists", ".", ".", "amount", "city", "x", "contains",
          "__class__", "__import__", "os", "open", "(", ")", "[", "]", "{", "}", ",", ":", "+", "-", "*", "/", "%",
          "**", "//", "<", "<=", ">", ">=", "==", "!=", "=", ":=", "and", "or", "not", "in", "is", "if", "else",
          "lambda", "for", "import", "null", "true", "false", "None", "1", "0", "-1", "2.5", "1e400", "'a'",
          "\"b\"", "f'{x}'", "lower", "coalesce", "hour", "round", "is_null", "len", "\n", "#", "\\", "'", "@",
          "yield", "await", "*", "...", "__builtins__", "getattr", "_add"]


def _check_text(text: str) -> None:
    try:
        cond = compile_condition(text)
    except RuleSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1
        assert str(exc)
        return
    assert_confined(cond)
    for ctx in CONTEXTS:
        assert cond.evaluate(*ctx) in (True, False, None)


CONTEXTS: list[tuple[Any, ...]] = [
    ({}, {}, {}, {}, None, 0),
    ({"amount": 1e308, "city": "x", "x": [1], "contains": None}, {"amount": float("nan")}, {}, {}, None, 0),
    ({"amount": "text", "city": 10**400, "x": True}, {"x": {"a": 1}}, {"x": -0.0}, {"x": b"b"}, None, 0),
]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25).map(" ".join))
def test_token_soup_compiles_or_raises_rule_syntax_error(text: str) -> None:
    _check_text(text)


@SETTINGS
@given(st.text(max_size=120))
def test_arbitrary_text_compiles_or_raises_rule_syntax_error(text: str) -> None:
    _check_text(text)


# --- random conditions from the grammar on hostile contexts --------------------------------------------

FIELDS = ["a", "b", "c"]
_refs = st.builds(lambda ns, f: f"{ns}.{f}", st.sampled_from(["event", "features", "models", "profile"]),
                  st.sampled_from(FIELDS))
_literals = st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["0.5", "-2.5", "1e300", "'x'", "'a'", "''"]))


def _values(depth: int) -> st.SearchStrategy[str]:
    if depth <= 0:
        return st.one_of(_refs, _refs, _literals)
    sub = _values(depth - 1)
    return st.one_of(
        _refs, _literals,
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(["+", "-", "*", "/", "%"]), sub),
        st.builds(lambda a: f"-{a}", _refs),
        st.builds(lambda fn, a: f"{fn}({a})", st.sampled_from(["lower", "upper", "len", "abs", "round", "hour",
                                                                "weekday", "is_null"]), _refs),
        st.builds(lambda fn, a, b: f"{fn}({a}, {b})",
                  st.sampled_from(["coalesce", "min", "max", "startswith", "endswith", "contains",
                                   "seconds_between"]), _refs, sub),
        st.builds(lambda a: f"lists.l.contains({a})", sub),
    )


def _conditions(depth: int) -> st.SearchStrategy[str]:
    values = _values(1)
    leaf = st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", values, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                  values),
        st.builds(lambda a, b, c: f"{a} < {b} <= {c}", values, values, values),
        st.builds(lambda a, neg, items: f"{a} {'not in' if neg else 'in'} [{', '.join(items)}]", values,
                  st.booleans(), st.lists(_literals, min_size=1, max_size=3)),
        st.builds(lambda a, neg: f"{a} {'!=' if neg else '=='} null", values, st.booleans()),
        _refs, st.sampled_from(["true", "false", "null"]),
        st.builds(lambda a: f"lists.l.contains({a})", values),
        st.builds(lambda a: f"coalesce({a}, false)", _refs),
    )
    if depth <= 0:
        return leaf
    sub = _conditions(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(["and", "or"]), sub),
        st.builds(lambda a: f"not ({a})", sub),
        st.builds(lambda a, b: f"(({a}) == ({b}))", sub, sub),
    )


_hostile = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**62, max_value=2**70),
    st.just(10**500), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
    st.sampled_from(["2026-01-05T10:00:00Z", "2026-01-05T10:00:00", "x", "", "1e5"]),
    st.datetimes(timezones=st.just(UTC)), st.datetimes(), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.just(object()), st.binary(max_size=3),
)
_mapping = st.dictionaries(st.sampled_from(FIELDS), _hostile, max_size=3)


class _Lists:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def contains(self, list_name: str, value: object, at_us: int) -> bool:
        if self.answer == "raise":
            raise RuntimeError("a broken list store")
        return bool(value == self.answer)


@SETTINGS
@given(_conditions(3), st.lists(st.tuples(_mapping, _mapping, _mapping, _mapping,
                                          st.sampled_from([None, _Lists("x"), _Lists(1), _Lists("raise")])),
                                min_size=1, max_size=4))
def test_random_conditions_never_raise_and_both_back_ends_agree(text: str, contexts: list[tuple[Any, ...]]) -> None:
    try:
        cond = compile_condition(text)
    except RuleSyntaxError:
        return  # e.g. statically mistyped ('x' - 1): refused, which is fine
    assert_confined(cond)
    for event, features, models, profile, lists in contexts:
        fast = cond.evaluate(event, features, models, profile, lists, 7)
        slow = cond.evaluate_reference(event, features, models, profile, lists, 7)
        assert fast in (True, False, None)
        assert fast is slow, (text, event, features, models, profile, fast, slow)


@SETTINGS
@given(_conditions(2), _conditions(2), _mapping, _mapping)
def test_rule_set_function_agrees_with_each_condition(a: str, b: str, event: dict[str, Any],
                                                      features: dict[str, Any]) -> None:
    """The one generated function of a rule set hits exactly where each condition alone is true."""
    try:
        conds = [compile_condition(a), compile_condition(b)]
    except RuleSyntaxError:
        return
    compiled = parse_ruleset(_yaml_rules(conds)).compile()
    event = {**event, "event_type": "transaction"}
    want = [i for i, c in enumerate(conds) if c.evaluate(event, features, None, None, None, 0) is True]
    assert compiled.hit_indexes(event, features, at_us=0) == want


def _yaml_rules(conds: list[CompiledCondition]) -> str:
    rules = "".join(f"  - name: r{i}\n    when: {json.dumps(c.text)}\n    action: review\n"
                    for i, c in enumerate(conds))
    return "name: s\nrules:\n" + rules


def test_every_helper_is_covered_by_the_generators() -> None:
    generated = {"lower", "upper", "len", "abs", "round", "hour", "weekday", "is_null", "coalesce", "min", "max",
                 "startswith", "endswith", "contains", "seconds_between"}
    assert generated == set(FUNCTIONS)


def test_nan_and_infinity_compare_like_python_in_both_back_ends() -> None:
    cond = compile_condition("event.a > 1")
    assert cond.evaluate({"a": math.nan}) is False
    assert cond.evaluate_reference({"a": math.nan}) is False
    assert cond.evaluate({"a": math.inf}) is True
    assert compile_condition("hour(event.t) == 10").evaluate({"t": datetime(2026, 1, 1, 10)}) is True
