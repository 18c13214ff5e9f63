from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finrisk.errors import GraphInputError
from finrisk.graph import build_transfer_graph, transfer_graph_from_frame


def test_edges_sorted_by_source_then_time_and_rows_point_back() -> None:
    src = ["b", "a", "a", "c"]
    g = build_transfer_graph(src, ["c", "b", "c", "a"], [1.0, 2.0, 3.0, 4.0], [5, 9, 1, 2])
    assert g.n_nodes == 3 and g.n_edges == 4
    keys = list(zip(g.src.tolist(), g.time.tolist(), strict=True))
    assert keys == sorted(keys)
    frame = g.edge_frame(np.arange(4))
    for rec in frame.itertuples():
        assert src[rec.row] == rec.src
    assert g.out_degree().sum() == 4 and g.in_degree().tolist() == [1, 1, 2]
    assert g.adjacency().sum() == 4


def test_in_order_sorts_by_target_then_time() -> None:
    g = build_transfer_graph(["a", "b", "c"], ["z", "z", "z"], [1.0, 1.0, 1.0], [30, 10, 20])
    assert g.time[g.in_order].tolist() == [10, 20, 30]


def test_timestamps_with_time_zone_become_epoch_seconds() -> None:
    frame = pd.DataFrame({"account_id": ["a"], "counterparty_account": ["b"], "amount": [1.0],
                          "event_time": pd.to_datetime(["2026-01-01T00:00:10Z"], utc=True)})
    g = transfer_graph_from_frame(frame)
    assert g.time.tolist() == [1767225610]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dst": ["b"]}, r"'dst' parameter must have as many rows as 'src' \(2\)"),
    ({"amount": [1.0, float("nan")]}, r"'amount' parameter must be a finite number"),
    ({"time": ["x", "y"]}, r"'time' parameter must be integers or timestamps"),
])
def test_bad_columns_name_the_field(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"src": ["a", "b"], "dst": ["b", "a"], "amount": [1.0, 2.0], "time": [1, 2]}
    args.update(kwargs)
    with pytest.raises(GraphInputError, match=message):
        build_transfer_graph(**args)  # type: ignore[arg-type]


def test_missing_column_is_named() -> None:
    with pytest.raises(GraphInputError, match="'counterparty_account' parameter is a required column"):
        transfer_graph_from_frame(pd.DataFrame({"account_id": ["a"], "amount": [1.0], "event_time": [1]}))


def test_one_device_seen_in_two_tables_is_one_identifier() -> None:
    import pandas as pd

    from finrisk.graph import identity_graph_from_frames

    registration = pd.DataFrame({"account_id": ["a", "b"], "device_id": ["DEV", "OTHER"], "event_time": [5, 6]})
    login = pd.DataFrame({"account_id": ["c", "a", None], "device_id": ["DEV", "DEV", "DEV"], "event_time": [9, 2, 1]})
    ig = identity_graph_from_frames([registration, login])
    dev = [i for i, ident in enumerate(ig.identifiers.tolist()) if ident == ("device_id", "DEV")]
    assert len(dev) == 1  # before: one node per table, so a and c were never linked
    holders = {ig.accounts[a] for a, i in zip(ig.link_account, ig.link_identifier, strict=True) if i == dev[0]}
    assert holders == {"a", "c"} and len(ig.link_account) == 3
    assert dict(zip(ig.accounts.tolist(), ig.first_seen.tolist(), strict=True)) == {"a": 2, "b": 6, "c": 9}


def test_order_by_falls_back_to_lexsort_for_keys_or_times_it_cannot_pack() -> None:
    from finrisk.graph.build import order_by

    rng = np.random.default_rng(0)
    key, t = rng.integers(0, 50, 2000), rng.integers(-10**9, 10**9, 2000)
    assert order_by(key, t).tolist() == np.lexsort((t, key)).tolist()
    big = np.array([2**40, 0, 2**40]), np.array([5, 2**40, 1])  # sparse keys: lexsort fallback
    assert order_by(*big).tolist() == np.lexsort((big[1], big[0])).tolist()
    negative = np.array([3, -1, 3, 0]), np.array([2, 1, 1, 0])
    assert order_by(*negative).tolist() == np.lexsort((negative[1], negative[0])).tolist()


