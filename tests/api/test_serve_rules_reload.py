"""``finrisk rules publish`` in a shell while ``finrisk serve`` runs: the served rule set follows without a restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from finrisk.cli.main import app

from ._server import Server
from ._workspace import RULES, make_workspace, txn

pytestmark = pytest.mark.slow

KEY = "test-admin-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


def test_a_cli_publish_reaches_the_running_server(tmp_path: Path) -> None:
    make_workspace(tmp_path / "ws")
    server = Server(tmp_path / "ws", admin_key=KEY, log=tmp_path / "serve.log")
    try:
        before = httpx.post(f"{server.url}/v1/decisions", json=txn("r-0", amount=500), headers=HEADERS).json()
        assert before["action"] == "pass" and before["versions"]["ruleset"] == "payments@1"
        stricter = tmp_path / "stricter.yaml"
        stricter.write_text(RULES.replace("event.amount > 1000", "event.amount > 100"), encoding="utf-8")
        result = CliRunner().invoke(app, ["rules", "publish", str(stricter), "-m", "lower the limit",
                                          "-w", str(tmp_path / "ws")])
        assert result.exit_code == 0, result.output
        published = time.monotonic()
        for i in range(1, 100):
            d = httpx.post(f"{server.url}/v1/decisions", json=txn(f"r-{i}", amount=500, customer=f"C{i}"),
                           headers=HEADERS).json()
            if d["versions"]["ruleset"] == "payments@2":
                break
            assert d["action"] == "pass"  # still version 1, whole
            time.sleep(0.05)
        assert d["versions"]["ruleset"] == "payments@2" and d["action"] == "review"
        assert time.monotonic() - published < 2.0
    finally:
        server.stop(signal.SIGTERM)
