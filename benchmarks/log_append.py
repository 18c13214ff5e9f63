"""Event-log append throughput and file-load throughput, against the simplest durable peer.

Measures events/s of :class:`finrisk.store.EmbeddedEventLog` (SQLite WAL) with durability
``fsync`` and ``os`` at batch sizes 1, 100 and 10,000, next to a plain JSON-lines segment file
appended with one fsync per batch (the simplest possible durable log: no idempotency index, no
conflict detection, no per-batch atomicity), and rows/s of ``load_path`` on a Parquet file.

    python benchmarks/log_append.py [--quick]

The last line of stdout is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finrisk.config import init_workspace
from finrisk.events import EventTypeRegistry, EventValidator, canonical_json
from finrisk.store import EmbeddedEventLog, load_path


def _events(n: int, validator: EventValidator, prefix: str) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        validator.validate(
            {
                "event_id": f"{prefix}{i}",
                "event_type": "transaction",
                "event_time": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "txn_type": "payment",
                "customer_id": f"C{rng.randrange(10_000)}",
                "account_id": f"A{rng.randrange(10_000)}",
                "merchant_id": f"M{rng.randrange(500)}",
                "amount": round(rng.random() * 1000, 2),
                "channel": "app",
            }
        )
        for i in range(n)
    ]


def _bench_log(folder: Path, events: list[dict[str, Any]], durability: str, batch: int) -> float:
    path = folder / f"log-{durability}-{batch}.sqlite"
    with EmbeddedEventLog(path, durability=durability) as log:  # type: ignore[arg-type]
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            log.append(events[i : i + batch])
        return len(events) / (time.perf_counter() - started)


def _bench_jsonl(folder: Path, events: list[dict[str, Any]], durability: str, batch: int) -> float:
    path = folder / f"segment-{durability}-{batch}.jsonl"
    started = time.perf_counter()
    with path.open("ab") as fh:
        for i in range(0, len(events), batch):
            fh.write(b"".join(canonical_json(e) + b"\n" for e in events[i : i + batch]))
            fh.flush()
            if durability == "fsync":
                os.fsync(fh.fileno())
    return len(events) / (time.perf_counter() - started)


def _bench_load(folder: Path, rows: int, validator: EventValidator) -> float:
    events = _events(rows, validator, "p")
    for e in events:
        e["event_time"] = e["event_time"]  # datetimes go to Parquet as timestamps
    table = pa.Table.from_pylist(events, schema=validator.registry.get("transaction").arrow_schema)
    src = folder / "load.parquet"
    pq.write_table(table, src)
    ws = init_workspace(folder / "ws")
    summary = load_path(ws, src, rejects_path=folder / "rejects.jsonl")
    assert summary.loaded == rows, summary
    return summary.rows_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, under a minute")
    args = parser.parse_args()
    counts = {1: 200, 100: 5_000, 10_000: 50_000} if args.quick else {1: 1_000, 100: 50_000, 10_000: 300_000}
    load_rows = 100_000 if args.quick else 500_000
    validator = EventValidator(EventTypeRegistry.builtin())
    figures: dict[str, Any] = {"quick": args.quick, "append_events_per_s": {}, "peer_jsonl_fsync_events_per_s": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for batch, n in counts.items():
            events = _events(n, validator, f"b{batch}-")
            for durability in ("fsync", "os"):
                key = f"{durability}/batch={batch}"
                sqlite_rate = _bench_log(folder, events, durability, batch)
                peer_rate = _bench_jsonl(folder, events, durability, batch)
                figures["append_events_per_s"][key] = round(sqlite_rate)
                figures["peer_jsonl_fsync_events_per_s"][key] = round(peer_rate)
                print(f"append {key:<20} sqlite {sqlite_rate:>12,.0f}/s   jsonl segment {peer_rate:>12,.0f}/s")
        rate = _bench_load(folder, load_rows, validator)
        figures["load_parquet_rows"] = load_rows
        figures["load_parquet_rows_per_s"] = round(rate)
        print(f"load_path parquet {load_rows:,} rows: {rate:,.0f} rows/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
