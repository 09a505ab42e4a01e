"""A response's head and body leave the server in one write (mlctl.serve.transport)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from mlctl.serve.transport import _Lingering

pytestmark = pytest.mark.unit

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder:
    """The socket's transport: what was written, in order, and whether it closed."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def connection(loop):
    real = Recorder()
    protocol = SimpleNamespace(cycle=None, loop=loop, closed=0)
    protocol.close_after_body = lambda: setattr(protocol, "closed", protocol.closed + 1)
    return real, protocol, _Lingering(real, protocol)


def started(protocol) -> SimpleNamespace:
    protocol.cycle = SimpleNamespace(response_started=True, response_complete=False)
    return protocol.cycle


def next_turn(loop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


def test_the_head_waits_for_the_body_and_both_leave_in_one_write(loop) -> None:
    real, protocol, transport = connection(loop)
    for _ in range(2):  # two requests on one keep-alive connection
        cycle = started(protocol)
        transport.write(HEAD)
        assert real.writes[-1:] != [HEAD]  # held
        transport.write(b"{}")
        cycle.response_complete = True
        assert real.writes[-1] == HEAD + b"{}"
    next_turn(loop)
    assert real.writes == [HEAD + b"{}", HEAD + b"{}"]  # nothing written twice


def test_a_head_without_a_body_leaves_on_the_next_turn_of_the_loop(loop) -> None:
    real, protocol, transport = connection(loop)
    cycle = started(protocol)
    transport.write(HEAD)  # HEAD request: uvicorn writes no body
    cycle.response_complete = True
    assert real.writes == []
    next_turn(loop)
    assert real.writes == [HEAD]


def test_later_body_chunks_of_a_streamed_answer_are_not_held(loop) -> None:
    real, protocol, transport = connection(loop)
    started(protocol)
    transport.write(HEAD)
    next_turn(loop)  # the app awaited something before its first chunk
    transport.write(b"a")
    transport.write(b"b")
    assert real.writes == [HEAD, b"a", b"b"]


def test_an_interim_100_continue_is_written_at_once(loop) -> None:
    real, protocol, transport = connection(loop)
    protocol.cycle = SimpleNamespace(response_started=False, response_complete=False)
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client waits for it
    assert real.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_closing_writes_a_held_head_first(loop) -> None:
    real, protocol, transport = connection(loop)
    started(protocol)
    transport.write(HEAD)
    transport.close()  # the app failed after starting its answer
    assert real.writes == [HEAD] and protocol.closed == 1
    next_turn(loop)
    assert real.writes == [HEAD]
