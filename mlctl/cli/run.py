"""``mlctl run``: train, evaluate, gate and register (``-m``: a sweep, :mod:`mlctl.cli.sweep`)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mlctl.cli.common import (
    escape,
    handle_errors,
    json_option,
    overrides_argument,
    recipe_argument,
    terminate_as_interrupt,
    trust_option,
    workspace_option,
)
from mlctl.cli.tables import Bars, out, registered_lines
from mlctl.errors import ExitCode
from mlctl.redact import redact_text
from mlctl.text import number_text

EPILOG = """\b
Examples:
  mlctl run recipes/churn.yaml
  mlctl run recipes/churn.yaml models=fast split.seed=7
  mlctl run recipes/churn.yaml --promote --yes --json > result.json
  mlctl run recipes/churn.yaml -m models=fast,full split.seed=1,2,3
  mlctl run recipes/churn.yaml -m hydra/launcher=joblib models=fast,full split.seed=1,2,3

Exit codes: 0 ready, 3 trained but not ready (a sweep: no job passed),
4 bad recipe or data, 5 tracking unavailable, 6 Dask cluster unavailable,
2 bad usage, 1 other error (a sweep: every job failed), 130 interrupted;
see docs/cli.md and docs/sweeps.md."""


@click.command("run", epilog=EPILOG)
@recipe_argument
@overrides_argument
@workspace_option
@click.option("--promote", is_flag=True, help="Make the model champion if the gate passes.")
@click.option("--yes", "-y", is_flag=True, help="Approve promotion without asking.")
@json_option
@click.option("--quiet", "-q", is_flag=True, help="No progress, only the result.")
@click.option(
    "--multirun",
    "-m",
    is_flag=True,
    help="Sweep: one job per combination of comma-separated values (Hydra multirun).",
)
@trust_option
@handle_errors
def run(recipe, overrides, workspace, promote, yes, as_json, quiet, multirun) -> None:
    """Train, evaluate, gate and register the model a RECIPE describes.

    OVERRIDES are Hydra-style key=value arguments, e.g. split.seed=7 models=fast.
    With -m, key=a,b,c sweeps and hydra/launcher=..., hydra/sweeper=... choose how
    (docs/sweeps.md); only the best job that passes the gate is registered.
    """
    from mlctl.runner import RunOptions
    from mlctl.runner import run as run_recipe
    from mlctl.train.checks import load_training_recipe

    if promote and not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("--promote needs --yes when not run interactively")
        yes = click.confirm("Promote the model to champion if it passes the gate?", err=True)
        promote = yes
    terminate_as_interrupt()
    if multirun:
        from mlctl.cli.sweep import sweep

        sweep(recipe, list(overrides), workspace, promote, as_json, quiet)
        return
    loaded = load_training_recipe(recipe, list(overrides), data_first=True)  # data errors first
    with RunProgress(enabled=not quiet and not as_json) as progress:
        # No listener (and no progress-queue process) when nothing shows progress.
        listener = progress.on_event if progress.enabled else None
        summary = run_recipe(loaded, RunOptions(workspace, promote), listener)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        run_summary(summary, quiet=quiet)
    sys.exit(int(ExitCode.OK if summary.ready else ExitCode.NOT_READY))


class RunProgress(Bars):
    """Per-candidate progress bars advanced per finished fold (thread-safe)."""

    unit = "folds"

    def __init__(self, enabled: bool = True, plain: bool | None = None) -> None:
        super().__init__(enabled, plain)
        self.tasks: dict[str, Any] = {}

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if kind == "stage":
            self.say(f"[dim]•[/] {data['message']}")
        elif kind == "data":
            self.say(
                f"[dim]•[/] data: {data['rows']} rows → {data['train']} train / {data['test']} test"
            )
            for note in data.get("notes", []):
                self.say(f"  [yellow]note:[/] {note}")
        elif kind == "run_started":
            self.say(f"[dim]•[/] MLflow run {data['run_id']} at {data['tracking_uri']}")
        elif kind == "candidate_start":
            label = f"{data['candidate']} ({data['estimator']})"
            self.tasks[data["candidate"]] = self.add_task(label, data["fits"])
        elif kind == "fold_done":
            task = self.tasks.get(data["candidate"])
            if task is not None:
                self.advance(task)
        elif kind == "candidate_done":
            task = self.tasks.get(data["candidate"])
            result = data["result"]
            if task is not None:
                self.finish(task)
                if result.error:
                    self.say(f"  [red]✗ {data['candidate']} failed:[/] {redact_text(result.error)}")
                for note in getattr(result, "notes", []):
                    self.say(f"  [yellow]note:[/] {data['candidate']}: {note}")


def run_summary(summary, quiet: bool = False) -> None:
    """Leaderboard, gate verdict and where things are."""
    from rich import box
    from rich.table import Table

    metric = summary.selection_metric
    if not quiet:
        table = Table(title=f"Leaderboard ({metric})", box=box.SIMPLE_HEAVY)
        table.add_column("candidate")
        table.add_column("estimator")
        table.add_column(f"cv {metric}", justify="right")
        table.add_column("± std", justify="right")
        table.add_column(f"test {metric}", justify="right")
        table.add_column("settings", justify="right")
        table.add_column("seconds", justify="right")
        for row in summary.leaderboard:
            style = "bold green" if row["is_winner"] else ("dim" if row["is_baseline"] else "")
            name = ("★ " if row["is_winner"] else "  ") + row["candidate"]
            table.add_row(
                name,
                row["estimator"],
                number_text(row["cv_mean"]),
                number_text(row["cv_std"]),
                number_text(row["test"].get(metric)) if row["test"] else "failed",
                str(row["settings_tried"]),
                number_text(row["fit_seconds"], 1),
                style=style,
            )
        out().print(table)
        metrics = Table(title="Test metrics of the winner", box=box.SIMPLE)
        for key in summary.test_metrics:
            metrics.add_column(key, justify="right")
        metrics.add_row(*(number_text(v) for v in summary.test_metrics.values()))
        out().print(metrics)
        if summary.threshold is not None:
            out().print(threshold_line(summary.threshold))
        out().print(recommendations_table(summary.recommendations))
    out().print(verdict_panel(summary.verdict))
    if summary.version is not None:
        registered_lines(summary)
    else:
        out().print("[yellow]✗[/] not registered: the model did not pass the readiness gate")
    out().print(f"  report: {summary.report_html}")
    out().print(f"  run:    {summary.run_id} ({summary.tracking_uri})")
    out().print(f"  time:   {summary.seconds:.1f} s")


def threshold_line(threshold: dict[str, Any]) -> str:
    """The decision threshold the model predicts with, and how it was chosen."""
    method = threshold["method"]
    if method == "fixed":
        how = "fixed by the recipe (evaluation.threshold)"
    else:
        how = f"chosen by {method} on {threshold['chosen_on']}"
    costs = threshold.get("costs")
    if costs:
        how += f"; costs: a false positive {costs['fp']:g}, a false negative {costs['fn']:g}"
    return f"Decision threshold {number_text(threshold['value'])}: {escape(how)}"


def recommendations_table(items: list[dict[str, str]]):
    """What the report recommends, numbered, each with the figure it rests on."""
    from rich import box
    from rich.table import Table

    if not items:
        return "Recommendations: none"
    table = Table(title="Recommendations", box=box.SIMPLE, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("severity", no_wrap=True)
    table.add_column("topic", no_wrap=True)
    table.add_column("recommendation", ratio=3)
    table.add_column("based on", ratio=2, style="dim")
    for n, item in enumerate(items, 1):
        warn = item["severity"] == "warn"
        severity = "[yellow]⚠ warn[/]" if warn else "ℹ info"
        table.add_row(str(n), severity, escape(item["topic"]), escape(item["text"]),
                      escape(item["figure"]))  # fmt: skip
    return table


def verdict_panel(verdict):
    """The readiness gate's checks as a panel."""
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    table = Table(box=box.SIMPLE, show_header=True)
    table.add_column("")
    table.add_column("check")
    table.add_column("actual", justify="right")
    table.add_column("required", justify="right")
    table.add_column("detail", style="dim")
    for c in verdict.checks:
        mark = "[green]✓[/]" if c.passed else "[red]✗[/]"
        required = f"{c.op} {number_text(c.required)}" if c.required is not None else "—"
        table.add_row(mark, c.name, number_text(c.actual), required, c.detail)
    title = "[bold green]READY[/]" if verdict.passed else "[bold red]NOT READY[/]"
    if not verdict.checks:
        return Panel("no checks configured", title=title)
    return Panel(table, title=f"Readiness gate: {title}", expand=False)
