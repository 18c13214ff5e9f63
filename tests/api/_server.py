"""Start ``finrisk serve`` in a subprocess and wait until its health check answers 200; or an app under
uvicorn on a thread of this process (:func:`serve_in_thread`)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn


def serve_in_thread(app: Any, protocol: Any, **config: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    """``app`` under uvicorn with the HTTP ``protocol`` class on a free local port; returns once started.
    Stop it with ``server.should_exit = True`` and ``thread.join()``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=protocol, log_config=None, access_log=False, lifespan="off",
                                          **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, thread, sock.getsockname()[1]


LISTENING = re.compile(r"listening on (http://\S+)")


class Server:
    def __init__(self, workspace: Path, *, admin_key: str, log: Path, args: tuple[str, ...] = ()) -> None:
        env = {**os.environ, "FINRISK_API_KEY": admin_key}
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finrisk.cli.main", "serve", "-w", str(workspace), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=self._log, env=env, text=True,
        )
        assert self.proc.stdout is not None
        self.lines: list[str] = []
        self.url = ""
        deadline = time.monotonic() + 60
        while not self.url:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"finrisk serve ended early: {self.lines}")
            self.lines.append(line)
            found = LISTENING.search(line)
            if found:
                self.url = found.group(1)
            if time.monotonic() > deadline:
                raise RuntimeError("finrisk serve printed no address")
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"finrisk serve never became healthy: {self.lines}")
            time.sleep(0.1)

    def stop(self, signal: int) -> int:
        self.proc.send_signal(signal)
        code = self.proc.wait(timeout=60)
        assert self.proc.stdout is not None
        self.lines.extend(self.proc.stdout.readlines())
        self.proc.stdout.close()
        self._log.close()
        return code
