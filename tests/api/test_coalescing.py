"""One socket write per response: the coalescing transport keeps every byte, in order, and closes cleanly."""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from finrisk.api.coalescing import CoalescingHttpToolsProtocol, CoalescingTransport

from ._server import serve_in_thread


def test_writes_in_one_step_arrive_joined_in_order_and_close_flushes_first() -> None:
    async def main() -> bytes:
        received = bytearray()
        done = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.extend(await reader.read())  # until the client closes
            done.set()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        wrapped = CoalescingTransport(transport, loop)  # type: ignore[arg-type]
        wrapped.write(b"head;")
        wrapped.write(b"body;")
        assert wrapped.get_write_buffer_size() == 0  # nothing written yet: held until the step ends
        await asyncio.sleep(0)
        wrapped.write(b"second;")
        wrapped.write(b"last")
        wrapped.close()  # held bytes go out before the close
        await asyncio.wait_for(done.wait(), 5)
        server.close()
        return bytes(received)

    assert asyncio.run(main()) == b"head;body;second;last"


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = scope["path"].encode() * 1000  # larger than one small write
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def port() -> Iterator[int]:
    server, thread, port = serve_in_thread(_app, CoalescingHttpToolsProtocol)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_uvicorn_answers_through_it_with_keep_alive_and_without_a_body(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for path in ("/a", "/empty", "/bb", "/empty", "/ccc"):  # one keep-alive connection
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read()
        if path == "/empty":
            assert answer.status == 204 and body == b""
        else:
            assert answer.status == 200 and body == path.encode() * 1000
    conn.request("GET", "/last", headers={"Connection": "close"})
    answer = conn.getresponse()
    assert answer.status == 200 and answer.read() == b"/last" * 1000
    conn.close()
