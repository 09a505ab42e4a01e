"""``mlctl import-recipe``: an MLflow Recipes project → an mlctl recipe."""

from __future__ import annotations

import json
import sys

import click

from mlctl.cli.common import (
    escape,
    handle_errors,
    json_option,
    overwrite_option,
    quiet_option,
    trust_option,
)
from mlctl.errors import ExitCode

EPILOG = """\b
Examples:
  mlctl import-recipe old_project/recipe.yaml --profile local
  mlctl import-recipe old_project --profile databricks --out recipes/churn.yaml --overwrite
  mlctl import-recipe old_project/recipe.yaml --json > import-report.json

Exit codes: 0 written and loadable, 3 written but needs edits before mlctl run
(e.g. a Spark SQL source), 2 bad usage (--out exists without --overwrite),
4 not a Recipes project, unknown profile or undefined template variable,
1 other error, 130 interrupted (docs/migrating-from-mlflow-recipes.md)."""

STYLE = {"mapped": "green", "approximated": "yellow", "unmapped": "red"}
MARK = {"mapped": "✓", "approximated": "≈", "unmapped": "✗"}


@click.command("import-recipe", epilog=EPILOG)
@click.argument("project", type=click.Path(exists=False))
@click.option(
    "--profile",
    default="local",
    show_default=True,
    help="Profile under profiles/ whose variables render recipe.yaml.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Recipe file to write (default recipes/<name>.yaml).",
)
@overwrite_option("Replace --out if it exists.")
@json_option
@quiet_option("Print only the path written, and the blockers if any.")
@trust_option
@handle_errors
def import_recipe(project, profile, out, overwrite, as_json, quiet) -> None:
    """Convert an MLflow Recipes PROJECT (its recipe.yaml or folder) to an mlctl recipe.

    Reads recipe.yaml rendered with profiles/PROFILE.yaml, maps what mlctl can do and
    lists what it cannot (custom Python steps, Spark sources) with a hint each.
    """
    from mlctl.importer import import_project, to_dict, write_recipe

    conv = import_project(project, profile, out)
    write_recipe(conv, force=overwrite)
    if as_json:
        click.echo(json.dumps(to_dict(conv), indent=2))
    elif quiet:
        click.echo(str(conv.out))
        for blocker in conv.blockers:
            click.echo(f"  - {blocker}", err=True)
    else:
        _render(conv)
    sys.exit(int(ExitCode.OK if conv.runnable else ExitCode.NOT_READY))


def _render(conv) -> None:
    from rich import box
    from rich.table import Table

    from mlctl.cli.tables import out as stdout
    from mlctl.importer.ingest import display

    out = stdout()

    path = escape(display(conv.out))
    table = Table(
        title=f"MLflow Recipes {escape(conv.project.template)} → {path}",
        box=box.SIMPLE_HEAVY,
        title_justify="left",
    )
    table.add_column("", no_wrap=True)
    table.add_column("Recipes", overflow="fold", ratio=3)
    table.add_column("mlctl", overflow="fold", ratio=2)
    table.add_column("what happened", overflow="fold", ratio=6)
    for item in conv.report.items:
        style = STYLE[item.status]
        detail = escape(item.detail)
        if item.hint:
            detail += f"\n[dim]hint: {escape(item.hint)}[/]"
        table.add_row(
            f"[{style}]{MARK[item.status]} {item.status}[/]",
            escape(item.source),
            escape(item.target or "—"),
            detail,
        )
    out.print(table)
    counts = ", ".join(
        f"{conv.report.count(s)} {s}" for s in ("mapped", "approximated", "unmapped")
    )
    if conv.runnable:
        out.print(f"[green]✓[/] wrote {path} ({counts})")
        out.print(f"  next: mlctl validate {path} && mlctl run {path}")
        return
    out.print(f"[yellow]![/] wrote {path} ({counts}); before mlctl run, fix:")
    for blocker in conv.blockers:
        out.print(f"  - {escape(blocker)}")
