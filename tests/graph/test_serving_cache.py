"""The network API's cached graph: built in the background, never blocking a request for the whole build."""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import pytest

from finrisk.errors import GraphNotReadyError, ServiceNotReadyError
from finrisk.graph.serving import CachedGraph, Pseudonymiser, frames_loader

TRANSFERS = pd.DataFrame({"account_id": ["a", "b"], "counterparty_account": ["b", "c"], "amount": [10.0, 9.0],
                          "event_time": [1, 2]})


class GatedLoader:
    """A loader that holds each build until the test opens the gate, and can be told to fail once."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls = 0
        self.fail_next = False
        self._inner = frames_loader(TRANSFERS, [], {"c"})

    def __call__(self) -> Any:
        self.calls += 1
        if self.fail_next:
            self.fail_next = False
            raise OSError("warehouse unreachable")
        assert self.gate.wait(10), "the test never opened the gate"
        return self._inner()


def _cache(loader: GatedLoader, **kw: float) -> CachedGraph:
    return CachedGraph(loader, Pseudonymiser(b"k" * 32), wait_seconds=kw.pop("wait", 0.05), **kw)


def _until(predicate: Any, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_first_request_gets_503_with_retry_after_while_the_build_runs_then_the_graph() -> None:
    loader = GatedLoader()
    cache = _cache(loader)
    with pytest.raises(GraphNotReadyError) as raised:
        cache.view()
    assert raised.value.retry_after > 0 and raised.value.http_status == 503
    assert "being built" in str(raised.value)
    with pytest.raises(GraphNotReadyError):
        cache.view()
    assert loader.calls == 1, "a second request must join the running build, not start another"
    loader.gate.set()
    _until(lambda: cache._building is None)
    view = cache.view()
    assert view.generation == 1 and "c" in view.risk


def test_a_stale_view_keeps_answering_while_it_is_rebuilt() -> None:
    loader = GatedLoader()
    loader.gate.set()
    cache = _cache(loader, wait=5.0, ttl_seconds=0.0)
    first = cache.view()
    loader.gate.clear()
    started = time.monotonic()
    assert cache.view() is first, "a stale view is served at once"
    assert time.monotonic() - started < 1.0
    _until(lambda: loader.calls == 2)
    loader.gate.set()
    _until(lambda: cache._view is not first)
    assert cache._view is not None and cache._view.generation == 2


def test_a_failed_build_is_reported_and_the_next_request_retries() -> None:
    loader = GatedLoader()
    loader.gate.set()
    loader.fail_next = True
    cache = _cache(loader, wait=5.0)
    with pytest.raises(ServiceNotReadyError, match="could not be built.*OSError") as raised:
        cache.view()
    assert not isinstance(raised.value, GraphNotReadyError)
    assert cache.view().generation == 1 and loader.calls == 2
