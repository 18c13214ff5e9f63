"""The decision log's writer process alone: its CPU per event and per commit at a constant rate, no HTTP.

``finrisk serve`` commits the decision log from a child process (``ProcessCommitWriter``). Over HTTP
its CPU per request moves with everything else on the machine (docs/api.md, ninth round); here one
thread of this process submits decision-sized frames (a transaction event's canonical JSON and a
decision of ~700 bytes, fresh ids) at a constant rate, durability ``fsync``, and the child's CPU is
read from ``/proc`` over the measured window. Peer, in the same run and at the same rate: the
in-process ``GroupCommitWriter`` thread, the same commits from a thread of the serving process
(its thread's CPU; it also holds the GIL the event loop needs, which the child does not).

    python benchmarks/log_writer_process.py [--quick] [--rate 2000] [--seconds 20] [--pace-ms 0]

The last line of stdout is one JSON object: events, commits_per_s, events_per_commit,
writer_cpu_us_per_event, writer_cpu_us_per_commit, commit_wait_p50_ms / _p99_ms (submit to
resolved), the peer's figures (``peer_*``) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from finrisk.decisions.writer import GroupCommitWriter
from finrisk.decisions.writer_process import ProcessCommitWriter
from finrisk.store.embedded_log import EmbeddedEventLog, body_hash_of


def _cpu_s(path: str) -> float:
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _items(count: int) -> list[tuple[dict[str, Any], tuple[str, bytes], tuple[bytes, str]]]:
    run = secrets.token_hex(4)
    out = []
    for i in range(count):
        event = {"event_id": f"e-{run}-{i:08d}", "event_type": "transaction",
                 "event_time": f"2026-01-05T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.123456Z",
                 "customer_id": f"C{i % 3000:06d}", "account_id": f"A{i % 5000:07d}", "amount": 1234.5 + i % 100,
                 "currency": "CNY", "channel": "app", "device_id": f"D{i % 4000:06d}",
                 "ip": f"10.1.{i % 250}.{i % 199}",
                 "merchant_id": f"M{i % 800:05d}", "counterparty_id": f"P{i % 9000:06d}", "is_new_payee": False}
        body = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
        did = f"d-{run}-{i:08d}"
        decision = orjson.dumps({"decision_id": did, "event_id": event["event_id"], "action": "pass",
                                 "risk_level": "low", "score": 12.5, "reasons": ["amount above the customer's usual"],
                                 "rule_hits": [{"rule": "large_amount_new_payee", "severity": 3,
                                                "reason": "x" * 80}] * 3,
                                 "model_scores": {}, "ruleset_version": 3, "latency_ms": 0.4,
                                 "decided_at": "2026-01-05T09:00:00.123456Z", "event_time": event["event_time"]})
        out.append((event, (did, decision), (body, body_hash_of(body))))
    return out


def _drive(writer: Any, items: list[Any], rate: float, waits: list[float] | None) -> None:
    """Submit at ``rate`` (each due at start + i / rate), then wait for every commit."""
    start = time.perf_counter()
    tickets = []
    for k, (event, decision, canonical) in enumerate(items):
        due = start + k / rate
        while (left := due - time.perf_counter()) > 0:
            time.sleep(left if left > 0.0005 else 0)
        ticket = writer.submit(event, decision, canonical=canonical)
        if waits is not None:
            sent = time.perf_counter()
            ticket.add_done_callback(lambda _t, sent=sent: waits.append(time.perf_counter() - sent))
        tickets.append(ticket)
    for ticket in tickets:
        ticket.result(timeout=60)


def _run(kind: str, items: list[Any], warmup: int, rate: float, pace_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="finrisk-bench-writer-") as tmp:
        log = EmbeddedEventLog(Path(tmp) / "events.sqlite", durability="fsync")
        log.track_ids()  # as the decision service does
        paced = {"pace_s": pace_s} if pace_s else {}  # (so that code without pacing runs it too, to compare)
        writer: Any = ProcessCommitWriter(log, **paced) if kind == "process" else GroupCommitWriter(log)
        try:
            _drive(writer, items[:warmup], rate / 2, None)
            if kind == "process":
                stat = f"/proc/{writer.pid}/stat"
            else:
                [tid] = [t.native_id for t in threading.enumerate() if t.name == "finrisk-log-writer"]
                stat = f"/proc/self/task/{tid}/stat"
            waits: list[float] = []
            cpu0, batches0 = _cpu_s(stat), writer.batches
            t0 = time.perf_counter()
            _drive(writer, items[warmup:], rate, waits)
            elapsed = time.perf_counter() - t0
            cpu, commits = _cpu_s(stat) - cpu0, writer.batches - batches0
        finally:
            writer.close()
            log.close()
    events = len(items) - warmup
    waits.sort()
    return {"events": events, "commits_per_s": round(commits / elapsed),
            "events_per_commit": round(events / commits, 2),
            "writer_cpu_us_per_event": round(cpu / events * 1e6, 1),
            "writer_cpu_us_per_commit": round(cpu / commits * 1e6, 1),
            "commit_wait_p50_ms": round(waits[len(waits) // 2] * 1e3, 2),
            "commit_wait_p99_ms": round(waits[int(len(waits) * 0.99)] * 1e3, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 s instead of 20 s, each side")
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--pace-ms", type=float, default=0.0, help="the writer process's commit pace (0: off)")
    parser.add_argument("--no-peer", action="store_true", help="skip the thread writer")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else (8.0 if args.quick else 20.0)
    warmup = int(args.rate)
    items = _items(warmup + int(args.rate * seconds))
    result: dict[str, Any] = {"benchmark": "log_writer_process", "rate": args.rate, "seconds": seconds,
                              "pace_ms": args.pace_ms, "durability": "fsync",
                              **_run("process", items, warmup, args.rate, args.pace_ms / 1000)}
    if not args.no_peer:
        peer = _run("thread", _items(len(items)), warmup, args.rate, 0.0)
        result.update({f"peer_thread_{k}": v for k, v in peer.items() if k != "events"})
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(f"writer process: {result['writer_cpu_us_per_event']} us CPU per event, "
          f"{result['writer_cpu_us_per_commit']} per commit, {result['events_per_commit']} events per commit; "
          f"thread writer: {result.get('peer_thread_writer_cpu_us_per_event')} us per event")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
