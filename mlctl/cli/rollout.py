"""``mlctl rollout``: one step of the challenger's gradual rollout (for cron), or
``--watch`` until it is done or rolled back."""

from __future__ import annotations

import json
import sys
import time

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

EPILOG = """\b
Examples:
  mlctl rollout recipes/churn.yaml                      # one evaluation (cron)
  mlctl rollout recipes/churn.yaml --approve            # allow the promotion to 100 %
  mlctl rollout recipes/churn.yaml --watch --every 30   # until done or rolled back
  * * * * * cd /srv/churn && mlctl rollout recipes/churn.yaml --json >> rollout.jsonl

Exit codes: 0 the rollout went on, waits, is done or there is nothing to roll out,
3 rolled back by this call (or a guard breached with auto_rollback off), 2 bad usage,
4 bad recipe, model reference or prediction log, 5 tracking unavailable, 8 model files
differ from their recorded SHA-256 (promotion, rollback), 1 other error, 130
interrupted during an evaluation (see docs/cli.md)."""


@click.command(
    "rollout",
    epilog=EPILOG,
    short_help="Roll the challenger out step by step; roll it back when a guard breaks.",
)
@recipe_argument
@overrides_argument
@click.option("--approve", is_flag=True, help="Approve the promotion to 100 % when it is due.")
@click.option("--watch", is_flag=True, help="Evaluate again and again until done or rolled back.")
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="--watch: seconds between evaluations (default 30).",
)
@click.option("--no-mlflow", is_flag=True, help="Do not record state changes as MLflow runs.")
@workspace_option
@json_option
@click.option("--quiet", "-q", is_flag=True, help="Print only evaluations that changed something.")
@trust_option
@handle_errors
def rollout(recipe, overrides, approve, watch, every, no_mlflow, workspace, as_json, quiet) -> None:
    """Roll the challenger out step by step; roll it back when a guard breaks."""
    from mlctl.recipe.loader import load_recipe
    from mlctl.rollout import RolloutOptions
    from mlctl.rollout import rollout as run_rollout

    if every is not None and not watch:
        raise click.UsageError("--every goes with --watch")
    terminate_as_interrupt()
    loaded = load_recipe(recipe, list(overrides))
    options = RolloutOptions(workspace, approve, log_run=not no_mlflow)
    while True:
        result = run_rollout(loaded, options)  # a signal in here: exit 130
        try:  # a signal from here on comes between evaluations: nothing half-done
            _show(result, as_json, watch, quiet)
            if not watch or result.finished:
                break
            time.sleep(every or 30.0)
        except KeyboardInterrupt:
            err().print("[yellow]stopped watching[/]")
            break
    sys.exit(int(result.exit_code))


def _show(result, as_json: bool, watch: bool, quiet: bool) -> None:
    for line in result.warnings:
        err().print(f"[yellow]warning:[/] {escape(line)}")
    doc = result.to_dict()
    if quiet and not doc["changed"] and result.exit_code == 0:
        return
    if as_json:
        click.echo(json.dumps(doc, indent=None if watch else 2, default=str))
    elif watch:
        _line(doc)
    else:
        _panel(doc)


def _title(doc: dict) -> str:
    model = doc["model"]
    if model["version"] is None:
        return f"{model['name']}: nothing to roll out"
    return f"{model['name']} v{model['version']}: {doc['status']} at {doc['percent']:g} %"


def _line(doc: dict) -> None:
    colour = {"rollback": "red", "promote": "green", "finish": "green"}.get(doc["action"], "")
    when = doc["generated_at"][11:19]
    text = escape(f"{when} {_title(doc)}: {doc['reason']}")
    out().print(f"[{colour}]{text}[/]" if colour else text)


def _panel(doc: dict) -> None:
    from rich.panel import Panel

    table = key_value_table()
    table.add_row("action", doc["action"])
    table.add_row("reason", escape(doc["reason"]))
    table.add_row("steps", " → ".join(f"{s:g} %" for s in doc["steps"]))
    if doc.get("step_started"):
        table.add_row("step started", doc["step_started"])
    for g in doc["guards"]:
        mark = {"breach": "[red]breach[/]", "watch": "[yellow]watch[/]", "ok": "[green]ok[/]"}
        table.add_row(g["name"], f"{mark.get(g['outcome'], 'not checked')}: {escape(g['detail'])}")
    if doc.get("run_id"):
        table.add_row("MLflow run", doc["run_id"])
    out().print(Panel(table, title=escape(_title(doc)), expand=False))
