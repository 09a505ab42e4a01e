"""Rich rendering of progress and results. Progress goes to stderr, results to stdout."""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mlctl.redact import redact_text

# Off a terminal rich assumes 80 columns; results are wider than that.
err = Console(
    stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 140
)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)


def fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        return f"{value:.{digits}f}"
    return str(value)


def bars(unit: str, enabled: bool) -> Progress:
    """Progress bars on stderr: description, bar, done/total ``unit``, elapsed time and
    the estimated time left."""
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
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


class _Bars:
    """Progress of ``unit`` on stderr while the object is entered: bars on a terminal;
    elsewhere (CI logs, ``2> file``) plain timestamped lines, printed in the order things
    happen (a bar there would only be drawn at the end, after later lines)."""

    unit = ""

    def __init__(self, enabled: bool = True, plain: bool | None = None) -> None:
        self.enabled = enabled
        self.plain = (not err.is_terminal) if plain is None else plain
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
            err.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")
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


class RunProgress(_Bars):
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
                fmt(row["cv_mean"]),
                fmt(row["cv_std"]),
                fmt(row["test"].get(metric)) if row["test"] else "failed",
                str(row["settings_tried"]),
                fmt(row["fit_seconds"], 1),
                style=style,
            )
        out.print(table)
        metrics = Table(title="Test metrics of the winner", box=box.SIMPLE)
        for key in summary.test_metrics:
            metrics.add_column(key, justify="right")
        metrics.add_row(*(fmt(v) for v in summary.test_metrics.values()))
        out.print(metrics)
    out.print(verdict_panel(summary.verdict))
    if summary.version is not None:
        aliases = ", ".join(summary.aliases) or "no alias"
        out.print(
            f"[green]✓[/] registered [bold]{summary.model_name}[/] version "
            f"{summary.version} ({aliases})"
        )
        if "champion" not in summary.aliases:
            out.print(
                f"  promote it with: mlctl models promote {summary.model_name} "
                f"{summary.version} --yes"
            )
    else:
        out.print("[yellow]✗[/] not registered: the model did not pass the readiness gate")
    out.print(f"  report: {summary.report_html}")
    out.print(f"  run:    {summary.run_id} ({summary.tracking_uri})")
    out.print(f"  time:   {summary.seconds:.1f} s")


def verdict_panel(verdict) -> Panel:
    table = Table(box=box.SIMPLE, show_header=True)
    table.add_column("")
    table.add_column("check")
    table.add_column("actual", justify="right")
    table.add_column("required", justify="right")
    table.add_column("detail", style="dim")
    for c in verdict.checks:
        mark = "[green]✓[/]" if c.passed else "[red]✗[/]"
        required = f"{c.op} {fmt(c.required)}" if c.required is not None else "—"
        table.add_row(mark, c.name, fmt(c.actual), required, c.detail)
    title = "[bold green]READY[/]" if verdict.passed else "[bold red]NOT READY[/]"
    if not verdict.checks:
        return Panel("no checks configured", title=title)
    return Panel(table, title=f"Readiness gate: {title}", expand=False)


def validation_result(loaded, data) -> dict[str, Any]:
    r = loaded.recipe
    result: dict[str, Any] = {
        "valid": True,
        "recipe": str(loaded.path),
        "recipe_hash": loaded.hash,
        "name": r.name,
        "task": r.task,
        "candidates": [k for k, c in r.models.candidates.items() if c.enabled],
        "selection_metric": r.selection_metric,
    }
    if data is not None:
        result["data"] = {
            "rows": data.rows,
            "train_rows": len(data.X_train),
            "test_rows": len(data.X_test),
            "input_columns": data.input_columns,
            "classes": [str(c) for c in data.classes],
            "positive_class": None if data.positive_class is None else str(data.positive_class),
            "fingerprint": data.fingerprint,
            "notes": data.notes,
        }
    from mlctl.redact import redact_tree

    return redact_tree(result)


