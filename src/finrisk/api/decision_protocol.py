"""``POST /v1/decisions`` answered straight from the HTTP parser, without an ASGI request cycle.

uvicorn turns every request into an ASGI cycle: a scope dict, a ``RequestResponseCycle`` with an
``asyncio.Event``, ``receive`` and ``send`` messages, header checks by regular expression on the
way out. On this machine a bare uvicorn app answering a fixed JSON costs 80-86 µs of CPU per
request at 2,000 requests/s; the same answer from an ``asyncio.Protocol`` on httptools, 25-30 µs
(same load generator, same window; ``docs/api.md``, fourth round). At 2,000 decisions/s on two
shared cores that difference is a tenth of a core.

:class:`DecisionHttpProtocol` is uvicorn's httptools protocol (with coalesced writes) that takes
the plain case of the hot route itself: ``POST /v1/decisions`` with a ``Content-Length`` within the
body limit, no ``Expect: 100-continue``, no upgrade, nothing else in flight on the connection.
It gathers the body as the parser hands it over and runs :meth:`FastDecisions.answer_soon` and
:meth:`FastDecisions.record`: the same key check, errors, decision, metrics and access line as the
ASGI path, without a task: the answer is written from the commit's wake-up. Every other request
(another route, a chunked or oversized body, a pipelined request behind one in flight) goes through
uvicorn as before, so those keep uvicorn's behaviour exactly.

Per request it does only what the hot route needs: headers are kept as sent and only the three it
reads (key, media type, length; and Transfer-Encoding / Expect, which send it to uvicorn) are looked
up and stripped, where uvicorn lowers and strips every one as it comes; a request uvicorn takes gets
them all normalised first. The answer is one write: status line, uvicorn's default headers (made
into bytes once a second, when uvicorn renews the date), the answer's headers and body.

It needs the app uvicorn loaded to be the :class:`~finrisk.api.app.FinriskAPI` itself (``finrisk
serve`` turns uvicorn's proxy-header middleware off); wrapped in anything, every request takes
uvicorn's path.
"""

from __future__ import annotations

import time
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from finrisk.api.coalescing import CoalescingHttpToolsProtocol
from finrisk.api.fast_decisions import DECISIONS_PATH, Answer, FastDecisions

__all__ = ["DecisionHttpProtocol"]

_PATH = DECISIONS_PATH.encode()

# What the direct path reads of a request's headers, by name as sent (any other spelling is lowered
# once and looked up again): 0 ignore, else the slot below. uvicorn's ``on_header`` lowers every name
# and strips every value as it comes; the direct path does that only for the few it reads.
_IGNORED, _KEY, _CONTENT_TYPE, _CONTENT_LENGTH, _TRANSFER_ENCODING, _EXPECT = range(6)
_SLOTS: dict[bytes, int] = {}
for _name, _slot in ((b"x-api-key", _KEY), (b"content-type", _CONTENT_TYPE), (b"content-length", _CONTENT_LENGTH),
                     (b"transfer-encoding", _TRANSFER_ENCODING), (b"expect", _EXPECT), (b"host", _IGNORED),
                     (b"user-agent", _IGNORED), (b"accept", _IGNORED), (b"accept-encoding", _IGNORED),
                     (b"connection", _IGNORED)):
    for _spelling in (_name, _name.title(), _name.upper()):
        _SLOTS[_spelling] = _slot
_SLOTS[b"X-API-Key"] = _KEY  # as the OpenAPI document spells it
_OWS = b" \t"  # llhttp keeps a value's trailing whitespace; uvicorn strips it (RFC 9110, 5.5)



class _NoEvent:
    """uvicorn's connection code sets the cycle's ``message_event``; a direct request has none to wake."""

    @staticmethod
    def set() -> None:
        return None


class _DirectCycle:
    """One directly answered request; stands as ``protocol.cycle`` so uvicorn's own code (pipelining,
    shutdown, lost connections) sees a request in flight exactly as it sees one of its own. Made field
    by field in :meth:`DecisionHttpProtocol.on_headers_complete` (no ``__init__`` call per request)."""

    __slots__ = ("chunks", "content_type", "disconnected", "keep_alive", "key", "response_complete", "started")

    message_event = _NoEvent

    chunks: list[bytes]
    content_type: str | None
    disconnected: bool
    keep_alive: bool
    key: str | None
    response_complete: bool
    started: float


