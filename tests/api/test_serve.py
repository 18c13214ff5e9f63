"""``finrisk serve`` as a user runs it: a real uvicorn in a subprocess, killed -9 under load, restarted,
stopped cleanly. One test, two server starts, to keep the suite fast."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from ._server import Server
from ._workspace import make_workspace, txn

pytestmark = pytest.mark.slow

KEY = "test-admin-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _load(url: str, worker: int, stop: threading.Event, acknowledged: dict[str, str]) -> None:
    with httpx.Client(headers=HEADERS, timeout=5) as client:
        n = 0
        while not stop.is_set():
            n += 1
            eid = f"k-{worker}-{n}"
            try:
                r = client.post(f"{url}/v1/decisions", json=txn(eid, customer=f"C{worker}"))
            except httpx.TransportError:
                return  # the server is gone: this request was never acknowledged
            if r.status_code == 200:
                acknowledged[eid] = r.json()["decision_id"]


@pytest.mark.parametrize("log_writer", ["thread", "process"])
def test_serve_survives_kill_9_under_load_and_stops_cleanly(tmp_path: Path, log_writer: str) -> None:
    make_workspace(tmp_path / "ws")
    log = tmp_path / "serve.log"
    args = ("--log-writer", log_writer)
    server = Server(tmp_path / "ws", admin_key=KEY, log=log, args=args)
    acknowledged: dict[str, str] = {}
    stop = threading.Event()
    workers = [threading.Thread(target=_load, args=(server.url, w, stop, acknowledged)) for w in range(4)]
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{server.url}/v1/lists").status_code == 401
        first = httpx.post(f"{server.url}/v1/decisions", json=txn("s-1", amount=2345.75), headers=HEADERS)
        assert first.status_code == 200, first.text
        assert first.json()["action"] == "review"
        for w in workers:
            w.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        writers = _children(server.proc.pid)
        assert len(writers) == (1 if log_writer == "process" else 0)
    finally:
        server.stop(signal.SIGKILL)  # mid-load: requests are in flight
        stop.set()
        for w in workers:
            if w.is_alive():
                w.join()
    assert len(acknowledged) >= 100
    deadline = time.monotonic() + 10  # the writer process sees its socket close and ends with the server
    while any(Path(f"/proc/{pid}").exists() for pid in writers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
                   for pid in writers)

    again = Server(tmp_path / "ws", admin_key=KEY, log=log, args=args)
    try:
        with httpx.Client(headers=HEADERS, timeout=5) as client:
            stored = client.get(f"{again.url}/v1/decisions/{first.json()['decision_id']}")
            assert stored.json() == first.json()
            lost = [eid for eid, did in acknowledged.items()
                    if client.get(f"{again.url}/v1/decisions/{did}").status_code != 200]
            assert lost == []
            # A retry after the crash is answered from the log, not decided again.
            eid, did = next(iter(acknowledged.items()))
            retry = client.post(f"{again.url}/v1/decisions", json=txn(eid, customer=f"C{eid.split('-')[1]}"))
            assert retry.json()["decision_id"] == did
            assert retry.json()["idempotent"] is True
    finally:
        code = again.stop(signal.SIGTERM)
    assert code == 0
    assert any("ready: rule set payments@1" in line for line in again.lines)
    assert again.lines[-1].strip() == "finrisk serve: stopped"
    assert (tmp_path / "ws" / "state" / "online.snapshot").exists()  # a clean stop saves the feature state
    logged = log.read_text()
    assert '"route":"/v1/decisions","status":200' in logged
    assert '"action":"review"' in logged
    assert "2345.75" not in logged  # event bodies are never logged (a "." never occurs in the hex ids logged)