def validation(result: dict[str, Any]) -> None:
    out.print(
        f"[green]✓[/] recipe {result['recipe']} is valid "
        f"({result['task']}, candidates: {', '.join(result['candidates'])}, "
        f"selection metric {result['selection_metric']})"
    )
    data = result.get("data")
    if data:
        classes = f", classes {data['classes']}" if data["classes"] else ""
        out.print(
            f"[green]✓[/] data: {data['rows']} rows, {len(data['input_columns'])} input "
            f"columns → {data['train_rows']} train / {data['test_rows']} test{classes}"
        )
        for note in data["notes"]:
            out.print(f"  [yellow]note:[/] {note}")


def versions(name: str, items) -> None:
    table = Table(title=f"Model {name}", box=box.SIMPLE_HEAVY)
    for col in ("version", "aliases", "created", "gate", "metric", "run"):
        table.add_column(col)
    for v in items:
        metric = v.tags.get("mlctl.selection_metric")
        value = f"{metric} {fmt(v.metrics.get(metric))}" if metric else ""
        style = "bold green" if "champion" in v.aliases else ""
        table.add_row(
            str(v.version),
            ", ".join(v.aliases),
            v.created,
            v.tags.get("mlctl.gate", ""),
            value,
            v.run_id or "",
            style=style,
        )
    out.print(table)


def version_detail(v) -> None:
    table = Table(box=box.SIMPLE, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_row("model", v.name)
    table.add_row("version", str(v.version))
    table.add_row("aliases", ", ".join(v.aliases) or "—")
    table.add_row("created", v.created)
    table.add_row("run", v.run_id or "—")
    table.add_row("source", v.source or "—")
    for k, val in sorted(v.metrics.items()):
        table.add_row(f"test {k}", fmt(val))
    for k, val in sorted(v.tags.items()):
        table.add_row(k, _short_tag(k, val))
    out.print(table)


def _short_tag(key: str, value: str) -> str:
    """The per-file digests as a count (``--json`` has them all)."""
    import json

    from mlctl.tracking.artifacts import FILES_TAG

    if key != FILES_TAG:
        return value
    try:
        return f"{len(json.loads(value))} files"
    except (ValueError, TypeError):
        return value


class PredictProgress:
    """One progress bar for ``mlctl predict``, advanced per chunk, on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            TextColumn("{task.fields[rows]}"),
            TextColumn("{task.fields[rejected]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
            console=err,
            transient=False,
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> PredictProgress:
        return self  # the bar starts with scoring, so an early error prints no empty bar

    def __exit__(self, *exc: Any) -> None:
        if self.task is not None:
            self.progress.__exit__(*exc)

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if kind == "stage":
            self.progress.console.print(f"[dim]•[/] {data['message']}")
        elif kind == "model":
            aliases = f" ({', '.join(data['aliases'])})" if data["aliases"] else ""
            self.progress.console.print(
                f"[dim]•[/] model {data['name']} v{data['version']}{aliases}"
            )
        elif kind == "start":
            files = data["files"]
            self.progress.console.print(f"[dim]•[/] {files} input file{'s' if files != 1 else ''}")
            # total None (CSV): rich shows a pulsing bar, the row count still moves.
            self.progress.__enter__()
            self.task = self.progress.add_task(
                "scoring", total=data["total_rows"], rows="", rejected="", rate=""
            )
        elif kind == "progress" and self.task is not None:
            self.progress.update(
                self.task,
                completed=data["rows_read"],
                **_row_fields(self.progress.tasks[self.task], data),
            )


def _row_fields(task, data: dict[str, Any]) -> dict[str, str]:
    total = data["total_rows"]
    rows = f"{data['rows_read']:,}" + (f"/{total:,}" if total is not None else "") + " rows"
    rejected = data["rows_rejected"]
    elapsed = task.elapsed or 0.0
    return {
        "rows": rows,
        "rejected": f"[yellow]{rejected:,} rejected[/]" if rejected else "0 rejected",
        "rate": f"{data['rows_read'] / elapsed:,.0f} rows/s" if elapsed > 0 else "",
    }


def predict_summary(summary, quiet: bool = False) -> None:
    """The result of ``mlctl predict``: counts, where the output and rejects are."""
    rejected = summary.rows_rejected
    if quiet:
        out.print(
            f"[green]✓[/] scored {summary.rows_scored:,} of {summary.rows_read:,} rows → "
            f"{summary.output}"
        )
        if rejected:
            out.print(f"[yellow]![/] {rejected:,} rows rejected, not scored → {summary.rejects}")
        return
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column("key", style="bold")
    table.add_column("value")
    aliases = f" ({', '.join(summary.model_aliases)})" if summary.model_aliases else ""
    files = len(summary.input_files)
    table.add_row("model", f"{summary.model_name} v{summary.model_version}{aliases}")
    table.add_row("input", f"{files} file{'s' if files != 1 else ''}, {summary.rows_read:,} rows")
    table.add_row("scored", f"{summary.rows_scored:,} rows")
    if rejected:
        table.add_row("rejected", f"[yellow]{rejected:,} rows (not scored) → {summary.rejects}[/]")
    else:
        table.add_row("rejected", "0 rows")
    table.add_row("output", f"{summary.output} ({summary.output_format})")
    table.add_row("time", f"{summary.seconds:.1f} s (with loading the model)")
    title = "[bold yellow]done, with rejected rows[/]" if rejected else "[bold green]done[/]"
    out.print(Panel(table, title=f"Batch scoring: {title}", expand=False))
    if rejected:
        out.print(
            f"[yellow]![/] {rejected:,} rows held values the model cannot read and were not "
            f"scored; see {summary.rejects}"
        )


def _overrides_text(overrides: list[str], common: set[str]) -> str:
    """A job's own overrides (those shared by every job are left out), without ``++``."""
    own = [o for o in overrides if o not in common] or overrides
    return " ".join(o.lstrip("+") for o in own)


def _swept(overrides: list[str], keys: set[str]) -> str:
    """Only the overrides of swept keys, if that leaves any."""
    own = [o for o in overrides if o.partition("=")[0].lstrip("+~") in keys] or overrides
    return " ".join(o.lstrip("+") for o in own)


class SweepProgress(_Bars):
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
                    f"{fmt(record.cv_mean)}, {gate}, {fmt(record.seconds, 1)} s"
                )
            if self.task is not None:
                self.advance(self.task)


