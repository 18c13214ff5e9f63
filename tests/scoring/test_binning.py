from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from finrisk.scoring._monotone import best_partition
from finrisk.scoring.binning import fit_categorical, fit_numeric
from finrisk.scoring.woe import information_value


def _shape_ok(rates: np.ndarray, trend: str) -> bool:
    d = np.diff(rates)
    if trend == "ascending":
        return bool(np.all(d >= -1e-12))
    if trend == "descending":
        return bool(np.all(d <= 1e-12))
    sign = 1.0 if trend == "peak" else -1.0
    return any(np.all(sign * d[:m] >= -1e-12) and np.all(sign * d[m:] <= 1e-12) for m in range(len(d) + 1))


def _brute_force(event: np.ndarray, total: np.ndarray, trend: str, min_size: float) -> float:
    k = len(event)
    best = -np.inf
    for mask in itertools.product([0, 1], repeat=k - 1):
        ends = [i for i in range(k - 1) if mask[i]] + [k - 1]
        starts = [0] + [e + 1 for e in ends[:-1]]
        e = np.array([event[s : t + 1].sum() for s, t in zip(starts, ends, strict=True)])
        t = np.array([total[s : t + 1].sum() for s, t in zip(starts, ends, strict=True)])
        if t.min() < min_size or not _shape_ok(e / t, trend):
            continue
        best = max(best, information_value(e, t))
    return best


counts = st.integers(min_value=2, max_value=7).flatmap(
    lambda k: st.tuples(
        arrays(np.int64, k, elements=st.integers(0, 30)), arrays(np.int64, k, elements=st.integers(1, 30))
    )
)


@settings(max_examples=60, deadline=None)
@given(counts, st.sampled_from(["ascending", "descending", "peak", "valley"]), st.integers(1, 40))
def test_dynamic_programme_finds_the_brute_force_optimum(
    data: tuple[np.ndarray, np.ndarray], trend: str, min_size: int
) -> None:
    bad, good = data
    event, total = bad.astype(float), (bad + good).astype(float)
    expected = _brute_force(event, total, trend, min_size)
    _, value, ends = best_partition(event, total, trend=trend, min_size=min_size, bads=event.sum(),
                                    goods=total.sum() - event.sum())
    if np.isfinite(expected):
        assert value == pytest.approx(expected, abs=1e-9)
        starts = [0] + [e + 1 for e in ends[:-1]]
        e = np.array([event[s : t + 1].sum() for s, t in zip(starts, ends, strict=True)])
        t = np.array([total[s : t + 1].sum() for s, t in zip(starts, ends, strict=True)])
        assert t.min() >= min_size and _shape_ok(e / t, trend)
    else:
        assert ends == [len(event) - 1]  # nothing feasible: one bin


values = arrays(np.float64, st.integers(20, 300),
                elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan), st.just(-999.0)))


@settings(max_examples=60, deadline=None)
@given(values, st.integers(0, 2**32 - 1), st.sampled_from(["auto", "ascending", "descending", "peak", "valley"]))
def test_numeric_binning_invariants(x: np.ndarray, seed: int, trend: str) -> None:
    y = (np.random.default_rng(seed).random(x.size) < 0.3).astype(float)
    b = fit_numeric("x", x, y, special_codes=[-999.0], max_n_prebins=10, min_size=0.05 * x.size, trend=trend)
    idx = b.bin_index(x)
    assert idx.min() >= 0 and idx.max() <= b.missing_index  # every value has a bin
    np.testing.assert_array_equal(np.bincount(idx, minlength=len(b.total)), b.total)  # counts sum
    np.testing.assert_array_equal(np.bincount(idx, weights=y, minlength=len(b.event)), b.event)
    assert np.all(np.isfinite(b.woe)) and np.isfinite(b.iv) and b.iv >= 0
    assert np.all(idx[np.isnan(x)] == b.missing_index) and np.all(idx[x == -999.0] == b.special_index)
    assert list(b.splits) == sorted(set(b.splits))
    regular = np.array(b.total[: b.n_regular])
    if regular.sum() >= 2 * 0.05 * x.size and len(regular) > 1:
        assert regular.min() >= 0.05 * x.size
    rates = np.array(b.event[: b.n_regular]) / np.maximum(regular, 1)
    if regular.min() > 0:
        assert _shape_ok(rates, b.trend)
    assert all(b.bin_of(v) == i for v, i in zip(x[:20], idx[:20], strict=True))  # scalar path agrees


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", None, "SPECIAL"]), min_size=10, max_size=200),
       st.integers(0, 2**32 - 1))
def test_categorical_binning_invariants(cats: list[str | None], seed: int) -> None:
    x = np.array(cats, dtype=object)
    y = (np.random.default_rng(seed).random(x.size) < 0.3).astype(float)
    b = fit_categorical("c", x, y, special_codes=["SPECIAL"], min_size=0.05 * x.size)
    idx = b.bin_index(x)
    np.testing.assert_array_equal(np.bincount(idx, minlength=len(b.total)), b.total)
    assert np.all(np.isfinite(b.woe))
    rates = np.array(b.event[: b.n_regular]) / np.array(b.total[: b.n_regular])
    assert _shape_ok(rates, "ascending")
    assert b.bin_index(np.array(["zzz-unseen"], dtype=object))[0] == b.unseen_index
    assert b.woe[b.unseen_index] == 0.0
    assert all(b.bin_of(v) == i for v, i in zip(cats, idx, strict=True))


def test_missing_and_special_are_scored_from_their_own_rows() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=4000)
    x[:400] = np.nan
    x[400:800] = -999.0
    y = (rng.random(4000) < 0.1).astype(float)
    y[:400] = 1.0  # every missing row is bad
    b = fit_numeric("x", x, y, special_codes=[-999.0], max_n_prebins=20, min_size=200, trend="auto")
    assert b.total[b.missing_index] == 400 and b.total[b.special_index] == 400
    assert b.woe[b.missing_index] == max(b.woe)  # the riskiest bin, not merged into a regular one
    empty = fit_numeric("x", x[800:], y[800:], special_codes=[-999.0], max_n_prebins=20, min_size=200, trend="auto")
    assert empty.woe[empty.missing_index] == 0.0 and empty.woe[empty.special_index] == 0.0  # average risk
