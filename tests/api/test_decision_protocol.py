"""POST /v1/decisions answered from the HTTP parser gives, byte for byte, what the ASGI path gives."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from uvicorn.server import ServerState

from finrisk.api import ApiKeyStore, Role, create_app
from finrisk.api.coalescing import CoalescingHttpToolsProtocol
from finrisk.api.decision_protocol import DecisionHttpProtocol
from finrisk.api.deps import ServiceHolder
from finrisk.api.fast_decisions import Answer, FastDecisions, plain_event
from finrisk.api.metrics import ApiMetrics
from finrisk.api.schemas.decisions import EventIn
from finrisk.decisions.service import DecisionService
from finrisk.store.relational import open_database

from ._server import serve_in_thread
from ._workspace import make_workspace, txn


class CountingProtocol(DecisionHttpProtocol):
    """The protocol under test, counting the requests it answered itself (not through uvicorn's cycle)."""

    direct = 0

    def _reply(self, fast: Any, direct: Any, answer: Any, drained: bool = False) -> None:
        super()._reply(fast, direct, answer, drained)
        if direct.response_complete:  # answered (not deferred until a slow reader drains)
            type(self).direct += 1


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, int], dict[Role, str]]]:
    ws = make_workspace(Path(tmp_path_factory.mktemp("direct")) / "ws")
    service = DecisionService.open(ws)
    keys = ApiKeyStore(open_database(ws.database_url))
    role_keys = {role: keys.create(name=f"test {role.value}", role=role)[1] for role in Role}
    app = create_app(service, keys)
    running = {name: serve_in_thread(app, protocol, proxy_headers=False, date_header=False)  # a date could tick
               for name, protocol in
               (("direct", CountingProtocol), ("asgi", CoalescingHttpToolsProtocol))}
    running["short keep-alive"] = serve_in_thread(app, DecisionHttpProtocol, proxy_headers=False, date_header=False,
                                                  timeout_keep_alive=0.4)
    try:
        yield {name: port for name, (_, _, port) in running.items()}, role_keys
    finally:
        for server, thread, _ in running.values():
            server.should_exit = True
            thread.join(10)
        service.close()


