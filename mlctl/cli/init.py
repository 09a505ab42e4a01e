"""``mlctl init``: write a ready-to-run recipe for a CSV or Parquet file."""

from __future__ import annotations

import json

import click

from mlctl.cli.common import (
    console,
    escape,
    handle_errors,
    json_option,
    overwrite_option,
    quiet_option,
)

EPILOG = """\b
Examples:
  mlctl init data/customers.csv --target churned --name churn
  mlctl init data/sales.parquet --target amount --time-column sold_at
  mlctl init data/customers.csv --target churned --out models/churn.yaml --overwrite
  mlctl init data/customers.csv --target churned --json > decisions.json

Exit codes: 0 written, 2 bad usage (an existing recipe without --overwrite, a bad
--name or --time-column), 4 bad data (an unreadable file, a missing target
column, a target that cannot be learned), 1 other error, 130 interrupted; see
docs/cli.md and docs/quickstart.md."""


@click.command("init", epilog=EPILOG)
@click.argument("source", type=click.Path(dir_okay=True))
@click.option("--target", "-t", required=True, metavar="COLUMN", help="Column to predict.")
@click.option(
    "--name", metavar="NAME", help="Recipe and model name (default: the file name's stem)."
)
@click.option("--out", metavar="PATH", help="Recipe file to write (default: recipes/<name>.yaml).")
@overwrite_option("Replace an existing recipe file.")
@click.option(
    "--task",
    type=click.Choice(["auto", "classification", "regression"]),
    default="auto",
    show_default=True,
    help="auto: inferred from the target's values.",
)
@click.option(
    "--time-column",
    metavar="COLUMN",
    help="A date column: split by time (the latest rows are the test set).",
)
@click.option(
    "--sample-rows",
    type=click.IntRange(min=100),
    default=100_000,
    show_default=True,
    help="Rows read to infer the recipe.",
)
@click.option("--sep", "separator", metavar="CHAR", help="CSV field separator (default ',').")
@json_option
@quiet_option("Print only the path of the recipe written.")
@handle_errors
def init(
    source, target, name, out, overwrite, task, time_column, sample_rows, separator, as_json, quiet
) -> None:
    """Write a recipe for a CSV or Parquet file (docs/quickstart.md).

    Infers the task, the column kinds, coercions, the split, candidates and tuning
    sized to the data and a gate relative to the baseline, writes them as a
    commented recipe and prints what it decided.
    """
    from mlctl.scaffold import InitOptions, scaffold

    options = InitOptions(
        source, target, name, out, overwrite, task, time_column, sample_rows, separator
    )
    result = scaffold(options)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    elif quiet:
        click.echo(str(result.path))
    else:
        _summary(result)


def _summary(result) -> None:
    from rich.table import Table

    plan = result.plan
    t = plan.target
    out = console(stderr=False)
    rows = f"{plan.rows_total:,}" if not plan.sampled else f"{plan.rows_read:,} sampled"
    out.print(f"[dim]•[/] read {escape(plan.file)}: {rows} rows, {len(plan.columns) + 1} columns")
    out.print(f"[dim]•[/] task: [bold]{t.task}[/] of '{escape(t.name)}' ({escape(t.reason)})")
    if t.positive_class is not None:
        out.print(f"  positive class {escape(repr(t.positive_class))}: {escape(t.positive_reason)}")
    table = Table(title="Columns", title_justify="left", box=None, pad_edge=False)
    for head in ("column", "used as", "why"):
        table.add_column(head)
    used = {c: "numeric" for c in plan.numeric} | {c: "categorical" for c in plan.categorical}
    for c in plan.columns:
        role = used.get(c.name)
        if c.name == plan.id_column:
            role = "id column"
        elif c.name == plan.split.get("time_column"):
            role = "time column"
        why = f"{c.coerce_reason}; data.coerce: {c.coerce}" if role and c.coerce else c.reason
        shown = role or f"[yellow]dropped[/] ({c.kind.replace('_', '-')})"
        table.add_row(escape(c.name), shown, escape(why))
    out.print(table)
    split = plan.split["strategy"]
    out.print(
        f"[dim]•[/] split: {split}, test share {plan.split['test_size']:g} ({plan.split_reason})"
    )
    names = ", ".join(f"{c.name} ({c.estimator})" for c in plan.candidates)
    out.print(
        f"[dim]•[/] candidates: {names}; {plan.cv_folds}-fold CV on {plan.selection_metric}, "
        f"{plan.n_iter} random settings each ({escape(plan.sizing_reason)})"
    )
    out.print(
        f"[dim]•[/] gate: beat the baseline by {plan.readiness['beat_baseline_by']:g} "
        f"{plan.selection_metric} ({escape(plan.readiness_reason)}), not worse than the champion"
    )
    for note in plan.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")
    verb = "replaced" if result.replaced else "wrote"
    out.print(f"[green]✓[/] {verb} {escape(str(result.path))}")
    out.print(
        f"  next: mlctl validate {escape(_shown(result.path))} && mlctl run {escape(_shown(result.path))}"
    )


def _shown(path) -> str:
    """The recipe path relative to the current folder when it is below it."""
    from pathlib import Path

    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
