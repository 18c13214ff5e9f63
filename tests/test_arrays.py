"""``finrisk._arrays.distinct`` returns what ``np.unique`` returns, on every shape of input."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from finrisk._arrays import distinct


@given(arrays(np.int64, st.integers(0, 200), elements=st.integers(-(2**62), 2**62)))
def test_distinct_equals_np_unique(values: np.ndarray) -> None:
    got = distinct(values)
    assert got.dtype == values.dtype
    np.testing.assert_array_equal(got, np.unique(values))


def test_distinct_of_repeats_and_of_nothing() -> None:
    np.testing.assert_array_equal(distinct(np.array([5, 5, 5, 1, 1])), [1, 5])
    assert len(distinct(np.array([], dtype=np.int64))) == 0
