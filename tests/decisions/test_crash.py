"""kill -9 while deciding: every decision the caller saw acknowledged is in the log after restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finrisk.config import load_workspace
from finrisk.decisions.service import DecisionService

from .test_service import make_workspace

DRIVER = r"""
import sys, threading
from finrisk.config import load_workspace
from finrisk.decisions.service import DecisionService

svc = DecisionService.open(load_workspace(sys.argv[1]))
out = threading.Lock()
def worker(k):
    i = 0
    while True:
        i += 1
        body = {"event_id": f"w{k}-{i}", "event_type": "transaction", "event_time": "2026-01-05T09:00:00Z",
                "customer_id": f"C{i % 50}", "account_id": "A1", "amount": float(i % 2000), "currency": "CNY",
                "txn_type": "payment", "device_id": "D1"}
        d = svc.decide(body)
        with out:
            sys.stdout.write(f"{d.event_id} {d.decision_id}\n")
            sys.stdout.flush()
for k in range(4):
    threading.Thread(target=worker, args=(k,), daemon=True).start()
threading.Event().wait()
"""


@pytest.mark.slow
def test_acknowledged_decisions_survive_kill_9(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    with DecisionService.open(ws):
        pass  # publishes the rules and writes the first snapshot
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(ws.root)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60
    while len(acked) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        eid, did = line.split()
        acked.append((eid, did))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert len(acked) >= 300, "the driver did not acknowledge enough decisions"
    with DecisionService.open(load_workspace(ws.root)) as svc:
        for eid, did in acked:
            d = svc.get_decision(did)
            assert d is not None and d.event_id == eid
        assert svc.log.count_decisions() >= len(acked)
        assert svc.log.count() == svc.log.count_decisions()
