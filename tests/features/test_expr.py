from __future__ import annotations

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finrisk.features.expr import FilterSyntaxError, parse_filter


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('x')", "amount.__class__", "f(x)", "[x for x in y]", "lambda: 1", "a + b > 1",
     "x if y else z", "a < b < c", "amount in other_field"],
)
def test_anything_outside_the_grammar_is_refused(text: str) -> None:
    with pytest.raises(FilterSyntaxError, match=r"(expected|not allowed|not a valid|chained|needs|may hold)"):
        parse_filter(text)


def test_syntax_error_gives_column() -> None:
    with pytest.raises(FilterSyntaxError, match=r"not a valid expression.*column"):
        parse_filter("amount >")


ROWS = st.fixed_dictionaries(
    {"a": st.one_of(st.none(), st.integers(-3, 3)), "s": st.one_of(st.none(), st.sampled_from(["x", "y", "z"])),
     "b": st.one_of(st.none(), st.booleans())}
)
FILTERS = [
    "a > 0", "not (a > 0)", "a >= 1 and s == 'x'", "a < 0 or s != 'y'", "not (a == 1 or s in ['x', 'z'])",
    "s not in ['x']", "a is None", "s is not None and not b", "b", "not b or a <= -1", "a == -2",
]


@given(rows=st.lists(ROWS, min_size=1, max_size=20))
def test_python_and_duckdb_agree_with_nulls(rows: list[dict[str, object]]) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, a INTEGER, s VARCHAR, b BOOLEAN)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [(i, r["a"], r["s"], r["b"]) for i, r in enumerate(rows)])
    for text in FILTERS:
        f = parse_filter(text)
        sql_hits = {i for (i,) in con.execute(f"SELECT i FROM t WHERE {f.sql}").fetchall()}
        py_hits = {i for i, r in enumerate(rows) if f.matches(r)}
        assert sql_hits == py_hits, text
