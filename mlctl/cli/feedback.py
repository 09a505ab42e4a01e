"""``mlctl feedback``: send ground truth from a file (into the log, or to a server)."""

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
from mlctl.cli.monitor import MonitorProgress
from mlctl.cli.tables import key_value_table, out

EPILOG = """\b
Examples:
  mlctl feedback recipes/churn.yaml --labels labels.csv --id-column request_id --label-column Churn
  mlctl feedback recipes/churn.yaml --labels labels.parquet --id-column request_id \\
      --label-column Churn --url http://127.0.0.1:8000

Exit codes: 0 labels stored (ids the log does not hold are kept aside and counted),
4 the file cannot be used (a missing column, no rows, duplicate ids, labels the model
does not know: nothing is sent), the server refused them, or no prediction log,
2 bad usage, 5 tracking unavailable, 8 model files differ from their recorded SHA-256,
1 other error, 130 interrupted (see docs/cli.md)."""


@click.command("feedback", epilog=EPILOG)
@recipe_argument
@overrides_argument
@click.option(
    "--labels", "labels", required=True, metavar="FILE", help="CSV or Parquet file of labels."
)
@click.option("--id-column", required=True, metavar="NAME", help="Its column of request ids.")
@click.option("--label-column", required=True, metavar="NAME", help="Its column of true labels.")
@click.option(
    "--url",
    metavar="URL",
    help="Send to this running server's POST /feedback instead of writing the log.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Send the valid rows and count the others (default: send nothing).",
)
@workspace_option
@json_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the counts line.")
@trust_option
@handle_errors
def feedback(
    recipe, overrides, labels, id_column, label_column, url, skip_invalid, workspace, as_json, quiet
) -> None:
    """Send ground truth for earlier predictions from a CSV or Parquet file, by request id."""
    from mlctl.feedback import send_feedback
    from mlctl.recipe.loader import load_recipe

    terminate_as_interrupt()
    loaded = load_recipe(recipe, list(overrides))
    with MonitorProgress(enabled=not quiet and not as_json) as progress:
        progress.on_event("stage", {"message": "reading the labels"})
        report = send_feedback(
            loaded,
            labels,
            id_column,
            label_column,
            url=url,
            workspace=workspace,
            skip_invalid=skip_invalid,
            on_event=progress.on_event,
        )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _summary(report, quiet)
    sys.exit(0)


def _summary(report, quiet: bool) -> None:
    line = (
        f"{report.sent:,} labels sent: {report.matched:,} matched a prediction, "
        f"{report.orphans:,} unknown ids kept aside, {len(report.rejected):,} rejected"
    )
    out().print(f"[bold green]✓[/] {escape(line)}")
    if quiet:
        return
    table = key_value_table()
    table.add_row("file", escape(report.file))
    table.add_row("into", escape(report.target))
    if report.orphan_ids:
        table.add_row("unknown ids", escape(", ".join(report.orphan_ids)))
    out().print(table)
    for bad in report.rejected[:5]:
        out().print(
            f"[yellow]![/] row {bad.row} ({escape(repr(bad.request_id))}): {escape(bad.reason)}"
        )