_new_cycle = object.__new__


class DecisionHttpProtocol(CoalescingHttpToolsProtocol):
    """:class:`CoalescingHttpToolsProtocol` answering plain ``POST /v1/decisions`` requests itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fast = getattr(self.app, "fast_path", None)
        self._fast = fast if isinstance(fast, FastDecisions) and self.limit_concurrency is None else None
        self._direct: _DirectCycle | None = None
        self._raw_headers = True  # self.headers holds the current request's headers as sent (on_header)
        self._defaults: list[tuple[bytes, bytes]] | None = None  # the default headers _default_lines was made of
        self._default_lines = b""

    # -- keep-alive: one timer per connection, not one per response -----------------------------
    # uvicorn arms a keep-alive timer (``call_later``) after every response and cancels it when the
    # next request's first bytes come: ~2.5 µs of the loop's time per request on uvloop. Here a
    # connection keeps one timer, re-armed only when it fires: it closes the connection once it has
    # been idle for ``timeout_keep_alive`` since its last response, as uvicorn's would.
    _idle_since: float | None = None

    def _unset_keepalive_if_required(self) -> None:  # uvicorn calls it when data comes: busy again
        self._idle_since = None

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with ``_unset_keepalive_if_required`` written out (a Python call fewer per request)."""
        self._idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def on_response_complete(self) -> None:
        """uvicorn's (count, resume reading, start the next pipelined request) without a timer per response."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None:  # a request is in flight: its response arms the timer again
            return
        left = idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    # -- the parser's callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        # uvicorn's own builds the request's ASGI scope here (a dict and a copy of the app state);
        # a directly answered request never reads it, so it is built only when uvicorn takes the
        # request (1.9% of the loop thread's time at 2,000 decisions/s).
        self._direct = None
        self._raw_headers = True
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        # Kept as sent: the direct path reads three headers and normalises only those
        # (_direct_cycle); a request uvicorn takes gets them all normalised first (_normalise_headers).
        if self._raw_headers:
            self.headers.append((name, value))
        else:  # a trailer after a chunked body, which uvicorn is reading: its own handling
            super().on_header(name, value)

    def _normalise_headers(self) -> None:
        """What uvicorn's ``on_header`` makes of each header (name lowered, value stripped, Expect noted)."""
        self._raw_headers = False
        headers = self.headers
        for i, (name, value) in enumerate(headers):
            name, value = name.lower(), value.rstrip(_OWS)
            if name == b"expect" and value.lower() == b"100-continue":
                self.expect_100_continue = True
            headers[i] = (name, value)

    def _build_scope(self) -> None:
        """uvicorn's scope for this request, with the URL and headers parsed so far kept."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.expect_100_continue = url, expect
        self.headers = self.scope["headers"] = headers

    def on_headers_complete(self) -> None:
        # The plain case is found and its cycle made here, inline: in ``finrisk serve`` under load each
        # Python call on this path costs several times what it does in a tight loop (cold caches
        # between requests), so the direct path makes as few as it can (docs/api.md, ninth round).
        fast = self._fast
        cycle = self.cycle
        parser = self.parser
        if (fast is not None and self.url == _PATH and (cycle is None or cycle.response_complete)
                and parser.get_method() == b"POST" and not parser.should_upgrade()):
            key = content_type = length = None
            slots = _SLOTS
            for name, value in self.headers:
                slot = slots.get(name)
                if slot is None:
                    slot = slots.get(name.lower(), _IGNORED)
                if slot == _IGNORED:
                    continue
                if slot == _KEY:
                    key = value.rstrip(_OWS).decode("latin-1")
                elif slot == _CONTENT_TYPE:
                    content_type = value.rstrip(_OWS).decode("latin-1")
                elif slot == _CONTENT_LENGTH and length is None:
                    length = value.rstrip(_OWS)
                elif slot != _EXPECT or value.rstrip(_OWS).lower() == b"100-continue":
                    # chunked, two lengths, or Expect: 100-continue (uvicorn answers the 100 first)
                    length = None
                    break
            if length is not None and length.isdigit() and int(length) <= fast.max_body_bytes:  # declared_within
                direct = _new_cycle(_DirectCycle)
                direct.key = key
                direct.content_type = content_type
                direct.keep_alive = parser.should_keep_alive() and parser.get_http_version() != "1.0"
                direct.chunks = []
                direct.disconnected = direct.response_complete = False
                direct.started = time.perf_counter()
                self._direct = self.cycle = direct  # type: ignore[assignment]
                return
        self._normalise_headers()
        self._build_scope()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        direct = self._direct
        if direct is None:
            super().on_body(body)
        else:
            direct.chunks.append(body)

    def on_message_complete(self) -> None:
        direct = self._direct
        if direct is None:
            super().on_message_complete()
            return
        fast = self._fast
        assert fast is not None
        chunks = direct.chunks
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        # No task per request: the decision runs here and its answer is written from the commit's
        # wake-up on the loop (seventh round in docs/api.md). An answer ready at once (an error, a
        # stored retry) is written on the next loop step, as a task's would be, not from inside the
        # parser's callback (uvicorn's keep-alive and pipelining code expects that).
        answer = fast.answer_soon(direct.key, direct.content_type, raw, self.loop,
                                  lambda later: self._reply(fast, direct, later))
        if answer is not None:
            self.loop.call_soon(self._reply, fast, direct, answer)

    # -- the answer -------------------------------------------------------------------------------
    def _reply(self, fast: FastDecisions, direct: _DirectCycle, answer: Answer, drained: bool = False) -> None:
        """Write ``answer`` in one write and complete the request (its metrics, access line, keep-alive
        or close, the next pipelined request). uvicorn's ``on_response_complete`` and the answer's
        encoding are written out here, not called: a Python call fewer each (see on_headers_complete)."""
        flow = self.flow
        if flow.write_paused and not drained and not direct.disconnected:  # rare: the client reads slowly
            task = self.loop.create_task(self._reply_when_drained(fast, direct, answer))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)  # a graceful stop waits for it, as for uvicorn's own request tasks
            return
        transport = self.transport
        status = 500
        try:
            if not direct.disconnected and not transport.is_closing():  # gone: the decision stays logged
                defaults = self.server_state.default_headers
                if defaults is not self._defaults:  # uvicorn makes a new list when the date changes: once a second
                    self._defaults = defaults
                    self._default_lines = b"".join([b"%s: %s\r\n" % header for header in defaults])
                parts = [STATUS_LINE[answer.status], self._default_lines]
                for header in answer.headers:
                    parts.append(b"%s: %s\r\n" % header)
                if not direct.keep_alive:
                    parts.append(b"connection: close\r\n")
                parts += (b"\r\n", answer.body)
                # one write per answer: nothing to coalesce, so no loop callback to wait for
                coalescing = self.coalescing
                if coalescing.held is not None:
                    coalescing.write_now(b"".join(parts))
                else:
                    coalescing.socket_transport.write(b"".join(parts))
            status = answer.status
        finally:
            fast.record(status, direct.started, answer)
            direct.response_complete = True
            if not direct.keep_alive:
                transport.close()
            # uvicorn's on_response_complete (count, resume reading, next pipelined request), with
            # one keep-alive timer per connection: as :meth:`on_response_complete`
            self.server_state.total_requests += 1
            if not transport.is_closing():
                if flow.read_paused:
                    flow.resume_reading()
                if self.pipeline:
                    self._idle_since = None
                    cycle, app = self.pipeline.pop()
                    self._start_asgi_task(cycle, app)
                else:
                    self._idle_since = self.loop.time()
                    if self.timeout_keep_alive_task is None:
                        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                            self._keep_alive_due)

    async def _reply_when_drained(self, fast: FastDecisions, direct: _DirectCycle, answer: Answer) -> None:
        try:
            await self.flow.drain()
        finally:  # also when cancelled (a stop past its grace period): the connection is closed, not left hanging
            self._reply(fast, direct, answer, drained=True)
