"""The compiled Arrow string factoriser gives pandas.factorize's codes and order, or steps aside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from finrisk.graph._strings import factorize_strings


def test_same_codes_and_order_as_pandas_through_table_growth() -> None:
    rng = np.random.default_rng(3)
    ids = np.char.add("A", rng.integers(0, 90_000, 300_000).astype("U8"))
    # lengths 0-15, embedded NUL bytes, and a prefix sharing its first 8 bytes with a longer id
    extra = ["", "\x00", "\x00\x00", "abcdefgh", "abcdefgh\x00", "abcdefghijklmno", "é", "A1"]
    chunks = pa.chunked_array([pa.array(ids.tolist()), pa.array(extra * 3)])
    values = pd.Series(chunks, dtype=pd.ArrowDtype(pa.large_string()))
    codes, uniques = factorize_strings(values)  # type: ignore[misc]
    expected_codes, expected = pd.factorize(values.astype(object))
    assert np.array_equal(codes, expected_codes)
    assert uniques.tolist() == list(expected)


def test_short_ids_take_the_one_word_table() -> None:
    rng = np.random.default_rng(4)
    ids = np.char.add("A", rng.integers(0, 90_000, 300_000).astype("U6")).tolist()
    values = pd.Series([*ids, "", "\x00", "\x00\x00", "A1\x00", "abcdefg", "é"] * 2, dtype="str")
    codes, uniques = factorize_strings(values)  # type: ignore[misc]
    expected_codes, expected = pd.factorize(values.astype(object))
    assert np.array_equal(codes, expected_codes)
    assert uniques.tolist() == list(expected)


def test_sliced_column_and_pandas_str_dtype() -> None:
    values = pd.Series(["b", "a", "b", "c", "a"], dtype="str").iloc[1:].reset_index(drop=True)
    codes, uniques = factorize_strings(values)  # type: ignore[misc]
    assert codes.tolist() == [0, 1, 2, 0] and uniques.tolist() == ["a", "b", "c"]


def test_steps_aside_for_long_strings_nulls_and_objects() -> None:
    assert factorize_strings(pd.Series(["x" * 16, "y"], dtype="str")) is None
    assert factorize_strings(pd.Series(["x", None], dtype="str")) is None
    assert factorize_strings(pd.Series(["x", "y"], dtype=object)) is None
