"""The access log line (what it shows, and what a path cannot do to it) and the console
queue (a console nobody reads never blocks whoever logs)."""

from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace

import pytest

from mlctl.serve.middleware import MAX_PATH, access_line, note_scored
from mlctl.serve.server import CONSOLE_QUEUE, _chunks, _ConsoleQueue

pytestmark = pytest.mark.unit


def test_a_scored_request_shows_id_version_and_variant() -> None:
    scope = {"method": "POST", "path": "/predict"}
    note_scored(scope, SimpleNamespace(request_id="abc", version=3, variant="challenger"))
    assert access_line(scope, 200, 0.00421) == (
        "abc POST /predict 200 4.2 ms version=3 variant=challenger"
    )
    assert access_line({"method": "GET", "path": "/ready"}, 503, 0.0003) == (
        "- GET /ready 503 0.3 ms"
    )


def test_a_path_cannot_forge_or_split_a_line() -> None:
    line = access_line({"method": "GET", "path": "/x\n2026 INFO forged\x1b[31m a"}, 404, 0.001)
    assert "\n" not in line and "\x1b" not in line
    assert line.split()[2] == "/x\\n2026%20INFO%20forged\\x1b[31m%20a"
    long = access_line({"method": "GET", "path": "/" + "a" * 5000}, 404, 0.001)
    assert len(long.split()[2]) == MAX_PATH


def test_an_unread_console_never_blocks_the_logger() -> None:
    read, write = os.pipe()  # nobody reads: the pipe fills after ~64 KB
    try:
        handler = _ConsoleQueue(os.fdopen(write, "w", closefd=False))
        logger = logging.Logger("test.console")
        logger.addHandler(handler)
        started = time.monotonic()
        for i in range(CONSOLE_QUEUE + 20_000):
            logger.warning("line %d %s", i, "x" * 100)
        assert time.monotonic() - started < 10  # never waited for the console
        assert handler.dropped > 0
        time.sleep(0.3)
        os.set_blocking(read, False)
        written = os.read(read, 1 << 20)
        assert written.startswith(b"2")  # what fitted was written, dated
        assert written.endswith(b"\n")  # in whole lines: no half line is ever left
    finally:
        os.close(read)


def test_console_writes_are_whole_lines_of_at_most_a_pipe_buffer() -> None:
    data = b"".join(b"line %d " % i + b"x" * 90 + b"\n" for i in range(500))
    data += b"y" * 9000 + b"\n" + b"z\n"
    chunks = _chunks(data)
    assert b"".join(chunks) == data
    assert all(c.endswith(b"\n") for c in chunks)
    assert [len(c) for c in chunks if len(c) > 4096] == [9001]  # a long line alone
