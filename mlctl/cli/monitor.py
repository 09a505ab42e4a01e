"""``mlctl monitor``: drift, performance and volume of a served model (for cron)."""

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
from mlctl.cli.tables import err, key_value_table, out
from mlctl.text import number_text

EPILOG = """\b
Examples:
  mlctl monitor recipes/churn.yaml                  # the last 24 h (monitor.window)
  mlctl monitor recipes/churn.yaml --window 7d --report reports/churn.html --json
  mlctl monitor recipes/churn.yaml --current new_batch.parquet --label-column Churn
  mlctl monitor recipes/churn.yaml --retrain        # retrain, gate, promote only if it wins
  */30 * * * * cd /srv/churn && mlctl monitor recipes/churn.yaml --quiet

Exit codes: 0 healthy, 3 attention needed, 7 could not run (no rows in the window,
no prediction log, no reference profile, another run holds the lock), 2 bad usage,
4 bad recipe or model reference, 5 tracking unavailable, 6 Dask cluster unavailable
(--retrain), 8 model files differ from their recorded SHA-256, 1 other error,
130 interrupted (see docs/cli.md)."""


def _epoch_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``--end``: epoch seconds or an ISO 8601 time (UTC without a zone)."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time: use ISO 8601 (2026-11-27T12:00:00Z) or epoch seconds"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@click.command("monitor", epilog=EPILOG)
@recipe_argument
@overrides_argument
@click.option(
    "--window", metavar="SPAN", help="How far back: 90m, 24h, 7d, 2w (default monitor.window)."
)
@click.option(
    "--end", metavar="TIME", callback=_epoch_option, help="End of the window (default now)."
)
@click.option(
    "--model",
    "reference",
    metavar="REF",
    help="NAME@ALIAS, NAME/VERSION, an alias or a version (default deploy.serve.alias).",
)
@click.option("--current", metavar="PATH", help="Monitor this CSV or Parquet file, not the log.")
@click.option("--label-column", metavar="NAME", help="--current: the column of true labels.")
@click.option("--timestamp-column", metavar="NAME", help="--current: the column of event times.")
@click.option("--report", metavar="PATH", help="Write the HTML report there.")
@click.option(
    "--retrain", is_flag=True, help="Retrain; promote only if it passes the gate and wins."
)
@click.option("--no-mlflow", is_flag=True, help="Do not log a monitoring run to MLflow.")
@workspace_option
@json_option
@click.option("--quiet", "-q", is_flag=True, help="Print nothing unless attention is needed.")
@trust_option
@handle_errors
def monitor(
    recipe,
    overrides,
    window,
    end,
    reference,
    current,
    label_column,
    timestamp_column,
    report,
    retrain,
    no_mlflow,
    workspace,
    as_json,
    quiet,
) -> None:
    """Check drift, performance and volume of a RECIPE's served model."""
    from mlctl.api import monitor as run_monitor
    from mlctl.monitor.run import MonitorOptions
    from mlctl.recipe.loader import load_recipe

    if (label_column or timestamp_column) and not current:
        raise click.UsageError("--label-column and --timestamp-column need --current")
    terminate_as_interrupt()
    loaded = load_recipe(recipe, list(overrides))  # retraining checks apart
    options = MonitorOptions(
        workspace,
        window,
        end,
        reference,
        current,
        label_column,
        timestamp_column,
        report,
        retrain,
        log_run=not no_mlflow,
    )
    with MonitorProgress(enabled=not quiet and not as_json) as progress:
        result = run_monitor(loaded, options, progress.on_event)
    monitor_warnings(result.warnings)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif not (quiet and not result.attention):
        monitor_summary(result, quiet=quiet)
    sys.exit(int(result.exit_code))


class MonitorProgress:
    """One status line on stderr while ``mlctl monitor`` works."""

    # Messages hold user text (paths, column names): never read as rich markup.

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.status = err().status("monitoring", spinner="dots") if enabled else None
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
        err().print(f"[yellow]warning:[/] {escape(line)}")


def _drift_table(title: str, columns: list[dict[str, Any]]):
    from rich import box
    from rich.table import Table

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
            number_text(c["statistic"]),
            number_text(c["p_value"]),
            number_text(c["threshold"]),
            "[red]drift[/]" if c["drifted"] else "",
        )
    return table


def monitor_summary(result, quiet: bool = False) -> None:
    """The verdict, the reasons, drifted columns, performance and volume."""
    from rich.panel import Panel

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
        out().print(f"{model['name']} v{model['version']}: {head} ({span}, {src['rows']:,} rows)")
        for reason in doc["reasons"]:
            out().print(f"  [yellow]![/] {escape(reason)}")
        return
    table = key_value_table()
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
    out().print(Panel(table, title=f"Monitoring: {head}", expand=False))
    for reason in doc["reasons"]:
        out().print(f"[yellow]![/] {escape(reason)}")
    for note in doc["notes"]:
        out().print(f"[dim]• {escape(note)}[/]")
    drifted = [c for c in d["columns"] if c["drifted"]]
    if drifted:
        out().print(_drift_table("Drifted columns", drifted))
    if pred and any(c["drifted"] for c in pred["columns"]):
        out().print(_drift_table("Prediction drift", [c for c in pred["columns"] if c["drifted"]]))
