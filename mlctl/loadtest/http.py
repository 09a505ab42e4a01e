"""The load generator's HTTP/1.1 connections: pre-encoded requests, keep-alive, and
responses parsed by ``httptools`` (llhttp, the parser of Node.js and uvicorn).

Why not a general HTTP client: measured here against ``mlctl serve`` on one keep-alive
connection, aiohttp spent ~250 µs of CPU per request and put its median 20 % above
wrk's; this connection spends ~70 µs and lands within a few percent. On a machine
whose cores the server shares, the generator's own cost is the error of the
measurement, so a request here is one ``write`` of bytes encoded before the run and
one parser callback per response; nothing else runs per request but the timer that
bounds it.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools

from mlctl.errors import UsageError


@dataclass(frozen=True)
class Target:
    """Where the requests go: ``http(s)://host:port`` and the path prefix before routes."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """``--url``: ``http://host:port`` (optionally with a path prefix).

        Raises:
            UsageError: not an http(s) URL with a host.
        """
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"--url must be an http:// or https:// URL with a host, like "
                f"http://127.0.0.1:8000; got {url!r}"
            )
        if parts.query or parts.fragment:
            raise UsageError(
                f"--url takes the service's base URL, without ?query or #; got {url!r}"
            )
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UsageError(f"--url has a bad port: {url!r}") from None
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"

    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def encode_post(target: Target, route: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A whole HTTP/1.1 POST request as bytes, sent as it is on every use."""
    lines = [
        f"POST {target.prefix}{route} HTTP/1.1",
        f"Host: {target.host_header()}",
        "User-Agent: mlctl-loadtest",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class NoAnswer(Exception):
    """A request got no HTTP answer; ``kind`` says why (timeout, reset, refused...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[int] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.open = False
        self.keep_alive = True

    # ------------------------------------------------------------ asyncio's calls
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.open = True

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("bad response")

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail("connection closed" if exc is None else _kind(exc))

    # ------------------------------------------------------------ httptools' calls
    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
        if waiter is not None and not waiter.done():
            waiter.set_result(self.parser.get_status_code())
        if not self.keep_alive:
            self.close()

    # ------------------------------------------------------------ ours
    def send(self, request: bytes) -> asyncio.Future[int]:
        """Write ``request``; the future gives the status code or raises :class:`NoAnswer`."""
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.timer = loop.call_later(self.timeout, self._fail, "timeout")
        assert self.transport is not None
        self.transport.write(request)
        return self.waiter

    def _fail(self, kind: str) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
        if waiter is not None and not waiter.done():
            waiter.set_exception(NoAnswer(kind))
            self.close()  # a late answer must not be taken for the next request's

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


def _kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    return type(exc).__name__


async def connect(target: Target, timeout: float) -> Connection:
    """A new connection, or :class:`NoAnswer` (refused, unreachable, timeout)."""
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context() if target.scheme == "https" else None
    try:
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                lambda: Connection(timeout), target.host, target.port, ssl=context
            )
    except (OSError, TimeoutError) as exc:
        raise NoAnswer(_kind(exc)) from None
    return conn