def test_unique_pairs_match_numpy_unique_of_rows() -> None:
    from finrisk.graph.build import unique_pairs

    rng = np.random.default_rng(5)
    for n_first, n_second, n in ((50, 3, 4000), (3000, 10**6, 20_000), (10, 2**60, 500), (5, 5, 0)):
        first, second = rng.integers(0, n_first, n), rng.integers(0, n_second, n)
        second[: n // 3] = second[n // 3: 2 * (n // 3)]  # repeated pairs
        first[: n // 3] = first[n // 3: 2 * (n // 3)]
        got = unique_pairs(first, second, n_first)
        expected = np.unique(np.stack([first, second], axis=1), axis=0).reshape(-1, 2)
        np.testing.assert_array_equal(np.stack(got, axis=1).reshape(-1, 2), expected)


def test_grouped_order_is_a_stable_lexsort_by_key_then_time() -> None:
    from finrisk.graph.build import order_by

    rng = np.random.default_rng(8)
    for t in (rng.integers(0, 30 * 86400, 5000), rng.integers(-5, 5, 3000), rng.integers(0, 2**40, 2000),
              rng.integers(0, 2**62, 50), np.zeros(0, dtype=np.int64), np.array([7])):
        key = rng.integers(0, 40, len(t))  # runs of ~125 (sorted as a hub's) and of ~1 (insertion sort)
        key[: len(t) // 2] = rng.integers(0, max(len(t), 1), len(t) // 2)
        np.testing.assert_array_equal(order_by(key, t), np.lexsort((t, key)))


@pytest.mark.parametrize("span", [3, 30 * 86400, 2**61])  # ties; a month of seconds; too wide to pack (lexsort)
def test_out_and_in_orders_break_time_ties_by_input_row(span: int) -> None:
    rng = np.random.default_rng(span % 1000)
    n = 20_000
    weight = rng.pareto(1.2, 500) + 1  # a few hubs with runs over 32 edges
    src = rng.choice(500, n, p=weight / weight.sum())
    dst = rng.choice(500, n, p=weight / weight.sum())
    t = rng.integers(-span // 2, span // 2, n)
    g = build_transfer_graph(src, dst, rng.random(n), t)
    codes = {v: i for i, v in enumerate(g.nodes.tolist())}
    s_code, d_code = np.array([codes[v] for v in src]), np.array([codes[v] for v in dst])
    np.testing.assert_array_equal(g.row, np.lexsort((np.arange(n), t, s_code)))
    np.testing.assert_array_equal(g.src, s_code[g.row])
    np.testing.assert_array_equal(g.dst, d_code[g.row])
    np.testing.assert_array_equal(g.time, t[g.row])
    np.testing.assert_array_equal(g.row[g.in_order], np.lexsort((np.arange(n), t, d_code)))
    np.testing.assert_array_equal(g.in_ptr, np.concatenate([[0], np.cumsum(np.bincount(d_code, minlength=g.n_nodes))]))
    np.testing.assert_array_equal(g.out_ptr, np.concatenate([[0], np.cumsum(np.bincount(s_code, minlength=g.n_nodes))]))


def test_integer_ids_are_numbered_like_pandas_factorize() -> None:
    from finrisk.graph.build import factorize_ids

    rng = np.random.default_rng(2)
    for ids in (rng.integers(0, 50, 400), np.array([10**12, 3, 10**12]), np.array([-1, 4, 4])):
        codes, uniques = factorize_ids(pd.Series(ids))
        expected_codes, expected_uniques = pd.factorize(ids)
        np.testing.assert_array_equal(codes, expected_codes)
        np.testing.assert_array_equal(uniques, expected_uniques)
    g = build_transfer_graph(np.array([5, 9]), np.array([9, 5]), [1.0, 2.0], [1, 2])
    assert g.nodes.tolist() == [5, 9] and isinstance(g.nodes[0], int)


@pytest.mark.parametrize("direct_items", [0, 1 << 19])  # buckets of keys; one key per bucket (small inputs)
@pytest.mark.parametrize(("n", "n_keys"), [(0, 5), (1, 1), (300, 2), (120_000, 30_000), (60_000, 3_000_000)])
def test_bucket_sort_matches_lexsort_and_carries_its_payload(n: int, n_keys: int, direct_items: int) -> None:
    """Many buckets (120,000 items: ~29), empty buckets (keys far fewer than their range), hubs, a given tie."""
    from finrisk.graph._bucket_sort import bucket_grouped

    rng = np.random.default_rng(n)
    key = rng.integers(0, n_keys, n).astype(np.int32)
    key[rng.random(n) < 0.1] = n_keys // 2  # a hub: a run far over 32 items
    t = rng.integers(0, 50, n)
    tie = rng.permutation(n).astype(np.int64)
    pay_a, pay_b = rng.integers(0, 10**9, n).astype(np.int32), rng.random(n)
    words, ptr, keys, a, b, times = bucket_grouped(key, t, tie, n_keys, 0, 20, pay_a, pay_b, unpack=True,
                                                    direct_items=direct_items)
    order = np.lexsort((tie, t, key))
    np.testing.assert_array_equal(words, tie[order])
    np.testing.assert_array_equal(times, t[order])
    np.testing.assert_array_equal(keys, key[order])
    np.testing.assert_array_equal(a, pay_a[order])
    np.testing.assert_array_equal(b, pay_b[order])
    np.testing.assert_array_equal(ptr, np.concatenate([[0], np.cumsum(np.bincount(key, minlength=n_keys))]))
    packed, *_ = bucket_grouped(key, t, np.zeros(0, np.int64), n_keys, 0, 20, pay_a[:0], pay_b[:0],
                                  direct_items=direct_items)
    stable = np.lexsort((np.arange(n), t, key))
    np.testing.assert_array_equal(packed, (t[stable] << 20) | stable)


@pytest.mark.parametrize("span", [1000, 2**38])  # the key's low bits ride in the word; too wide for them
def test_a_graph_past_the_cache_sized_path_is_ordered_the_same(span: int) -> None:
    """Over ``DIRECT_ITEMS`` edges the build takes the bucketed sort: same orders as ``lexsort``."""
    from finrisk.graph._bucket_sort import DIRECT_ITEMS

    rng = np.random.default_rng(3)
    n = DIRECT_ITEMS + 70_000
    src, dst = rng.integers(0, 90_000, n), rng.integers(0, 90_000, n)
    src[rng.random(n) < 0.05] = 17  # a hub
    t = rng.integers(0, span, n)
    g = build_transfer_graph(src, dst, rng.random(n), t)
    code = np.full(90_000, -1)
    code[g.nodes.astype(np.int64)] = np.arange(g.n_nodes)
    s_code, d_code = code[src], code[dst]
    np.testing.assert_array_equal(g.row, np.lexsort((np.arange(n), t, s_code)))
    np.testing.assert_array_equal(g.src, s_code[g.row])
    np.testing.assert_array_equal(g.dst, d_code[g.row])
    np.testing.assert_array_equal(g.time, t[g.row])
    np.testing.assert_array_equal(g.row[g.in_order], np.lexsort((np.arange(n), t, d_code)))
