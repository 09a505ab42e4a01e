"""The HTTP/1.1 connection as ``mlctl serve`` runs it: uvicorn's httptools protocol
with the limits a trusted server needs.

- **Headers**: more than :data:`MAX_HEADER_BYTES` (request line and headers together)
  or :data:`MAX_HEADERS` fields get ``431`` and the connection is closed (llhttp has no
  limit of its own, so a 70 KB header or 5,000 headers were read and answered 200).
- **Slow requests** (slowloris): the request line and headers, and then the body, must
  each arrive within the receive timeout (``deploy.serve.request_timeout_seconds``);
  otherwise ``408`` and the connection is closed. A connection that sends nothing is
  closed after the same time.
- **Bodies answered early** (``413`` for an over-limit body, any error before the body
  was read): the connection is closed only after the rest of the body was read and
  discarded (up to :data:`DRAIN_BYTES` or the receive timeout), so that clients which
  send the whole body before reading (``requests``, ``urllib``) see the response, not
  a connection reset.

Every refusal is counted in ``mlctl_connections_refused_total{reason}`` once the app
registered its counter (:data:`on_refused`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 32 * 1024  # request line and headers of one request
MAX_HEADERS = 100  # header fields of one request
DRAIN_BYTES = 64 * 1024 * 1024  # the most of an unread body discarded before closing
DEFAULT_RECEIVE_TIMEOUT = 10.0

# Set by the app (ServeState): called with a reason when a request is refused here.
on_refused: Callable[[str], None] | None = None


def receive_timeout() -> float:
    """The serve settings' ``request_timeout_seconds`` (the config the parent process
    passed in ``MLCTL_SERVE_CONFIG``), else 10 s."""
    try:
        settings = json.loads(os.environ["MLCTL_SERVE_CONFIG"])["settings"]
        return float(settings.get("request_timeout_seconds") or DEFAULT_RECEIVE_TIMEOUT)
    except (KeyError, ValueError, TypeError):
        return DEFAULT_RECEIVE_TIMEOUT


def _response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps(
        {"error": message, "error_code": code, "message": message, "details": []}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Lingering:
    """The connection's transport; ``close()`` waits until the request body was read
    (see :class:`GuardedHttp`), and a response's head waits for its body (:meth:`write`).
    Everything else goes to the real transport."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttp) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: bytes | None = None
        self._head_of: Any = None  # the request cycle whose head was written last

    def write(self, data: bytes) -> None:
        """uvicorn writes a response's status line and headers, then its body: two
        ``send`` calls, two segments for the client to read. The head is held until the
        body comes (in the same turn of the event loop, as the ASGI app sends both), at
        most until the loop's next turn, so that both leave in one ``send``: about a
        tenth of a small answer's CPU time on loopback. An interim ``100 Continue`` is
        written before the response starts, and never held."""
        if self._held is not None:
            data, self._held = self._held + data, None
        else:
            cycle = self._protocol.cycle
            if (
                cycle is not None
                and cycle is not self._head_of
                and cycle.response_started
                and not cycle.response_complete
            ):
                self._head_of, self._held = cycle, data
                self._protocol.loop.call_soon(self.flush)
                return
        self._transport.write(data)

    def flush(self) -> None:
        """Write a head still held (a response whose body did not follow at once, or
        none, as for ``HEAD``)."""
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._protocol.close_after_body()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits, receive deadlines and a
    lingering close (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = receive_timeout()
        self.lingering = False
        self._real: asyncio.Transport | None = None
        # One timer per connection, re-armed only when it fires early: when the current
        # phase (headers, body, lingering) must be over; None while nothing is awaited.
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._phase = "idle"  # idle → headers → body → idle (per request)
        self._header_bytes = 0  # bytes received while the headers are incomplete
        self._header_size = 0  # request line and header fields parsed so far
        self._header_count = 0
        self._drained = 0
        self._refused = False  # answered here: the rest of the connection is ignored

    # ------------------------------------------------------------ connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._real = transport
        super().connection_made(_Lingering(transport, self))  # type: ignore[arg-type]
        self._await()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._phase = "closed"
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self.lingering:
            self._drain(data)
            return
        if self._phase in ("idle", "headers"):
            self._header_bytes += len(data)
        super().data_received(data)
        # Headers still incomplete: every byte so far belongs to them.
        if not self._refused and self._phase in ("idle", "headers") and self._too_large():
            self._refuse_headers()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:
            self._count("bad_request")
            super().send_400_response(msg)

    def _too_large(self, received: bool = True) -> bool:
        """Over a limit; with ``received``, counting every byte received while the
        headers are incomplete (the parser holds them all)."""
        return (
            self._header_count > MAX_HEADERS
            or self._header_size > MAX_HEADER_BYTES
            or (received and self._header_bytes > MAX_HEADER_BYTES)
        )

    def _refuse_headers(self) -> None:
        what = (
            f"more than {MAX_HEADERS} header fields"
            if self._header_count > MAX_HEADERS
            else f"request line and headers larger than {MAX_HEADER_BYTES} bytes"
        )
        self._refuse(431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE", what)

    # --------------------------------------------------------- parser events
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "headers"
        self._header_count = self._header_size = 0
        self._await()

    def on_url(self, url: bytes) -> None:
        self._header_size += len(url)
        if self._header_size <= MAX_HEADER_BYTES:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_size += len(name) + len(value) + 4
        if self._header_count <= MAX_HEADERS and self._header_size <= MAX_HEADER_BYTES:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.lingering or self._refused:
            return  # a pipelined request after an unread body: the connection closes
        if self._too_large(received=False):  # the same data may hold the body too
            self._refuse_headers()
            return
        self._header_bytes = 0
        self._phase = "body"
        self._await()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not (self.lingering or self._refused):
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        if self.lingering:
            self._close_now()
            return
        self._phase = "idle"
        self._due = None  # the app has the request: its own timeout applies
        super().on_message_complete()

    # ---------------------------------------------------------------- limits
    def _await(self) -> None:
        """The current phase must be over within the receive timeout."""
        self._due = self.loop.time() + self.timeout
        if self._timer is None:
            self._timer = self.loop.call_at(self._due, self._expired)

    def _stop_timer(self) -> None:
        self._due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._due is None:
            return  # nothing awaited (the next request arms the timer again)
        if self.loop.time() < self._due:  # a later phase began: wait for its end
            self._timer = self.loop.call_at(self._due, self._expired)
            return
        self._due = None
        if self.lingering:
            self._close_now()
            return
        if self._phase == "idle":
            self._count("idle")
            self._close_now()
            return
        cycle = self.cycle
        if self._phase == "body" and cycle is not None and cycle.response_started:
            self._close_now()  # answered already (e.g. 413): stop waiting for the body
            return
        what = "headers" if self._phase != "body" else "body"
        message = f"the request {what} did not arrive within {self.timeout:g} s"
        self._refuse(408, "Request Timeout", "REQUEST_TIMEOUT", message)

    def _refuse(self, status: int, reason: str, code: str, message: str) -> None:
        """Answer without the app and close (the request cannot be read any further)."""
        self._refused = True
        self._count(code.lower())
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.response_started = cycle.response_complete = cycle.disconnected = True
            cycle.message_event.set()
        if self._real is not None and not self._real.is_closing():
            self._real.write(_response(status, reason, code, message))
        self._close_now()

    def _count(self, reason: str) -> None:
        if on_refused is not None:
            with contextlib.suppress(Exception):  # metrics never break a connection
                on_refused(reason)

    # ------------------------------------------------------- lingering close
    def close_after_body(self) -> None:
        """Close now, or once the rest of the request body was read and discarded:
        closing with unread bytes makes the kernel reset the connection, and the
        client loses the response it has not read yet."""
        if self._phase != "body" or self._real is None or self._real.is_closing():
            self._close_now()
            return
        if self.lingering:
            return
        self.lingering = True
        self._real.resume_reading()
        self._await()

    def _drain(self, data: bytes) -> None:
        self._drained += len(data)
        if self._drained > DRAIN_BYTES:
            self._close_now()
            return
        try:
            self.parser.feed_data(data)  # on_message_complete closes
        except Exception:
            self._close_now()

    def _close_now(self) -> None:
        self._stop_timer()
        if self._real is not None and not self._real.is_closing():
            self._real.close()
