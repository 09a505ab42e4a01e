"""One ``mlctl monitor`` run at a time per workspace and model.

An exclusive ``fcntl`` lock on ``<workspace>/monitoring/<model>/monitor.lock``: the
kernel releases it when the process ends, however it ends (``kill -9`` included), so
a crashed run never leaves a stale lock behind. The file holds the pid of the holder,
for the message of the run that finds it taken.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from mlctl.errors import MonitorCannotRun

try:
    import fcntl
except ImportError:  # Windows: no lock (documented)
    fcntl = None  # type: ignore[assignment]


class MonitorLock:
    """An exclusive, non-blocking lock; use as a context manager.

    Raises:
        MonitorCannotRun: another process holds it (naming its pid and the path).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> MonitorLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f"pid {holder}" if holder else "another process"
                raise MonitorCannotRun(
                    f"another mlctl monitor run ({who}) holds the lock at {self.path}",
                    hint="wait for it to finish; the lock goes when that process ends",
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
