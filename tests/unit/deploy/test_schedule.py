"""The compose monitor service's schedule loop: cron times, skipped overlaps, a real
command run, and SIGTERM-style stops."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlctl.deploy.schedule import main, next_times, run_forever

pytestmark = pytest.mark.unit


def test_next_times_follow_the_cron_expression() -> None:
    times = next_times("*/20 * * * *", datetime(2026, 1, 1, 10, 5, 30))
    assert [next(times) for _ in range(3)] == [
        datetime(2026, 1, 1, 10, 20),
        datetime(2026, 1, 1, 10, 40),
        datetime(2026, 1, 1, 11, 0),
    ]


def test_runs_the_command_at_each_time_and_skips_a_time_already_past(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    code = f"open({str(marker)!r}, 'a').write('x')"
    now = datetime.now(UTC).replace(tzinfo=None)
    stop = threading.Event()

    def soon() -> datetime:
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=0.2)

    def times():
        yield now - timedelta(minutes=1)  # missed: skipped, not run late
        yield soon()
        yield soon()
        stop.set()
        yield soon()

    run_forever("* * * * *", [sys.executable, "-c", code], stop, times())
    assert marker.read_text() == "xx"


def test_a_stop_ends_a_running_command(tmp_path: Path) -> None:
    stop = threading.Event()
    now = datetime.now(UTC).replace(tzinfo=None)
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    started = datetime.now(UTC).replace(tzinfo=None)
    cmd = [sys.executable, "-c", "import time; time.sleep(30)"]
    run_forever("* * * * *", cmd, stop, iter([now]))
    assert datetime.now(UTC).replace(tzinfo=None) - started < timedelta(seconds=10)


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--schedule", "61 * * * *", "--", "true"])
    assert info.value.code == 2
    assert "Bad minute" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--schedule", "0 * * * *"])
