"""HTTP end to end: ``finrisk serve`` under a constant offered load of decisions, durable logging on.

The server runs in a subprocess on a fresh workspace (built-in event types, demo features, the
demo rule set; ``durability = fsync``, the default). Events come from ``finrisk simulate --format
jsonl``, ordered by time, each given a fresh ``event_id``. The load generator is this process: an
open-loop schedule (request ``i`` is due at ``start + i / rate``, whatever the answers do) spread
over keep-alive connections on one asyncio loop; each latency runs from the request's *due* time to
the last byte of its answer, so a stalled server is charged for the queue it causes (no
coordinated omission).

Afterwards the server is stopped and the event log is opened directly: every acknowledged
``decision_id`` must be in it (``lost`` counts the ones that are not).

Peer, in the same run and at the same offered rate: a bare uvicorn ASGI app that reads the body
and answers a fixed JSON: the floor the HTTP stack itself sets on this machine (``peer_*``).

    python benchmarks/decision_http.py [--quick] [--rate 2000] [--seconds 60] [--connections 64]

The last line of stdout is one JSON object: offered_rps, achieved_rps, p50_ms, p99_ms, p999_ms,
errors, lost, the server's CPU per request (its child processes, i.e. the log writer process,
included; ``server_thread_cpu_us_per_request`` splits the serving process: ``loop`` is the event
loop's thread), the peer's figures, and the disk's fsync time measured just before the run
(``disk_fsync_p50_ms`` / ``_p99_ms``: each decision waits for about one and a half group commits,
each one fsync, so that is a floor under its latency that no server change removes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
    uvloop = None  # type: ignore[assignment]

from finrisk.config import Workspace, init_workspace
from finrisk.store.embedded_log import open_log

LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")

PEER_APP = '''
import sys
import uvicorn

BODY = b'{"decision_id":"d_peer","action":"pass","risk_level":"low","score":0.0}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})

print("listening on http://127.0.0.1:" + sys.argv[1], flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
'''


def _workspace(root: Path) -> Workspace:
    ws = init_workspace(root)
    demo_rules = resources.files("finrisk.rules").joinpath("demo_rules.yaml").read_text(encoding="utf-8")
    (root / "rules.yaml").write_text(demo_rules, encoding="utf-8")
    (root / "lists.yaml").write_text(
        "lists:\n"
        "  blacklist: {kind: black, field: device_id, description: \"Devices, accounts and IPs seen in fraud\"}\n"
        "  whitelist: {kind: white, field: customer_id, description: \"Customers cleared by an investigator\"}\n",
        encoding="utf-8",
    )
    return ws


def _events(tmp: Path, needed: int, customers: int, days: int) -> list[dict[str, Any]]:
    out = tmp / "sim"
    subprocess.run([sys.executable, "-m", "finrisk.cli.main", "simulate", "--customers", str(customers), "--days",
                    str(days), "--format", "jsonl", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    events = [orjson.loads(line) for path in sorted((out / "events").glob("*/part-*.jsonl"))
              for line in path.read_bytes().splitlines()]
    events.sort(key=lambda e: (e["event_time"], e["event_id"]))
    run = secrets.token_hex(3)
    # Fresh ids; when the world is smaller than the run needs, go round again (new ids, same bodies).
    return [{**events[i % len(events)], "event_id": f"bench-{run}-{i}"} for i in range(needed)]


def _request(host: str, port: int, key: str, body: bytes) -> bytes:
    return (f"POST /v1/decisions HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _connection(host: str, port: int, queue: asyncio.Queue[tuple[float, bytes] | None],
                      latencies: list[float], acknowledged: list[str], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            due, request = item
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors.append(type(exc).__name__)
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - due)
            if 200 <= status < 300:
                decision_id = orjson.loads(body).get("decision_id")
                if decision_id:
                    acknowledged.append(decision_id)
            else:
                errors.append(str(status))
    finally:
        writer.close()


async def _drive(host: str, port: int, requests: list[bytes], rate: float, connections: int
                 ) -> tuple[list[float], list[str], list[str], float]:
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    acknowledged: list[str] = []
    errors: list[str] = []
    workers = [asyncio.create_task(_connection(host, port, queue, latencies, acknowledged, errors))
               for _ in range(connections)]
    await asyncio.sleep(0.2)  # connections open before the clock starts
    start = time.perf_counter()
    for i, request in enumerate(requests):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies, acknowledged, errors, time.perf_counter() - start


def _run_load(host: str, port: int, requests: list[bytes], rate: float, connections: int
              ) -> tuple[list[float], list[str], list[str], float]:
    if uvloop is not None:
        return uvloop.run(_drive(host, port, requests, rate, connections))
    return asyncio.run(_drive(host, port, requests, rate, connections))


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "p999_ms": float("nan")}
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "p999_ms": at(0.999)}


def _start(cmd: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[str], str, int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log.open("ab"), env=env, text=True)
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server ended early; see {log}")
        found = LISTENING.search(line)
        if found:
            return proc, found.group(1), int(found.group(2))


def _wait_healthy(host: str, port: int, proc: subprocess.Popen[str], path: str = "/health") -> None:
    import http.client

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
                raise SystemExit(f"server ended while loading (exit code {proc.returncode})")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server never became healthy")


def _log_batches(host: str, port: int) -> int:
    """The server's group commits so far (``GET /health``'s ``log_batches``; -1 if it does not say)."""
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/health")
    return int(orjson.loads(conn.getresponse().read()).get("log_batches", -1))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (``finrisk serve``'s log writer process), from ``/proc``."""
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def _thread_cpu(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process so far (Linux ``/proc``; empty elsewhere)."""
    out: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _thread_shares(pid: int, before: dict[int, float], after: dict[int, float], requests: int) -> dict[str, float]:
    """CPU per request of the server's event-loop thread (the process's first) and of its busiest others."""
    delta = {tid: cpu - before.get(tid, 0.0) for tid, cpu in after.items()}
    per = max(1, requests)
    shares = {"loop": round(delta.pop(pid, 0.0) / per * 1e6, 1)}
    for rank, (_, cpu) in enumerate(sorted(delta.items(), key=lambda kv: -kv[1])[:3]):
        shares[f"other_{rank + 1}"] = round(cpu / per * 1e6, 1)
    return shares


def _fsync_probe(directory: Path, seconds: float = 2.0) -> dict[str, float]:
    """How long this disk takes to fsync a 4 KiB overwrite (no size change, as in a reused WAL), now.

    Every decision waits for the group commit holding it, one fsync, and on average for half of the
    one before: the disk's fsync time is a floor under the p99 that no server change removes.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"\0" * 4096 * 64)
        os.fsync(fd)
        times: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            os.pwrite(fd, b"x" * 4096, (len(times) % 64) * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    pct = _percentiles(times)
    return {"disk_fsync_p50_ms": pct["p50_ms"], "disk_fsync_p99_ms": pct["p99_ms"]}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s of load instead of 60 s")
    parser.add_argument("--rate", type=float, default=2000.0, help="offered requests per second")
    parser.add_argument("--seconds", type=float, default=None, help="length of the measured run")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections of the load generator")
    parser.add_argument("--no-peer", action="store_true", help="skip the bare-uvicorn peer")
    parser.add_argument("--access-log", action="store_true",
                        help="keep the server's access log on (as plain `finrisk serve` does; lines go to a file)")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="extra option for `finrisk serve` (e.g. --serve-arg=--no-coalesce-writes), to compare")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else (10.0 if args.quick else 60.0)
    total = int(args.rate * seconds)
    warmup = min(2000, total // 5)

    tmp = Path(tempfile.mkdtemp(prefix="finrisk-bench-http-"))
    try:
        ws = _workspace(tmp / "ws")
        events = _events(tmp, warmup + total, customers=3000 if args.quick else 10000, days=3)
        disk = _fsync_probe(ws.log_dir)
        key = secrets.token_urlsafe(24)
        env = {**os.environ, "FINRISK_API_KEY": key}
        log = tmp / "serve.log"
        serve = [sys.executable, "-m", "finrisk.cli.main", "serve", "-w", str(ws.root), "--port", "0",
                 "--access-log" if args.access_log else "--no-access-log", *args.serve_arg]
        proc, host, port = _start(serve, env, log)
        try:
            _wait_healthy(host, port, proc)
            requests = [_request(host, port, key, orjson.dumps(e)) for e in events]
            # Warm-up at a quarter of the rate (imports, first compiles, connection set-up); not measured.
            _run_load(host, port, requests[:warmup], args.rate / 4, args.connections)
            children = _children(proc.pid)
            batches0 = _log_batches(host, port)
            cpu0, threads0 = _cpu_seconds(proc.pid), _thread_cpu(proc.pid)
            child0 = sum(_cpu_seconds(c) for c in children)
            print(f"server pid {proc.pid}: measured load starts", file=sys.stderr, flush=True)
            latencies, acknowledged, errors, elapsed = _run_load(host, port, requests[warmup:], args.rate,
                                                                 args.connections)
            child_cpu = sum(_cpu_seconds(c) for c in children) - child0
            server_cpu = _cpu_seconds(proc.pid) - cpu0 + child_cpu
            batches = _log_batches(host, port) - batches0
            threads = _thread_shares(proc.pid, threads0, _thread_cpu(proc.pid), len(latencies))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        with open_log(ws) as event_log:
            lost = sum(1 for did in acknowledged if event_log.get_decision(did) is None)

        result: dict[str, Any] = {
            "benchmark": "decision_http",
            "offered_rps": args.rate,
            "achieved_rps": round(len(latencies) / elapsed, 1),
            **_percentiles(latencies),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 3) if latencies else None,
            "requests": len(latencies) + len(errors),
            "errors": len(errors),
            "error_kinds": sorted(set(errors)),
            "lost": lost,
            "acknowledged": len(acknowledged),
            "server_cpu_us_per_request": round(server_cpu / max(1, len(latencies)) * 1e6, 1),
            "server_thread_cpu_us_per_request": threads,
            "events_per_commit": round((len(latencies) + len(errors)) / batches, 2) if batches > 0 else None,
            "writer_process_cpu_us_per_request": round(child_cpu / max(1, len(latencies)) * 1e6, 1),
            "seconds": seconds,
            "connections": args.connections,
            "durability": ws.settings.store.durability,
            **disk,
            "access_log": args.access_log,
            "serve_args": args.serve_arg,
            "rules": "demo",
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        if not args.no_peer:
            peer_port = _free_port()
            script = tmp / "peer_app.py"
            script.write_text(PEER_APP, encoding="utf-8")
            peer, phost, pport = _start([sys.executable, str(script), str(peer_port)], dict(os.environ),
                                        tmp / "peer.log")
            try:
                _wait_healthy(phost, pport, peer, "/")
                peer_requests = [_request(phost, pport, key, orjson.dumps(e)) for e in events[warmup:]]
                _run_load(phost, pport, peer_requests[:warmup], args.rate / 4, args.connections)
                pcpu0 = _cpu_seconds(peer.pid)
                plat, _, perr, pelapsed = _run_load(phost, pport, peer_requests, args.rate, args.connections)
                peer_cpu = _cpu_seconds(peer.pid) - pcpu0
            finally:
                peer.send_signal(signal.SIGTERM)
                peer.wait(timeout=60)
            peer_pct = _percentiles(plat)
            result.update({
                "peer": "bare uvicorn ASGI app (fixed JSON answer)",
                "peer_achieved_rps": round(len(plat) / pelapsed, 1),
                "peer_p50_ms": peer_pct["p50_ms"], "peer_p99_ms": peer_pct["p99_ms"],
                "peer_p999_ms": peer_pct["p999_ms"], "peer_errors": len(perr),
                "peer_cpu_us_per_request": round(peer_cpu / max(1, len(plat)) * 1e6, 1),
                "p50_vs_peer": round(result["p50_ms"] / peer_pct["p50_ms"], 2) if peer_pct["p50_ms"] else None,
            })
        print(f"offered {args.rate:.0f} req/s for {seconds:.0f} s: achieved {result['achieved_rps']} req/s, "
              f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, p99.9 {result['p999_ms']} ms, "
              f"errors {result['errors']}, lost {lost}, server CPU {result['server_cpu_us_per_request']} us/request; "
              f"disk fsync p50 {disk['disk_fsync_p50_ms']} ms, p99 {disk['disk_fsync_p99_ms']} ms",
              file=sys.stderr)
        print(json.dumps(result))
    finally:
        if os.environ.get("FINRISK_BENCH_KEEP"):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
