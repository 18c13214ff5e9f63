"""Two builds of ``finrisk serve`` under the same load at the same moments: CPU per request, thread by thread.

On a shared 2-core machine a run's CPU per request moves by ±10% from one minute to the next, more
than most single changes save; runs one after the other cannot show a 3-5% change. Here two servers
(one per source tree, e.g. ``/work/main/src`` and this checkout's ``src``), each on a fresh
workspace of its own, are driven by one load generator at ``--rate`` requests/s each, with the same
simulated events, so both see the same machine. Figures per server: the event loop thread's CPU
per request (the bottleneck: it holds the GIL for the decision path), the whole server's (the log
writer process included), p50 / p99 and errors. Rounds alternate which server starts first.

    python benchmarks/decision_http_ab.py --a /work/main/src --b src [--rate 900] [--seconds 10] [--rounds 3]

Without ``--a``/``--b`` both servers run this checkout's ``src`` (an A/A run: how far two identical builds
differ on this machine, the figure to hold an A/B's ratio against). ``--quick``: two rounds of 5 s.

Peer in the same run: server A (the build compared against). The last stdout line is one JSON
object: per round and build the figures above, and ``b_vs_a_loop``: B's loop-thread CPU per request
over A's, per round and as the median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
from decision_http import (  # type: ignore[import-not-found]  # a sibling script
    _children,
    _cpu_seconds,
    _drive,
    _events,
    _percentiles,
    _request,
    _start,
    _thread_cpu,
    _wait_healthy,
    _workspace,
    uvloop,
)


def _serve(src: str, ws_root: Path, key: str, log: Path, extra: list[str]) -> tuple[Any, str, int]:
    env = {**os.environ, "FINRISK_API_KEY": key, "PYTHONPATH": str(Path(src).resolve())}
    cmd = [sys.executable, "-m", "finrisk.cli.main", "serve", "-w", str(ws_root), "--port", "0", "--no-access-log",
           *extra]
    return _start(cmd, env, log)


async def _both(targets: list[tuple[str, int, list[bytes]]], rate: float, connections: int) -> list[Any]:
    return await asyncio.gather(*(_drive(host, port, reqs, rate, connections) for host, port, reqs in targets))


def _run_both(targets: list[tuple[str, int, list[bytes]]], rate: float, connections: int) -> list[Any]:
    if uvloop is not None:
        return uvloop.run(_both(targets, rate, connections))
    return asyncio.run(_both(targets, rate, connections))


def _round(tmp: Path, order: list[tuple[str, str]], events: list[dict[str, Any]], warmup: int, rate: float,
           connections: int, extra: list[str]) -> dict[str, Any]:
    key = secrets.token_urlsafe(24)
    servers: dict[str, tuple[Any, str, int]] = {}
    try:
        for name, src in order:
            ws = _workspace(tmp / f"ws-{name}-{secrets.token_hex(3)}")
            servers[name] = _serve(src, ws.root, key, tmp / f"serve-{name}.log", extra)
        for proc, host, port in servers.values():
            _wait_healthy(host, port, proc)
        names = list(servers)
        reqs = {n: [_request(servers[n][1], servers[n][2], key, orjson.dumps(e)) for e in events] for n in names}
        _run_both([(servers[n][1], servers[n][2], reqs[n][:warmup]) for n in names], rate / 4, connections)
        before = {n: (_thread_cpu(servers[n][0].pid), _cpu_seconds(servers[n][0].pid),
                      sum(_cpu_seconds(c) for c in _children(servers[n][0].pid))) for n in names}
        results = _run_both([(servers[n][1], servers[n][2], reqs[n][warmup:]) for n in names], rate, connections)
        out: dict[str, Any] = {"load_avg_1m": round(os.getloadavg()[0], 2), "first": names[0]}
        for n, (latencies, _acked, errors, elapsed) in zip(names, results, strict=True):
            pid = servers[n][0].pid
            threads0, cpu0, child0 = before[n]
            loop_cpu = _thread_cpu(pid).get(pid, 0.0) - threads0.get(pid, 0.0)
            whole = _cpu_seconds(pid) - cpu0 + sum(_cpu_seconds(c) for c in _children(pid)) - child0
            done = max(1, len(latencies))
            pct = _percentiles(latencies)
            out[n] = {"loop_us": round(loop_cpu / done * 1e6, 1), "server_us": round(whole / done * 1e6, 1),
                      "p50_ms": pct["p50_ms"], "p99_ms": pct["p99_ms"], "errors": len(errors),
                      "achieved_rps": round(len(latencies) / elapsed, 1)}
        return out
    finally:
        for proc, _, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _, _ in servers.values():
            proc.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = str(Path(__file__).resolve().parent.parent / "src")
    parser.add_argument("--a", default=here, help="source tree of build A, compared against (default: this checkout)")
    parser.add_argument("--b", default=here, help="source tree of build B (default: this checkout's: an A/A run)")
    parser.add_argument("--quick", action="store_true", help="two rounds of 5 s (under a minute)")
    parser.add_argument("--rate", type=float, default=900.0, help="offered requests per second, to each server")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured length of each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections per server")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra option for both servers")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = min(args.seconds, 5.0), min(args.rounds, 2)
    total = int(args.rate * args.seconds)
    warmup = min(2000, total // 5)
    tmp = Path(tempfile.mkdtemp(prefix="finrisk-bench-http-ab-"))
    try:
        events = _events(tmp, warmup + total, customers=3000, days=3)
        rounds = []
        for i in range(args.rounds):
            order = [("a", args.a), ("b", args.b)] if i % 2 == 0 else [("b", args.b), ("a", args.a)]
            found = _round(tmp, order, events, warmup, args.rate, args.connections, args.serve_arg)
            found["b_vs_a_loop"] = round(found["b"]["loop_us"] / found["a"]["loop_us"], 3)
            found["b_vs_a_server"] = round(found["b"]["server_us"] / found["a"]["server_us"], 3)
            print(json.dumps(found), file=sys.stderr, flush=True)
            rounds.append(found)
        result = {
            "benchmark": "decision_http_ab", "a": args.a, "b": args.b, "rate_each": args.rate,
            "seconds": args.seconds, "rounds": rounds,
            "b_vs_a_loop_median": statistics.median(r["b_vs_a_loop"] for r in rounds),
            "b_vs_a_server_median": statistics.median(r["b_vs_a_server"] for r in rounds),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
