"""List lookup latency: ``ListStore.contains`` (in-memory index) against one indexed SQLite SELECT per lookup.

Fills one list with ``--entries`` values (a tenth of them with an expiry) through
``ListStore.import_csv``, then times single lookups (half hits, half misses, random event times)
of :meth:`finrisk.rules.lists.ListStore.contains` and of the peer a rule engine would otherwise
use: ``SELECT expires_at_us FROM list_entries WHERE list_id = ? AND value = ?`` on a raw
``sqlite3`` connection to the same file (primary-key index), with the same expiry test.
Per-call times include the ``perf_counter_ns`` pair around the call (its cost is reported as
``timer_ns``); ``cpu_mean_ns`` is the process CPU time of a whole round without a timer per
call, divided by the calls (CPU time, because on a shared machine a wall-clock mean also counts
the time the process waited for a core).
``dict_floor_p50_ns`` times a bare dict lookup with the same expiry test: the floor in Python.

Also reported: import and full index load times, the memory the index holds (dict, keys and values), and for a
write made through another store: the background check's cost with nothing changed (one counter
read) and with one changed value, and how long from the write's start until a lookup saw it
(at most the write plus the 500 ms check interval).

    python benchmarks/lists_lookup.py [--quick] [--entries N]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from finrisk.rules._lists_csv import ImportRow
from finrisk.rules._lists_db import bump_changes, upsert_rows
from finrisk.rules.lists import ListStore
from finrisk.store.relational import lists, now_us, open_database

BASE_US = 1_767_225_600_000_000  # 2026-01-01
YEAR_US = 365 * 86_400_000_000


def _write_csv(path: Path, n: int, rng: random.Random) -> list[str]:
    values = [f"138{i:08d}" for i in range(n)]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("value,reason,expires_at\n")
        for i, value in enumerate(values):
            expires = "2026-07-01T00:00:00Z" if i % 10 == 0 else ""
            fh.write(f"{value},bench,{expires}\n")
    rng.shuffle(values)
    return values


def _percentiles(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return float(ordered[len(ordered) // 2]), float(ordered[int(len(ordered) * 0.99)])


def _time_calls(fn: Any, queries: list[tuple[str, int]]) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for value, at in queries:
        t0 = clock()
        fn("phone_black", value, at)
        out.append(clock() - t0)
    return out


def _timer_cost(n: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        samples.append(clock() - t0)
    return float(statistics.median(samples))


def _fill_direct(store: ListStore, folder: Path) -> None:
    """--quick: the rows of the CSV straight into the import's upsert (skips parsing the CSV)."""
    rows = [ImportRow(v, r, None if not e else BASE_US) for v, r, e in
            (line.rstrip("\n").split(",") for line in (folder / "list.csv").open().readlines()[1:])]
    with store.db.write() as conn:
        list_id = conn.execute(select(lists.c.id).where(lists.c.name == "phone_black")).scalar_one()
        upsert_rows(conn, int(list_id), rows, actor="bench", at_us=now_us())
        bump_changes(conn, "phone_black", None, now_us())
    store.refresh()  # what import_csv does at its end