def sweep_summary(summary, quiet: bool = False) -> None:
    """The ranked jobs, then what was registered."""
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
                fmt(job.cv_mean),
                fmt(job.cv_std),
                fmt(job.test_metrics.get(metric)),
                gate,
                fmt(job.seconds, 1),
                style="bold" if best else "",
            )
        out.print(table)
        if common:
            out.print(f"  every job: {' '.join(o.lstrip('+') for o in sorted(common))}")
    for job in sorted((j for j in jobs if j.status == "failed"), key=lambda j: j.job):
        out.print(f"[red]✗[/] job #{job.job} failed: {redact_text(job.error)}")
    if summary.planned is not None and len(jobs) < summary.planned:
        out.print(
            f"[yellow]![/] {summary.planned - len(jobs)} of {summary.planned} planned jobs "
            "left no result"
        )
    if summary.error:
        out.print(f"[red]✗[/] the sweep stopped early: {redact_text(summary.error)}")
    if summary.version is not None:
        aliases = ", ".join(summary.aliases) or "no alias"
        out.print(
            f"[green]✓[/] registered [bold]{summary.model_name}[/] version {summary.version} "
            f"({aliases}) from job #{summary.best.job}"
        )
        if "champion" not in summary.aliases:
            out.print(
                f"  promote it with: mlctl models promote {summary.model_name} "
                f"{summary.version} --yes"
            )
    elif any(j.status != "failed" for j in jobs):
        out.print("[yellow]✗[/] not registered: no job passed the readiness gate")
    else:
        out.print("[red]✗[/] not registered: every job failed")
    out.print(f"  jobs:   {summary.sweep_dir}")
    out.print(f"  run:    {summary.sweep_run_id} ({summary.tracking_uri})")
    out.print(f"  time:   {summary.seconds:.1f} s")


# ------------------------------------------------------------------ monitor


