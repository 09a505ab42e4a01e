"""Rendering every command shares: the two consoles, number formatting, progress bars.

Progress and messages go to stderr (:func:`err`), results to stdout (:func:`out`).
Nothing here imports rich until something is drawn, so ``mlctl --help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlctl.cli.common import escape


@functools.cache
def err():
    """The console on stderr. Off a terminal rich assumes 80 columns; results are wider."""
    from rich.console import Console

    width = None if sys.stderr.isatty() else 140
    return Console(stderr=True, highlight=False, soft_wrap=True, width=width)


@functools.cache
def out():
    """The console on stdout (results only)."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else 140
    return Console(highlight=False, soft_wrap=True, width=width)


def key_value_table():
    """A borderless two-column table (bold keys) for a result panel."""
    from rich.table import Table

    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column("key", style="bold")
    table.add_column("value")
    return table


def bars(unit: str, enabled: bool):
    """Progress bars on stderr: description, bar, done/total ``unit``, elapsed time and
    the estimated time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err(),
        transient=False,
        disable=not enabled,
    )


@dataclass
class _Line:
    """A task shown as plain lines: its label, how many units and how far it got."""

    label: str
    total: int | None
    done: int = 0
    tenths: int = 0  # the last tenth of the total that was printed
    started: float = field(default_factory=time.monotonic)


class Bars:
    """Progress of ``unit`` on stderr while the object is entered: bars on a terminal;
    elsewhere (CI logs, ``2> file``) plain timestamped lines, printed in the order things
    happen (a bar there would only be drawn at the end, after later lines)."""

    unit = ""

    def __init__(self, enabled: bool = True, plain: bool | None = None) -> None:
        self.enabled = enabled
        self.plain = (not err().is_terminal) if plain is None else plain
        self.progress = bars(self.unit, enabled and not self.plain)
        self._lines: dict[int, _Line] = {}
        self._lock = threading.Lock()

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def say(self, text: str) -> None:
        """One line above the bars (or one timestamped line)."""
        if self.plain:
            err().print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")
        else:
            self.progress.console.print(text)

    def add_task(self, label: str, total: int | None) -> int:
        if not self.plain:
            return self.progress.add_task(label, total=total)
        with self._lock:
            key = len(self._lines)
            self._lines[key] = _Line(escape(label), total)
        of = f", {total} {self.unit}" if total else ""
        self.say(f"{escape(label)}: started{of}")
        return key

    def advance(self, task: int) -> None:
        if not self.plain:
            self.progress.advance(task)
            return
        with self._lock:
            line = self._lines[task]
            line.done += 1
            tenths = line.done * 10 // line.total if line.total else 0
            if tenths <= line.tenths:
                return
            line.tenths = tenths
        self.say(f"{line.label}: {line.done}/{line.total} {self.unit}")

    def finish(self, task: int) -> None:
        if not self.plain:
            total = self.progress.tasks[task].total
            self.progress.update(task, completed=total)
            return
        line = self._lines[task]
        seconds = time.monotonic() - line.started
        self.say(f"{line.label}: done in {seconds:.1f} s")


def registered_lines(summary, source: str = "") -> None:
    """What ``run`` and ``run -m`` registered, and how to promote it."""
    aliases = ", ".join(summary.aliases) or "no alias"
    out().print(
        f"[green]✓[/] registered [bold]{summary.model_name}[/] version "
        f"{summary.version} ({aliases}){source}"
    )
    if "champion" not in summary.aliases:
        out().print(
            f"  promote it with: mlctl models promote {summary.model_name} {summary.version} --yes"
        )
