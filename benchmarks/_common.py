"""Helpers shared by the benchmarks: waiting for a quiet machine, measuring noise, free
ports, the CPU time of a process tree and a small JSON HTTP client."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # benchmarks serve and load only on the loopback
TICKS = os.sysconf("SC_CLK_TCK")


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


def venv_bin() -> Path:
    """The folder of this venv's executables (mlctl, mlflow)."""
    return Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def http(url: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
    """(status, parsed JSON body, or its text when it is not JSON) of a GET, or a POST of
    ``body`` as JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            raw = res.read()
            try:
                return res.status, json.loads(raw) if raw.strip() else None
            except ValueError:
                return res.status, raw.decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")[:500]


def stop_group(proc: subprocess.Popen | None) -> None:
    """Stop a server started in its own session: SIGTERM to its process group, then
    SIGKILL after 20 s."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