class MonitorProgress:
    """One status line on stderr while ``mlctl monitor`` works."""

    # Messages hold user text (paths, column names): never read as rich markup.

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.status = err.status("monitoring", spinner="dots") if enabled else None
        self.message = "monitoring"

    def __enter__(self) -> MonitorProgress:
        if self.status is not None:
            self.status.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if self.status is None:
            return
        if kind == "stage":
            self.message = data.get("message", "")
            self.status.update(escape(self.message))
        elif kind == "rows":
            self.status.update(escape(f"{self.message}: {data['rows']:,} rows"))


def monitor_warnings(warnings: list[str]) -> None:
    for line in warnings:
        err.print(f"[yellow]warning:[/] {escape(line)}")


def _drift_table(title: str, columns: list[dict[str, Any]]) -> Table:
    table = Table(title=title, box=box.SIMPLE, title_justify="left")
    for name in ("column", "kind", "test", "statistic", "p-value", "threshold", ""):
        table.add_column(
            name, justify="right" if name in ("statistic", "p-value", "threshold") else "left"
        )
    for c in columns:
        table.add_row(
            escape(c["column"]),
            c["kind"],
            c["test"] or "-",
            fmt(c["statistic"]),
            fmt(c["p_value"]),
            fmt(c["threshold"]),
            "[red]drift[/]" if c["drifted"] else "",
        )
    return table


def monitor_summary(result, quiet: bool = False) -> None:
    """The verdict, the reasons, drifted columns, performance and volume."""
    doc = result.to_dict()
    model = doc["model"]
    head = {
        "attention": "[bold yellow]attention needed[/]",
        "not_enough_data": "[bold]not enough data[/] to judge",
    }.get(doc["status"], "[bold green]healthy[/]")
    window = doc["window"]
    span = f"{window['start_utc']} .. {window['end_utc']}" if window else "whole file"
    src = doc["source"]
    if quiet:
        out.print(f"{model['name']} v{model['version']}: {head} ({span}, {src['rows']:,} rows)")
        for reason in doc["reasons"]:
            out.print(f"  [yellow]![/] {escape(reason)}")
        return
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column("key", style="bold")
    table.add_column("value")
    alias = f" (@{model['alias']})" if model["alias"] else ""
    table.add_row("model", f"{model['name']} v{model['version']}{alias}")
    table.add_row("window", span)
    table.add_row("source", escape(f"{src['kind']} {src['location']}: {src['rows']:,} rows"))
    d = doc["drift"]
    few = d.get("n_not_enough_data") or 0
    table.add_row(
        "data drift",
        f"{d['n_drifted']} of {d['n_tested']} columns drifted "
        f"({100 * d['share_drifted']:.0f} %; dataset drift at {100 * d['drift_share']:.0f} %)"
        + (f"; {few} not enough data" if few else ""),
    )
    pred = doc["prediction_drift"]
    if pred:
        shown = ", ".join(
            f"{escape(c['column'])} "
            + (
                "[red]drift[/]"
                if c["drifted"]
                else "ok"
                if c["status"] == "tested"
                else c["status"].replace("_", " ")
            )
            for c in pred["columns"]
        )
        table.add_row("prediction drift", shown)
    perf = doc["performance"]
    table.add_row("performance", escape(perf["message"]) if perf else "no labels")
    vol = doc["volume"]
    table.add_row("volume", escape(vol["message"]) if vol else "not checked (file)")
    if result.report:
        table.add_row("report", escape(str(result.report)))
    if result.run_id:
        table.add_row("MLflow run", result.run_id)
    if doc["retrain"]:
        block = doc["retrain"]
        table.add_row("retrain", escape(f"{block['outcome']}: {block['reason']}"))
    out.print(Panel(table, title=f"Monitoring: {head}", expand=False))
    for reason in doc["reasons"]:
        out.print(f"[yellow]![/] {escape(reason)}")
    for note in doc["notes"]:
        out.print(f"[dim]• {escape(note)}[/]")
    drifted = [c for c in d["columns"] if c["drifted"]]
    if drifted:
        out.print(_drift_table("Drifted columns", drifted))
    if pred and any(c["drifted"] for c in pred["columns"]):
        out.print(_drift_table("Prediction drift", [c for c in pred["columns"] if c["drifted"]]))
