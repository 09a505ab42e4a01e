"""``mlctl compare``: champion against challenger on production traffic."""

from __future__ import annotations

import json
import sys

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
from mlctl.cli.monitor import MonitorProgress, _epoch_option, monitor_warnings
from mlctl.cli.tables import key_value_table, out

EPILOG = """\b
Examples:
  mlctl compare recipes/churn.yaml                  # the last 7 days
  mlctl compare recipes/churn.yaml --window 24h --json
  mlctl compare recipes/churn.yaml --report reports/compare.html --no-mlflow

Exit codes: 0 challenger better or not yet known, 3 challenger worse, 7 nothing to
compare (no challenger traffic, no labels, no prediction log), 2 bad usage, 4 bad
recipe, 5 tracking unavailable, 1 other error, 130 interrupted (see docs/cli.md)."""


@click.command("compare", epilog=EPILOG)
@recipe_argument
@overrides_argument
@click.option("--window", default="7d", show_default=True, metavar="SPAN", help="How far back.")
@click.option(
    "--end", metavar="TIME", callback=_epoch_option, help="End of the window (default now)."
)
@click.option(
    "--champion",
    "champion_version",
    type=int,
    metavar="VERSION",
    help="Champion version (default: the one that answered most champion rows).",
)
@click.option(
    "--challenger",
    "challenger_version",
    type=int,
    metavar="VERSION",
    help="Challenger version (default: the one that answered most challenger or shadow rows).",
)
@click.option("--report", metavar="PATH", help="Write the HTML report there.")
@click.option("--no-mlflow", is_flag=True, help="Do not record the comparison in MLflow.")
@workspace_option
@json_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the verdict line.")
@trust_option
@handle_errors
def compare(
    recipe,
    overrides,
    window,
    end,
    champion_version,
    challenger_version,
    report,
    no_mlflow,
    workspace,
    as_json,
    quiet,
) -> None:
    """Compare the champion and the challenger of a RECIPE's model on labelled
    production traffic, with confidence intervals."""
    from mlctl.compare import compare as run_compare
    from mlctl.recipe.loader import load_recipe

    terminate_as_interrupt()
    loaded = load_recipe(recipe, list(overrides))
    with MonitorProgress(enabled=not quiet and not as_json) as progress:
        progress.on_event("stage", {"message": "reading the prediction log"})
        result = run_compare(
            loaded,
            window,
            end=end,
            workspace=workspace,
            champion_version=champion_version,
            challenger_version=challenger_version,
            report=report,
            log_run=not no_mlflow,
            on_event=progress.on_event,
        )
    monitor_warnings(result.warnings)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        summary(result, quiet)
    sys.exit(int(result.exit_code))


def summary(result, quiet: bool = False) -> None:
    """The verdict line, the versions and one row per metric."""
    from rich import box
    from rich.table import Table

    doc = result.to_dict()
    colour = {"better": "green", "worse": "red"}.get(doc["verdict"], "yellow")
    out().print(f"[bold {colour}]{escape(doc['message'])}[/]")
    if quiet or doc["status"] != "compared":
        return
    a, b = doc["champion"], doc["challenger"]
    info = key_value_table()
    info.add_row("model", escape(str(doc["model"])))
    info.add_row("champion", f"v{a['version']}: {a['evaluated']:,} labelled rows of {a['rows']:,}")
    info.add_row(
        "challenger", f"v{b['version']}: {b['evaluated']:,} labelled rows of {b['rows']:,}"
    )
    info.add_row(
        "traffic", f"{doc['mode']} ({'paired' if doc['mode'] == 'shadow' else 'unpaired'})"
    )
    w = doc["window"]
    info.add_row("window", f"{w['start_utc']} .. {w['end_utc']}")
    if result.report:
        info.add_row("report", escape(str(result.report)))
    if result.run_id:
        info.add_row("MLflow run", result.run_id)
    out().print(info)
    pct = round(100 * (1 - doc["alpha"]))
    table = Table(
        box=box.SIMPLE, title=f"Challenger - champion ({pct} % intervals)", title_justify="left"
    )
    for name in (
        "metric",
        "champion",
        "challenger",
        "difference",
        "p-value",
        "verdict",
        "rows needed",
        "method",
    ):
        table.add_column(
            name,
            justify="left" if name in ("metric", "verdict", "method") else "right",
            no_wrap=True,
        )
    for m in doc["metrics"]:
        need = m["needed_per_version"]
        style = {"better": "green", "worse": "red"}.get(m["verdict"], "")
        table.add_row(
            m["name"],
            _interval(m["champion"]),
            _interval(m["challenger"]),
            _interval(m["difference"], True),
            "-" if m["p_value"] is None else f"{m['p_value']:.3g}",
            f"[{style}]{m['verdict']}[/]" if style else m["verdict"],
            f"{need['champion']:,} / {need['challenger']:,}" if need else "-",
            m["method"].replace("_", " "),
        )
    out().print(table)
    for note in doc["notes"]:
        out().print(f"[dim]• {escape(note)}[/]")


def _interval(e: dict, signed: bool = False) -> str:
    if e["value"] is None:
        return "n/a"
    f = "{:+.3f}" if signed else "{:.3f}"
    if e["low"] is None:
        return f.format(e["value"])
    return f"{f.format(e['value'])} [{f.format(e['low'])}, {f.format(e['high'])}]"
