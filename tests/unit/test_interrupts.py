"""Stop signals as interrupts: held inside a deferred block, remembered for good."""

from __future__ import annotations

import os
import signal

import pytest

from mlctl import interrupts

pytestmark = pytest.mark.unit


@pytest.fixture()
def installed():
    saved = {sig: signal.getsignal(sig) for sig in interrupts.SIGNALS}
    interrupts.install()
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    interrupts._state.received = None  # the next test starts uninterrupted


def test_a_signal_raises_keyboard_interrupt_and_is_remembered(installed) -> None:
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
    assert interrupts.received() == signal.SIGTERM


def test_a_signal_inside_a_deferred_block_waits_for_its_end(installed) -> None:
    done = []
    with pytest.raises(KeyboardInterrupt, match="SIGHUP"), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGHUP)
        with interrupts.deferred():  # nested: still held
            os.kill(os.getpid(), signal.SIGINT)
            done.append("inner")
        done.append("outer")
    assert done == ["inner", "outer"]
    assert interrupts.received() == signal.SIGHUP  # the first one


def test_an_error_inside_a_deferred_block_is_not_replaced(installed) -> None:
    with pytest.raises(ValueError), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGTERM)
        raise ValueError("the block's own error")
    with interrupts.deferred():  # nothing held over from the block before
        pass


def test_checkpoint_does_nothing_unless_named(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(interrupts.PAUSE_AT, "elsewhere")
    monkeypatch.setenv(interrupts.PAUSE_FILE, str(tmp_path / "paused"))
    interrupts.checkpoint("here")
    assert not (tmp_path / "paused").exists()
    assert interrupts.name(signal.SIGTERM) == "SIGTERM"
