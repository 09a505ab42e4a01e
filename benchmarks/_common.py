"""Helpers shared by the benchmarks: waiting for a quiet machine, measuring noise."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def machine_busy() -> float | None:
    """CPU-seconds the whole machine has spent busy since boot (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float, threshold: float = 0.25, window: float = 3.0) -> float | None:
    """Wait (up to ``max_wait`` s) until the machine is below ``threshold`` busy; returns it."""
    deadline = time.monotonic() + max_wait
    busy = None
    while True:
        start = machine_busy()
        time.sleep(window)
        end = machine_busy()
        if start is None or end is None:
            return None
        busy = (end - start) / window / (os.cpu_count() or 1)
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def others_cpu(res: dict[str, Any]) -> str:
    return "n/a" if res["others"] is None else f"{res['others']:.0f} s"