def run(entries: int, lookups: int, rounds: int, *, via_csv: bool) -> dict[str, Any]:
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'finrisk.db'}"
        values = _write_csv(folder / "list.csv", entries, rng)
        db = open_database(url)
        store = ListStore(db)
        store.create_list("phone_black", "black", "phone")
        t0 = time.perf_counter()
        if via_csv:
            store.import_csv("phone_black", folder / "list.csv", added_by="bench")
        else:
            _fill_direct(store, folder)
        import_s = time.perf_counter() - t0

        reader = ListStore(open_database(url))
        t0 = time.perf_counter()
        reader.refresh()
        load_s = time.perf_counter() - t0
        index = reader._lists["phone_black"]
        index_mb = (sys.getsizeof(index) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in index.items())) / 1e6

        queries = [
            (values[i] if i % 2 == 0 else f"139{rng.randrange(10**8):08d}", BASE_US + rng.randrange(YEAR_US))
            for i in range(lookups)
        ]
        hits = sum(reader.contains("phone_black", v, at) for v, at in queries)

        peer_conn = sqlite3.connect(folder / "finrisk.db")
        list_id = peer_conn.execute("SELECT id FROM lists WHERE name = 'phone_black'").fetchone()[0]
        sql = "SELECT expires_at_us FROM list_entries WHERE list_id = ? AND value = ?"

        def sqlite_contains(_: str, value: str, at_us: int) -> bool:
            row = peer_conn.execute(sql, (list_id, value)).fetchone()
            return row is not None and (row[0] is None or at_us < row[0])

        assert sum(sqlite_contains("", v, at) for v, at in queries) == hits  # same answers
        plain = dict(reader._lists["phone_black"])

        def dict_contains(_: str, value: str, at_us: int) -> bool:  # the floor: one bare dict, no checks
            expires = plain.get(value, -1)
            return expires is None or at_us < expires

        ours_p50, ours_p99, peer_p50, peer_p99, means, floor_p50 = [], [], [], [], [], []
        for _ in range(rounds):  # interleaved rounds: both see the same machine load
            p50, p99 = _percentiles(_time_calls(reader.contains, queries))
            ours_p50.append(p50)
            ours_p99.append(p99)
            p50, p99 = _percentiles(_time_calls(sqlite_contains, queries[: max(1, lookups // 5)]))
            peer_p50.append(p50)
            peer_p99.append(p99)
            floor_p50.append(_percentiles(_time_calls(dict_contains, queries))[0])
            contains = reader.contains
            t0 = time.process_time_ns()
            for v, at in queries:
                contains("phone_black", v, at)
            means.append((time.process_time_ns() - t0) / len(queries))
        peer_conn.close()

        # Another process's write: what one background check costs, and how soon a lookup sees it.
        t0 = time.perf_counter_ns()
        reader._try_sync()  # nothing changed: one counter read
        check_us = (time.perf_counter_ns() - t0) / 1000
        t0 = time.perf_counter_ns()
        store.add("phone_black", "13999999999", "late addition", added_by="bench")
        while not reader.contains("phone_black", "13999999999", BASE_US):
            time.sleep(0.001)
        visible_ms = (time.perf_counter_ns() - t0) / 1e6
        store.add("phone_black", "13999999998", "late addition", added_by="bench")
        t0 = time.perf_counter_ns()
        reader._try_sync()  # one changed value: counter, change row, one entry
        apply_us = (time.perf_counter_ns() - t0) / 1000
        reader.close()
        reader.db.close()
        db.close()

    p50, p99 = statistics.median(ours_p50), statistics.median(ours_p99)
    sp50, sp99 = statistics.median(peer_p50), statistics.median(peer_p99)
    return {
        "benchmark": "lists_lookup",
        "entries": entries,
        "lookups": lookups,
        "rounds": rounds,
        "hit_rate": round(hits / lookups, 3),
        "p50_ns": p50,
        "p99_ns": p99,
        "cpu_mean_ns": round(statistics.median(means), 1),
        "timer_ns": _timer_cost(lookups),
        "dict_floor_p50_ns": statistics.median(floor_p50),
        "sqlite_p50_ns": sp50,
        "sqlite_p99_ns": sp99,
        "speedup_p50": round(sp50 / p50, 1),
        "speedup_p99": round(sp99 / p99, 1),
        "import_s": round(import_s, 2),
        "import_via": "import_csv" if via_csv else "upsert_rows (CSV parsing skipped)",
        "index_load_s": round(load_s, 2),
        "index_mb": round(index_mb, 1),
        "check_interval_ms": 500,
        "change_check_us": round(check_us, 1),
        "change_apply_us": round(apply_us, 1),
        "change_visible_ms": round(visible_ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer lookups and rounds (under a minute)")
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    lookups, rounds = (50_000, 3) if args.quick else (500_000, 5)
    result = run(args.entries, lookups, rounds, via_csv=not args.quick)
    print(f"contains on {result['entries']:,} entries: p50 {result['p50_ns']:.0f} ns, p99 {result['p99_ns']:.0f} ns "
          f"(SQLite SELECT: p50 {result['sqlite_p50_ns']:.0f} ns, p99 {result['sqlite_p99_ns']:.0f} ns)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
