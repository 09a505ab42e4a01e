"""``mlctl run -m``: a sweep's progress and its ranked jobs (the command is
:mod:`mlctl.cli.run`)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mlctl.cli.tables import Bars, out, registered_lines
from mlctl.errors import ExitCode
from mlctl.redact import redact_text
from mlctl.text import number_text


def sweep(recipe, overrides, workspace, promote, as_json, quiet) -> None:
    """Run the sweep, print its result and exit with its code."""
    from mlctl.sweep import SweepOptions, run_sweep

    with SweepProgress(enabled=not quiet and not as_json) as progress:
        summary = run_sweep(recipe, overrides, SweepOptions(workspace, promote), progress.on_event)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        sweep_summary(summary, quiet=quiet)
    codes = {"ready": ExitCode.OK, "not_ready": ExitCode.NOT_READY, "failed": ExitCode.ERROR}
    sys.exit(int(codes[summary.status]))


def _overrides_text(overrides: list[str], common: set[str]) -> str:
    """A job's own overrides (those shared by every job are left out), without ``++``."""
    own = [o for o in overrides if o not in common] or overrides
    return " ".join(o.lstrip("+") for o in own)


def _swept(overrides: list[str], keys: set[str]) -> str:
    """Only the overrides of swept keys, if that leaves any."""
    own = [o for o in overrides if o.partition("=")[0].lstrip("+~") in keys] or overrides
    return " ".join(o.lstrip("+") for o in own)


class SweepProgress(Bars):
    """One bar for the sweep's jobs and a line per finished job (thread-safe)."""

    unit = "jobs"

    def __init__(self, enabled: bool = True, plain: bool | None = None) -> None:
        super().__init__(enabled, plain)
        self.task: Any = None
        self.keys: set[str] = set()

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if kind == "stage":
            self.say(f"[dim]•[/] {data['message']}")
        elif kind == "sweep_started":
            share = f", {data['inner_jobs']} core(s) per job" if data.get("inner_jobs") else ""
            self.say(
                f"[dim]•[/] sweep {data['sweep_id']}: sweeper {data['sweeper']}, "
                f"launcher {data['launcher']}{share}; MLflow run {data['run_id']}"
            )
            self.task = self.add_task("sweep", data.get("planned"))
            self.keys = set(data.get("swept_keys", []))
        elif kind == "job_done":
            record = data["record"]
            args = _swept(record.overrides, self.keys)
            if record.status == "failed":
                self.say(
                    f"  [red]✗ job #{record.job} failed[/] ({args}): {redact_text(record.error)}"
                )
            else:
                mark = "[green]✓[/]" if record.status == "ready" else "[yellow]✗[/]"
                gate = "ready" if record.status == "ready" else "not ready"
                self.say(
                    f"  {mark} job #{record.job} ({args}): cv {record.selection_metric} "
                    f"{number_text(record.cv_mean)}, {gate}, {number_text(record.seconds, 1)} s"
                )
            if self.task is not None:
                self.advance(self.task)


def sweep_summary(summary, quiet: bool = False) -> None:
    """The ranked jobs, then what was registered."""
    from rich import box
    from rich.table import Table

    metric = summary.selection_metric
    jobs = summary.jobs
    common = set.intersection(*(set(j.overrides) for j in jobs)) if len(jobs) > 1 else set()
    if not quiet:
        arrow = "higher" if summary.greater_is_better else "lower"
        table = Table(
            title=f"Sweep {summary.sweep_id}: jobs ranked by cv {metric} ({arrow} is better)",
            box=box.SIMPLE_HEAVY,
        )
        for name, justify in (
            ("rank", "right"),
            ("job", "right"),
            ("overrides", "left"),
            ("winner", "left"),
            (f"cv {metric}", "right"),
            ("± std", "right"),
            (f"test {metric}", "right"),
            ("gate", "left"),
            ("seconds", "right"),
        ):
            table.add_column(name, justify=justify)
        for i, job in enumerate(jobs, start=1):
            best = summary.best is not None and job.job == summary.best.job
            if job.status == "failed":
                gate = "[red]error[/]"
            else:
                gate = "[green]passed[/]" if job.status == "ready" else "[yellow]failed[/]"
            table.add_row(
                str(i),
                ("★ " if best else "") + f"#{job.job}",
                _overrides_text(job.overrides, common),
                job.winner or "—",
                number_text(job.cv_mean),
                number_text(job.cv_std),
                number_text(job.test_metrics.get(metric)),
                gate,
                number_text(job.seconds, 1),
                style="bold" if best else "",
            )
        out().print(table)
        if common:
            out().print(f"  every job: {' '.join(o.lstrip('+') for o in sorted(common))}")
    for job in sorted((j for j in jobs if j.status == "failed"), key=lambda j: j.job):
        out().print(f"[red]✗[/] job #{job.job} failed: {redact_text(job.error)}")
    if summary.planned is not None and len(jobs) < summary.planned:
        out().print(
            f"[yellow]![/] {summary.planned - len(jobs)} of {summary.planned} planned jobs "
            "left no result"
        )
    if summary.error:
        out().print(f"[red]✗[/] the sweep stopped early: {redact_text(summary.error)}")
    if summary.version is not None:
        registered_lines(summary, f" from job #{summary.best.job}")
    elif any(j.status != "failed" for j in jobs):
        out().print("[yellow]✗[/] not registered: no job passed the readiness gate")
    else:
        out().print("[red]✗[/] not registered: every job failed")
    out().print(f"  jobs:   {summary.sweep_dir}")
    out().print(f"  run:    {summary.sweep_run_id} ({summary.tracking_uri})")
    out().print(f"  time:   {summary.seconds:.1f} s")
