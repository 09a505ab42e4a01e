"""Run a command on a cron schedule, in the foreground: the compose monitor service.

``python -m mlctl.deploy.schedule --schedule '0 * * * *' -- mlctl monitor RECIPE ...``

Why a loop and not cron: cron daemons want root and a syslog, and drop the job's
output; this loop runs as the image's user, logs each run (start, exit code,
seconds) to stdout for ``docker compose logs``, never overlaps two runs (a run that
overlaps the next time skips it) and on SIGTERM stops, passing it on to a running
command. Times are UTC.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

log = logging.getLogger("mlctl.schedule")


def next_times(expression: str, after: datetime) -> Iterator[datetime]:
    """The times a 5-field cron expression fires after ``after`` (naive UTC)."""
    from cronsim import CronSim

    return iter(CronSim(expression, after.replace(tzinfo=None, second=0, microsecond=0)))


def run_forever(
    expression: str,
    command: list[str],
    stop: threading.Event,
    times: Iterator[datetime] | None = None,
) -> None:
    """Run ``command`` at each time of ``expression`` (or of ``times``, naive UTC) until
    ``stop`` is set."""
    now = datetime.now(UTC).replace(tzinfo=None)
    for when in times if times is not None else next_times(expression, now):
        now = datetime.now(UTC).replace(tzinfo=None)
        if when < now:  # the previous run overlapped this time: skip it
            log.info("skipped %s: the previous run was still going", when.isoformat())
            continue
        log.info("next run at %sZ", when.isoformat())
        if stop.wait((when - now).total_seconds()):
            return
        started = time.monotonic()
        child = subprocess.Popen(command)
        while child.poll() is None:
            if stop.wait(0.5):
                child.terminate()  # mlctl monitor unwinds like Ctrl-C and releases its lock
                child.wait()
                return
        log.info("exit code %d after %.1f s", child.returncode, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    from cronsim import CronSim, CronSimError

    parser = argparse.ArgumentParser(prog="python -m mlctl.deploy.schedule")
    parser.add_argument("--schedule", required=True, help="5-field cron expression (UTC)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    try:
        CronSim(args.schedule, datetime(2000, 1, 1))
    except CronSimError as exc:
        parser.error(f"--schedule {args.schedule!r}: {exc}")
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)sZ schedule: %(message)s"
    )
    logging.Formatter.converter = time.gmtime
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("'%s': %s", args.schedule, " ".join(command))
    run_forever(args.schedule, command, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
