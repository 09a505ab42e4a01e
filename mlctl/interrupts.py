"""Stopping a command: SIGINT, SIGTERM and SIGHUP unwind it like Ctrl-C.

The CLI calls :func:`install` before a command that changes something (``mlctl run``,
``predict``, ``monitor``, ``models promote`` / ``rollback``). From then on the first
of those signals raises :class:`KeyboardInterrupt` in the main thread, and is
remembered (:func:`received`): when it reaches the whole process group (a terminal's
Ctrl-C, systemd, a CI job cancelled), the worker processes die with it, and what the
main process meets while it unwinds (a broken process pool, a vanished queue) is a
consequence of the signal, not a new error.

:func:`deferred` marks a change that must happen completely or not at all (a
registry change and its undoing, ending the MLflow run): a signal that arrives
inside is held until the block ends.

:func:`checkpoint` names a moment of a command; only tests use it, to pause there
(``MLCTL_TEST_PAUSE_AT``) and send a signal at a known point.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SIGNALS = tuple(
    s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None
)
PAUSE_AT = "MLCTL_TEST_PAUSE_AT"  # tests: the checkpoint to pause at
PAUSE_FILE = "MLCTL_TEST_PAUSE_FILE"  # tests: a file created when the pause begins
PAUSE_SECONDS = 60.0


class _State:
    installed = False
    received: int | None = None  # the first signal, for good
    pending = False  # a signal arrived inside a deferred block
    depth = 0  # nesting of deferred blocks


_state = _State()


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP as described in the module docstring (main
    thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        return
    _state.received, _state.pending, _state.depth = None, False, 0
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    _state.installed = True


def _handler(signum: int, frame: Any) -> None:
    if _state.received is None:
        _state.received = signum
    if _state.depth > 0:
        _state.pending = True
        return
    raise KeyboardInterrupt(name(signum))


def received() -> int | None:
    """The signal that stopped this command, if one did."""
    return _state.received


def name(signum: int | None) -> str:
    """``SIGTERM`` for 15."""
    if signum is None:
        return "interrupt"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the signals that arrive inside the block; raise KeyboardInterrupt when it
    ends (not when it ends with an exception: that exception unwinds already)."""
    _state.depth += 1
    try:
        yield
    except BaseException:
        _state.depth -= 1
        if _state.depth == 0:
            _state.pending = False
        raise
    _state.depth -= 1
    if _state.depth == 0 and _state.pending:
        _state.pending = False
        raise KeyboardInterrupt(name(_state.received))


def checkpoint(point: str) -> None:
    """Pause here when ``MLCTL_TEST_PAUSE_AT`` names ``point`` (tests only): create
    ``MLCTL_TEST_PAUSE_FILE``, then wait until a signal arrives (at most a minute)."""
    if os.environ.get(PAUSE_AT) != point:
        return
    marker = os.environ.get(PAUSE_FILE)
    if marker:
        Path(marker).write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + PAUSE_SECONDS
    while time.monotonic() < deadline and not _state.pending:
        time.sleep(0.02)
