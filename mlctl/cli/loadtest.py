"""``mlctl loadtest``: load a served model and check the recipe's SLO."""

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
    quiet_option,
    recipe_argument,
    terminate_as_interrupt,
    trust_option,
    workspace_option,
)

EPILOG = """\b
Examples:
  mlctl loadtest recipes/churn.yaml                   # starts mlctl serve, 8 clients, 30 s
  mlctl loadtest recipes/churn.yaml --url http://127.0.0.1:8000 --clients 16 --duration 10
  mlctl loadtest recipes/churn.yaml --rate 200 --duration 60 --json
  mlctl loadtest recipes/churn.yaml --rows sample.csv --rows-per-request 20

Exit codes: 0 SLO met, 3 SLO not met (deploy.serve.slo), 7 could not run (the service
is unreachable, not ready, or could not start), 2 bad usage (e.g. --clients with
--rate), 4 bad recipe, rows that do not fit the model or a bad model reference,
5 tracking unavailable, 8 model files differ from their recorded SHA-256, 1 other
error, 130 interrupted (partial results are printed; see docs/cli.md)."""


@click.command(
    "loadtest",
    epilog=EPILOG,
    short_help="Replay rows against a RECIPE's served model and check its SLO.",
)
@recipe_argument
@overrides_argument
@click.option("--url", metavar="URL", help="A running service (default: start one for the test).")
@click.option("--rows", "rows_file", metavar="FILE", help="CSV or Parquet rows to replay.")
@click.option("--clients", type=click.IntRange(1, 1024), help="Closed loop: N clients (default 8).")
@click.option(
    "--rate", type=click.FloatRange(0, 100_000, min_open=True), help="Open loop: R requests/s."
)
@click.option(
    "--connections",
    type=click.IntRange(1, 1024),
    help="Open loop: most requests in flight (default 32).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0, 3600, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds of load (then at most --timeout for the last answers).",
)
@click.option(
    "--rows-per-request", type=click.IntRange(1), default=1, show_default=True, help="Batch size."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0, 300, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds one request may take.",
)
@click.option("--no-mlflow", is_flag=True, help="Do not log a loadtest run to MLflow.")
@workspace_option
@json_option
@quiet_option("Print only the verdict line (and warnings).")
@trust_option
@handle_errors
def loadtest(
    recipe,
    overrides,
    url,
    rows_file,
    clients,
    rate,
    connections,
    duration,
    rows_per_request,
    timeout,
    no_mlflow,
    workspace,
    as_json,
    quiet,
) -> None:
    """Replay rows against a RECIPE's served model and check its SLO."""
    from mlctl.cli.tables import err
    from mlctl.loadtest import LoadtestOptions
    from mlctl.loadtest import loadtest as run_loadtest
    from mlctl.recipe.loader import load_recipe

    terminate_as_interrupt()
    loaded = load_recipe(recipe, list(overrides))
    options = LoadtestOptions(
        url,
        rows_file,
        clients,
        rate,
        connections,
        duration,
        rows_per_request,
        timeout,
        workspace,
        log_run=not no_mlflow,
    )
    status = err().status("load test", spinner="dots") if not (as_json or quiet) else None

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if status is None:
            return
        if kind == "stage":
            status.update(escape(data["message"]))
        elif kind == "tick":
            status.update(f"sending: {data['sent']:,} requests")

    if status is not None:
        status.start()
    try:
        result = run_loadtest(loaded, list(overrides), options, on_event)
    finally:
        if status is not None:
            status.stop()
    for line in result.warnings:
        err().print(f"[yellow]warning:[/] {escape(line)}")
    if as_json:
        click.echo(json.dumps(result.document, indent=2, allow_nan=False))
    elif quiet:
        click.echo(result.document["verdict"])
    else:
        summary(result.document)
    sys.exit(int(result.exit_code))


def summary(doc: dict[str, Any]) -> None:
    """The verdict panel and the latency and status tables."""
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    from mlctl.cli.tables import key_value_table, out

    head = {
        "pass": "[bold green]SLO met[/]",
        "fail": "[bold red]SLO not met[/]",
        "interrupted": "[bold yellow]interrupted[/] (partial results)",
    }[doc["status"]]
    load, res, gen = doc["load"], doc["results"], doc["generator"]
    table = key_value_table()
    table.add_row("model", f"{doc['model']['name']} v{doc['model']['version']}")
    table.add_row(
        "service",
        escape(doc["service"]["url"]) + (" (started)" if doc["service"]["started"] else ""),
    )
    how = (
        f"open loop, {load['rate_rps']:g} requests/s, up to {load['connections']} connections"
        if load["mode"] == "open"
        else f"closed loop, {load['clients']} clients"
    )
    table.add_row("load", f"{how}, {load['duration_s']:g} s")
    table.add_row(
        "rows", escape(f"{load['rows_per_request']} per request, from {load['rows_source']}")
    )
    table.add_row(
        "requests",
        f"{res['ok']:,} ok of {res['requests']:,} in {res['elapsed_s']:.1f} s: "
        f"{res['throughput_rps']:,.1f}/s ({res['rows_per_second']:,.1f} rows/s)",
    )
    rate = res["error_rate"]
    table.add_row("errors", "n/a" if rate is None else f"{100 * rate:.2f} % ({res['errors']:,})")
    cpu = gen["cpu_us_per_request"]
    table.add_row(
        "generator",
        f"{gen['cpu_percent']:.0f} % of a core"
        + (f", {cpu:.0f} µs CPU per request" if cpu is not None else "")
        + f" ({gen['event_loop']})",
    )
    if doc.get("mlflow_run_id"):
        table.add_row("MLflow run", doc["mlflow_run_id"])
    out().print(Panel(table, title=f"Load test: {head}", expand=False))

    lat = Table(title="Latency (ms)", box=box.SIMPLE, title_justify="left")
    names = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")
    for name in names:
        lat.add_column(name.removesuffix("_ms"), justify="right")
    lat.add_row(
        *("n/a" if v is None else f"{v:.2f}" for v in (res["latency_ms"][n] for n in names))
    )
    out().print(lat)

    answers = Table(title="Answers", box=box.SIMPLE, title_justify="left")
    answers.add_column("status")
    answers.add_column("requests", justify="right")
    for code, n in res["statuses"].items():
        answers.add_row(code, f"{n:,}")
    for kind, n in res["failures"].items():
        answers.add_row(escape(kind), f"{n:,}")
    out().print(answers)

    checks = Table(title="SLO (deploy.serve.slo)", box=box.SIMPLE, title_justify="left")
    for name in ("check", "limit", "measured", ""):
        checks.add_column(name)
    for c in doc["slo"]["checks"]:
        limit, value = c["limit"], c["value"]
        if c["name"] == "max_error_rate":
            shown = (f"{100 * limit:g} %", "n/a" if value is None else f"{100 * value:.2f} %")
        elif c["name"] == "min_throughput_rps":
            shown = (f"{limit:g}/s", f"{value:.1f}/s")
        else:
            shown = (f"{limit:g} ms", "n/a" if value is None else f"{value:.2f} ms")
        checks.add_row(c["name"], *shown, "[green]ok[/]" if c["passed"] else "[red]not met[/]")
    out().print(checks)
    out().print(escape(doc["verdict"]))
