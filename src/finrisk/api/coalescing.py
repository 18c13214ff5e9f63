"""uvicorn's httptools protocol with a response's writes coalesced into one socket write.

uvicorn writes a response's head (``http.response.start``) and its body as two ``transport.write``
calls, and uvloop sends each at once: two ``send`` system calls per answer. On loopback each one
also runs the receiver's TCP processing in the sender's thread, holding the GIL: in a py-spy
profile of ``finrisk serve`` at 2,000 decisions/s, uvicorn's ``send`` was 21% of the time the
event loop's thread held the GIL, nearly all of it in those writes. Holding the writes until the
current loop step ends (one ``call_soon``) and sending them joined halves the system calls; a
step that answers several pipelined requests sends them together too. Hand-written because no
server option does it; ``docs/api.md`` has the measurement.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]


class CoalescingTransport:
    """Forwards to ``transport``; ``write`` calls made in one loop step go out as one write."""

    __slots__ = ("_loop", "held", "socket_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.socket_transport = transport  # the loop's own (public: a hot caller writes to it when nothing is held)
        self._loop = loop
        self.held: list[bytes] | None = None  # the writes of this loop step, sent when it ends

    def write(self, data: bytes) -> None:
        pending = self.held
        if pending is None:
            self.held = [data]
            self._loop.call_soon(self.flush)
        else:
            pending.append(data)

    def write_now(self, data: bytes) -> None:
        """Write ``data`` at once, after anything held (a whole answer: nothing to wait for)."""
        pending = self.held
        if pending is None:
            self.socket_transport.write(data)
        else:
            pending.append(data)
            self.flush()

    def flush(self) -> None:
        pending = self.held
        if pending is not None:
            self.held = None
            self.socket_transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.socket_transport.close()

    def is_closing(self) -> bool:  # asked twice per answer: not through __getattr__ (~0.5 µs each)
        return self.socket_transport.is_closing()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:  # an upgrade: the new protocol writes itself
        self.flush()
        self.socket_transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:  # get_extra_info, pause_reading, abort, ...
        return getattr(self.socket_transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` writing through a :class:`CoalescingTransport`."""

    coalescing: CoalescingTransport

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(self.coalescing)  # type: ignore[arg-type]