def _request(body: bytes | None, headers: dict[str, str], *, path: str = "/v1/decisions",
             version: str = "1.1") -> bytes:
    lines = [f"POST {path} HTTP/{version}", "Host: test"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None and "Transfer-Encoding" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def _exchange(port: int, data: bytes, answers: int = 1, *, wait_close: float = 0.0
              ) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """Send ``data`` on one connection; read ``answers`` responses; and whether the server then closed it
    (within ``wait_close`` seconds)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        buffer = b""
        out = []
        for _ in range(answers):
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                assert chunk, "connection closed before an answer"
                buffer += chunk
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
            length = int(headers["content-length"])
            while len(buffer) < length:
                chunk = conn.recv(65536)
                assert chunk
                buffer += chunk
            out.append((int(status_line.split()[1]), headers, buffer[:length]))
            buffer = buffer[length:]
        if not wait_close:
            return out, False
        conn.settimeout(wait_close)
        try:
            closed = conn.recv(1) == b""
        except TimeoutError:
            closed = False
    return out, closed


def _cases(role_keys: dict[Role, str], tag: str) -> dict[str, tuple[int, bytes | None, dict[str, str]]]:
    service = {"X-API-Key": role_keys[Role.SERVICE], "Content-Type": "application/json"}
    return {
        "no key": (401, orjson.dumps(txn(f"n-{tag}")), {"Content-Type": "application/json"}),
        "role without decide": (403, orjson.dumps(txn(f"r-{tag}")),
                                {"X-API-Key": role_keys[Role.ANALYST], "Content-Type": "application/json"}),
        "bad json": (422, b'{"event_id": ', service),
        "array": (422, b"[1, 2]", service),
        "wrong types": (422, b'{"event_id": 13800138000, "event_type": "login"}', service),
        "bad event field": (422, orjson.dumps(txn(f"f-{tag}", amount="lots")), service),
        "form body": (415, b"event_id=e1", {"X-API-Key": role_keys[Role.SERVICE],
                                            "Content-Type": "application/x-www-form-urlencoded"}),
        "no content type": (415, b'{"event_id": "e1"}', {"X-API-Key": role_keys[Role.SERVICE]}),
        "over the limit": (413, b"{" + b" " * (1 << 20) + b"}", service),
    }


def test_errors_are_the_same_bytes_on_both_paths(servers: tuple[dict[str, int], dict[Role, str]]) -> None:
    ports, role_keys = servers
    before = CountingProtocol.direct
    for case, (status, body, headers) in _cases(role_keys, "x").items():
        (direct,), _ = _exchange(ports["direct"], _request(body, headers))
        (asgi,), _ = _exchange(ports["asgi"], _request(body, headers))
        assert direct[0] == asgi[0] == status, (case, direct, asgi)
        assert direct[1] == asgi[1], case  # same headers (problem media type, WWW-Authenticate on a 401)
        assert direct[2] == asgi[2], case
    assert CountingProtocol.direct - before == 8  # all but the oversized body, which uvicorn's cycle reads


def test_decisions_retries_and_conflicts(servers: tuple[dict[str, int], dict[Role, str]]) -> None:
    ports, role_keys = servers
    headers = {"X-API-Key": role_keys[Role.SERVICE], "Content-Type": "application/json"}
    before = CountingProtocol.direct
    (first,), closed = _exchange(ports["direct"], _request(orjson.dumps(txn("d-1", amount=5000)), headers),
                                 wait_close=0.3)
    assert first[0] == 200 and not closed  # keep-alive
    assert first[1]["content-type"] == "application/json"
    decision = orjson.loads(first[2])
    assert decision["action"] == "review" and decision["idempotent"] is False
    (retry,), _ = _exchange(ports["asgi"], _request(orjson.dumps(txn("d-1", amount=5000)), headers))
    assert orjson.loads(retry[2])["decision_id"] == decision["decision_id"]
    (again,), _ = _exchange(ports["direct"], _request(orjson.dumps(txn("d-1", amount=5000)), headers))
    assert again[0] == 200 and again[2] == retry[2]  # the stored decision, marked idempotent
    (conflict,), _ = _exchange(ports["direct"], _request(orjson.dumps(txn("d-1", amount=6000)), headers))
    assert conflict[0] == 409
    assert CountingProtocol.direct - before == 3


def test_keep_alive_pipelining_close_and_http_1_0(servers: tuple[dict[str, int], dict[Role, str]]) -> None:
    ports, role_keys = servers
    headers = {"X-API-Key": role_keys[Role.SERVICE], "Content-Type": "application/json"}
    # Three requests in one write: the second and third wait behind the first and are answered in order.
    pipelined = b"".join(_request(orjson.dumps(txn(f"p-{i}", amount=10 + i)), headers) for i in range(3))
    answers, closed = _exchange(ports["direct"], pipelined, answers=3, wait_close=0.3)
    assert [a[0] for a in answers] == [200, 200, 200] and not closed
    logged_ids = [orjson.loads(a[2])["event_id"] for a in answers]
    assert logged_ids == ["p-0", "p-1", "p-2"]
    (last,), closed = _exchange(ports["direct"], _request(orjson.dumps(txn("p-close")),
                                                          {**headers, "Connection": "close"}), wait_close=5)
    assert last[0] == 200 and last[1]["connection"] == "close" and closed
    (old,), closed = _exchange(ports["direct"], _request(orjson.dumps(txn("p-1.0")), headers, version="1.0"),
                               wait_close=5)
    assert old[0] == 200 and closed


def test_keep_alive_closes_a_connection_idle_since_its_last_answer_only(
        servers: tuple[dict[str, int], dict[Role, str]]) -> None:
    """One timer per connection (not one per answer) still closes exactly the idle connections."""
    ports, role_keys = servers
    headers = {"X-API-Key": role_keys[Role.SERVICE], "Content-Type": "application/json"}
    with socket.create_connection(("127.0.0.1", ports["short keep-alive"]), timeout=10) as conn:
        started = time.monotonic()
        for i in range(8):  # 0.15 s apart: busy for ~1.2 s, three times the 0.4 s keep-alive, never idle that long
            conn.sendall(_request(orjson.dumps(txn(f"k-{i}")), headers))
            answer = conn.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:40]
            time.sleep(0.15)
        assert time.monotonic() - started > 1.0
        idle = time.monotonic()
        assert conn.recv(1) == b""  # then idle: closed
        assert 0.2 <= time.monotonic() - idle <= 2.0


def test_chunked_bodies_and_other_routes_take_uvicorns_path(servers: tuple[dict[str, int], dict[Role, str]]) -> None:
    ports, role_keys = servers
    headers = {"X-API-Key": role_keys[Role.SERVICE], "Content-Type": "application/json"}
    body = orjson.dumps(txn("c-1"))
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    before = CountingProtocol.direct
    (answer,), _ = _exchange(ports["direct"], _request(None, {**headers, "Transfer-Encoding": "chunked"}) + chunked)
    assert answer[0] == 200 and orjson.loads(answer[2])["event_id"] == "c-1"
    (query,), _ = _exchange(ports["direct"], _request(orjson.dumps(txn("c-2")), headers, path="/v1/decisions?x=1"))
    assert query[0] == 200
    (elsewhere,), _ = _exchange(ports["direct"], _request(b"{}", headers, path="/v1/nothing"))
    assert elsewhere[0] == 404
    assert CountingProtocol.direct == before


_values = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(),
                    st.text(max_size=3), st.text(min_size=60, max_size=210), st.lists(st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["event_id", "event_type", "event_time", "amount"]), _values)
       | st.lists(st.integers(), max_size=2) | st.text(max_size=3))
def test_the_cheap_event_check_passes_only_what_the_model_accepts(body: Any) -> None:
    try:
        EventIn.__pydantic_validator__.validate_python(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert not plain_event(body) or accepted  # never lets through what the model refuses
    if isinstance(body, dict) and accepted and all(type(body[k]) is str for k in ("event_id", "event_type",
                                                                                   "event_time")):
        assert plain_event(body)  # and is not needlessly strict for the usual body


def _raw_request(body: bytes, header_lines: list[str]) -> bytes:
    return ("POST /v1/decisions HTTP/1.1\r\nHost: test\r\n" + "".join(f"{line}\r\n" for line in header_lines)
            + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body


def test_headers_are_read_as_uvicorn_reads_them(servers: tuple[dict[str, int], dict[Role, str]]) -> None:
    """The direct path reads the names as sent (any case) and strips trailing whitespace only from the
    values it uses; uvicorn lowers and strips all. Both must see the same key, type and length."""
    ports, role_keys = servers
    analyst, service = role_keys[Role.ANALYST], role_keys[Role.SERVICE]
    cases = {
        # a key that must be recognised (403, not 401) though its name is oddly cased and its value padded
        "odd-cased key, padded": (403, orjson.dumps(txn("h-1")), [f"x-API-kEY: {analyst} \t",
                                                                  "Content-Type: application/json"]),
        "upper-case names": (422, b'{"event_id": ', [f"X-API-KEY: {service}", "CONTENT-TYPE: application/json"]),
        "media type with case, parameter, padding": (422, b"[1]", [f"X-Api-Key: {service}",
                                                                   "content-type: Application/JSON; charset=utf-8  "]),
        "many other headers": (415, b"event_id=e1", [f"X-API-Key: {service}", "User-Agent: t/1", "Accept: */*",
                                                     "X-Request-Id: 42", "Content-Type: text/plain ",
                                                     "Accept-Encoding: gzip"]),
        "the last of two keys counts": (401, orjson.dumps(txn("h-2")), [f"X-API-Key: {service}", "X-API-Key: nope",
                                                                        "Content-Type: application/json"]),
    }
    before = CountingProtocol.direct
    for case, (status, body, lines) in cases.items():
        (direct,), _ = _exchange(ports["direct"], _raw_request(body, lines))
        (asgi,), _ = _exchange(ports["asgi"], _raw_request(body, lines))
        assert direct[0] == asgi[0] == status, (case, direct, asgi)
        assert direct[1:] == asgi[1:], case
    assert CountingProtocol.direct - before == len(cases)


def test_expect_continue_and_trailers_take_uvicorns_path(servers: tuple[dict[str, int], dict[Role, str]]) -> None:
    ports, role_keys = servers
    key = role_keys[Role.SERVICE]
    before = CountingProtocol.direct
    for expect in ("100-continue", "100-Continue  "):
        with socket.create_connection(("127.0.0.1", ports["direct"]), timeout=10) as conn:
            conn.sendall(_raw_request(b'{"event_id": ', [f"X-API-Key: {key}", "Content-Type: application/json",
                                                         f"Expect: {expect}"]))
            data = b""
            while b"problem+json" not in data or not data.endswith(b"}"):
                chunk = conn.recv(65536)
                assert chunk
                data += chunk
        assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 422 "), data[:80]
    # a chunked body with a trailer: uvicorn reads it (the trailer's header kept as uvicorn keeps it)
    body = b'{"event_id": '
    chunked = (b"POST /v1/decisions HTTP/1.1\r\nHost: test\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n%x\r\n%s\r\n0\r\nX-Checksum: 1 \r\n\r\n"
               % (key.encode(), len(body), body))
    (direct,), closed = _exchange(ports["direct"], chunked, wait_close=0.3)
    (asgi,), _ = _exchange(ports["asgi"], chunked)
    assert direct[0] == asgi[0] == 422 and direct[2] == asgi[2] and not closed
    assert CountingProtocol.direct == before


class _Transport(asyncio.Transport):
    """A transport that keeps what is written, so a test can hold the protocol's writes paused
    (with a real socket, when uvloop pauses them depends on kernel buffer sizes)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Answering(FastDecisions):
    """Answers every request at once with a fixed problem (the protocol's flow control is under test)."""

    def answer_soon(self, key: str | None, content_type: str | None, raw: bytes, loop: asyncio.AbstractEventLoop,
                    reply: Any) -> Answer | None:
        return Answer(422, [(b"content-type", b"application/problem+json"), (b"content-length", b"2")], b"{}")


def test_a_slow_reader_gets_its_answer_once_writes_resume() -> None:
    async def run() -> tuple[list[bytes], list[bytes], bool, bool]:
        app = FastAPI()
        app.fast_path = _Answering(app, services=ServiceHolder(), authenticator=None,  # type: ignore[attr-defined,arg-type]
                                   metrics=ApiMetrics(), max_body_bytes=1 << 20)
        config = uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=False, lifespan="off")
        config.load()
        config.loaded_app = app
        protocol = CountingProtocol(config=config, server_state=ServerState(), app_state={})
        transport = _Transport()
        protocol.connection_made(transport)
        protocol.pause_writing()  # the client stopped reading: the transport's buffer is over its high mark
        protocol.data_received(_request(b"{}", {"Content-Type": "application/json"}))
        for _ in range(3):
            await asyncio.sleep(0)
        held = list(transport.written)
        in_flight = not protocol.cycle.response_complete
        protocol.resume_writing()
        for _ in range(3):
            await asyncio.sleep(0)
        done = protocol.cycle.response_complete and protocol.timeout_keep_alive_task is not None
        protocol.connection_lost(None)
        return held, transport.written, in_flight, done

    before = CountingProtocol.direct
    held, written, in_flight, done = asyncio.run(run())
    assert held == [] and in_flight  # nothing written while paused, the request still in flight
    assert len(written) == 1 and written[0].startswith(b"HTTP/1.1 422 ") and written[0].endswith(b"\r\n\r\n{}")
    assert done and CountingProtocol.direct - before == 1  # completed once, keep-alive armed
