"""``mlctl predict``: score CSV or Parquet files with a registered model, in chunks."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from mlctl.cli.common import (
    handle_errors,
    json_option,
    recipe_argument,
    terminate_as_interrupt,
    trust_option,
    workspace_option,
)
from mlctl.cli.tables import err, key_value_table, out

EPILOG = """\b
Examples:
  mlctl predict recipes/churn.yaml --input new.csv --output scores.parquet
  mlctl predict recipes/churn.yaml --input 'incoming/*.csv' --output scores.csv
  mlctl predict recipes/churn.yaml --input big.parquet --output scores.parquet \\
      --model churn/3 --chunk-size 100000 --strict --json > summary.json
  mlctl predict recipes/churn.yaml --input 'parts/*.parquet' --output scores.parquet \\
      --engine dask --address tcp://10.0.0.5:8786

Exit codes: 0 done (rows with bad values, if any, are in the rejects file),
4 bad input, columns or model reference, 5 tracking unavailable, 6 Dask cluster
unavailable, 8 model files differ from their recorded SHA-256, 2 bad usage,
1 other error, 130 interrupted (see docs/cli.md)."""


def _dask_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--address``: refused on the command line when it is not tcp://host:port."""
    if value is None:
        return None
    from mlctl.recipe.forms import address_problem

    problem = address_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


@click.command("predict", epilog=EPILOG)
@recipe_argument
@click.option(
    "--input",
    "input_path",
    required=True,
    metavar="PATH",
    help="CSV or Parquet file, or a quoted glob.",
)
@click.option("--output", required=True, metavar="PATH", help="Output file: .parquet, .pq or .csv.")
@click.option(
    "--model",
    "reference",
    metavar="REF",
    help="NAME, NAME@ALIAS or NAME/VERSION (default: the recipe's model @champion).",
)
@workspace_option
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="Rows read and scored at a time.",
)
@click.option(
    "--strict", is_flag=True, help="Stop at the first bad value instead of rejecting its row."
)
@click.option(
    "--rejects", metavar="PATH", help="Rejected rows file (default: <output stem>.rejects.csv)."
)
@click.option("--overwrite", is_flag=True, help="Replace existing output and rejects files.")
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: chunks scored here; dask: partitions scored on a Dask cluster.",
)
@click.option(
    "--address",
    metavar="URL",
    callback=_dask_address,
    help="--engine dask: scheduler tcp://host:port (default: the recipe's compute.address, "
    "else a LocalCluster on 127.0.0.1).",
)
@json_option
@click.option("--quiet", "-q", is_flag=True, help="No progress, a one-line result.")
@trust_option
@handle_errors
def predict(
    recipe,
    input_path,
    output,
    reference,
    workspace,
    chunk_size,
    strict,
    rejects,
    overwrite,
    engine,
    address,
    as_json,
    quiet,
) -> None:
    """Score CSV or Parquet files with a registered model, in chunks."""
    from mlctl.predict.batch import BatchOptions, predict_batch
    from mlctl.recipe.loader import load_recipe

    if address and engine != "dask":
        raise click.UsageError("--address needs --engine dask")
    terminate_as_interrupt()  # kill / a CI timeout removes the partial output like Ctrl-C
    loaded = load_recipe(recipe)
    # Dask's own logs only with --traceback (handle_errors takes the flag; click keeps it).
    verbose = bool(click.get_current_context().params.get("traceback"))
    verbose = verbose or os.environ.get("MLCTL_TRACEBACK") == "1"
    options = BatchOptions(
        input_path,
        output,
        reference,
        workspace,
        chunk_size,
        strict,
        rejects,
        overwrite,
        engine=engine,
        address=address,
        verbose=verbose,
    )
    with PredictProgress(enabled=not quiet and not as_json) as progress:
        summary = predict_batch(loaded, options, progress.on_event)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        predict_summary(summary, quiet=quiet)


class PredictProgress:
    """One progress bar for ``mlctl predict``, advanced per chunk, on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.enabled = enabled
        self.progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            TextColumn("{task.fields[rows]}"),
            TextColumn("{task.fields[rejected]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
            console=err(),
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
    from rich.panel import Panel

    rejected = summary.rows_rejected
    if quiet:
        out().print(
            f"[green]✓[/] scored {summary.rows_scored:,} of {summary.rows_read:,} rows → "
            f"{summary.output}"
        )
        if rejected:
            out().print(f"[yellow]![/] {rejected:,} rows rejected, not scored → {summary.rejects}")
        return
    table = key_value_table()
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
    out().print(Panel(table, title=f"Batch scoring: {title}", expand=False))
    if rejected:
        out().print(
            f"[yellow]![/] {rejected:,} rows held values the model cannot read and were not "
            f"scored; see {summary.rejects}"
        )
