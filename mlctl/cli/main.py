"""The ``mlctl`` commands. Each parses its arguments, calls the library and renders.

Heavy libraries (MLflow, pandas, sklearn) are imported inside the commands so
``mlctl --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from mlctl import __version__
from mlctl.cli.common import (
    console,
    handle_errors,
    json_option,
    overrides_argument,
    recipe_argument,
    trust_option,
    workspace_option,
)
from mlctl.cli.deploy import deploy as deploy_command
from mlctl.cli.import_recipe import import_recipe as import_recipe_command
from mlctl.cli.init import init as init_command
from mlctl.errors import ExitCode

EPILOG_RUN = """\b
Examples:
  mlctl run recipes/churn.yaml
  mlctl run recipes/churn.yaml models=fast split.seed=7
  mlctl run recipes/churn.yaml --promote --yes --json > result.json
  mlctl run recipes/churn.yaml -m models=fast,full split.seed=1,2,3
  mlctl run recipes/churn.yaml -m hydra/launcher=joblib models=fast,full split.seed=1,2,3

Exit codes: 0 ready, 3 trained but not ready (a sweep: no job passed),
4 bad recipe or data, 5 tracking unavailable, 1 other error (a sweep: every
job failed); see docs/cli.md and docs/sweeps.md."""

EPILOG_PREDICT = """\b
Examples:
  mlctl predict recipes/churn.yaml --input new.csv --output scores.parquet
  mlctl predict recipes/churn.yaml --input 'incoming/*.csv' --output scores.csv
  mlctl predict recipes/churn.yaml --input big.parquet --output scores.parquet \\
      --model churn/3 --chunk-size 100000 --strict --json > summary.json
  mlctl predict recipes/churn.yaml --input 'parts/*.parquet' --output scores.parquet \\
      --engine dask --address tcp://10.0.0.5:8786

Exit codes: 0 done (rows with bad values, if any, are in the rejects file),
4 bad input, columns or model reference, 5 tracking unavailable, 6 Dask cluster
unavailable, 8 model files differ from their recorded SHA-256, 130 interrupted
(see docs/cli.md)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlctl")
def cli() -> None:
    """mlctl: one YAML recipe to a validated, trained, gated and registered model."""


@cli.command(epilog=EPILOG_RUN)
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
    from mlctl.cli import render
    from mlctl.recipe.loader import load_recipe
    from mlctl.runner import RunOptions
    from mlctl.runner import run as run_recipe

    if promote and not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("--promote needs --yes when not run interactively")
        yes = click.confirm("Promote the model to champion if it passes the gate?", err=True)
        promote = yes
    _terminate_as_interrupt()
    if multirun:
        _sweep(recipe, list(overrides), workspace, promote, as_json, quiet)
        return
    loaded = load_recipe(recipe, list(overrides), data_first=True)  # data errors first
    with render.RunProgress(enabled=not quiet and not as_json) as progress:
        # No listener (and no progress-queue process) when nothing shows progress.
        listener = progress.on_event if progress.enabled else None
        summary = run_recipe(loaded, RunOptions(workspace, promote), listener)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        render.run_summary(summary, quiet=quiet)
    sys.exit(int(ExitCode.OK if summary.ready else ExitCode.NOT_READY))


def _sweep(recipe, overrides, workspace, promote, as_json, quiet) -> None:
    from mlctl.cli import render
    from mlctl.sweep import SweepOptions, run_sweep

    with render.SweepProgress(enabled=not quiet and not as_json) as progress:
        summary = run_sweep(recipe, overrides, SweepOptions(workspace, promote), progress.on_event)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        render.sweep_summary(summary, quiet=quiet)
    codes = {"ready": ExitCode.OK, "not_ready": ExitCode.NOT_READY, "failed": ExitCode.ERROR}
    sys.exit(int(codes[summary.status]))


def _dask_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--address``: refused on the command line when it is not tcp://host:port."""
    if value is None:
        return None
    from mlctl.compute.settings import address_problem

    problem = address_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


@cli.command(epilog=EPILOG_PREDICT)
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
    from mlctl.cli import render
    from mlctl.predict.batch import BatchOptions, predict_batch
    from mlctl.recipe.loader import load_recipe

    if address and engine != "dask":
        raise click.UsageError("--address needs --engine dask")
    _terminate_as_interrupt()  # kill / a CI timeout removes the partial output like Ctrl-C
    loaded = load_recipe(recipe, training=False)
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
    with render.PredictProgress(enabled=not quiet and not as_json) as progress:
        summary = predict_batch(loaded, options, progress.on_event)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        render.predict_summary(summary, quiet=quiet)


@cli.command()
@recipe_argument
@overrides_argument
@click.option("--no-data", is_flag=True, help="Check the recipe only, do not read the data.")
@json_option
@trust_option
@handle_errors
def validate(recipe, overrides, no_data, as_json) -> None:
    """Check a RECIPE and its data without training."""
    from mlctl.cli import render
    from mlctl.recipe.loader import load_recipe

    loaded = load_recipe(recipe, list(overrides), data_first=not no_data)
    data = None
    if not no_data:
        from mlctl.data.prepare import load_dataset

        data = load_dataset(loaded)
    result = render.validation_result(loaded, data)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        render.validation(result)


@cli.command()
@recipe_argument
@overrides_argument
@json_option
@trust_option
@handle_errors
def show(recipe, overrides, as_json) -> None:
    """Print the composed, resolved RECIPE (after defaults and overrides)."""
    from mlctl.recipe.loader import load_recipe
    from mlctl.redact import redact_text

    loaded = load_recipe(recipe, list(overrides))
    public = loaded.public  # secrets masked (docs/recipes.md#untrusted-recipes)
    if as_json:
        click.echo(json.dumps(public, indent=2, default=str))
        return
    import yaml

    given = f"  overrides: {redact_text(' '.join(overrides))}" if overrides else ""
    click.echo(f"# {loaded.path}{given}")
    if loaded.choices:
        click.echo("# defaults: " + ", ".join(f"{k}={v}" for k, v in loaded.choices.items()))
    click.echo(yaml.safe_dump(public, sort_keys=False, allow_unicode=True).rstrip())


@cli.group()
def models() -> None:
    """Inspect and change the model registry."""


@models.command("list")
@click.argument("name")
@workspace_option
@json_option
@handle_errors
def models_list(name, workspace, as_json) -> None:
    """List the versions of model NAME, newest first."""
    from mlctl.cli import render

    versions = _read_registry(workspace).versions(name)
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in versions], indent=2))
    else:
        render.versions(name, versions)


@models.command("describe")
@click.argument("name")
@click.argument("version", default="champion")
@workspace_option
@json_option
@handle_errors
def models_describe(name, version, workspace, as_json) -> None:
    """Show one VERSION (number or alias, default champion) of model NAME."""
    from mlctl.cli import render

    info = _read_registry(workspace).version(name, version)
    if as_json:
        click.echo(json.dumps(info.to_dict(), indent=2))
    else:
        render.version_detail(info)


@models.command("promote")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--reason", default="manual promotion", help="Why; recorded on the version.")
@click.option("--force", is_flag=True, help="Promote even a version that failed its gate.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@workspace_option
@handle_errors
def models_promote(name, version, reason, force, yes, workspace) -> None:
    """Make VERSION of model NAME the champion."""
    _confirm(yes, f"Make version {version} of '{name}' the champion?")
    _terminate_as_interrupt()
    info = _registry(workspace).promote(name, version, reason, force=force)
    console().print(f"[green]✓[/] {name} version {info.version} is now champion")


@models.command("rollback")
@click.argument("name")
@click.option("--reason", default="manual rollback", help="Why; recorded on both versions.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@workspace_option
@handle_errors
def models_rollback(name, reason, yes, workspace) -> None:
    """Move the champion alias of model NAME back to the previous champion."""
    _confirm(yes, f"Roll back the champion of '{name}' to the previous champion?")
    _terminate_as_interrupt()
    old, new = _registry(workspace).rollback(name, reason)
    console().print(f"[green]✓[/] {name}: champion moved from version {old} back to {new}")


EPILOG_SERVE = """\b
Examples:
  mlctl serve recipes/churn.yaml                  # models:/churn@champion on 127.0.0.1:8000
  mlctl serve recipes/churn.yaml --port 9000 --workers 2
  mlctl serve --model churn@challenger            # by registry reference
  curl -X POST localhost:8000/predict -H 'content-type: application/json' \\
      -d '{"records": [{"tenure": 3, ...}]}'

Exit codes: 0 stopped cleanly, 2 bad usage (e.g. an API key variable not set),
4 bad recipe or unknown model reference, 5 tracking unavailable (docs/serving.md)."""


@cli.command(epilog=EPILOG_SERVE)
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@overrides_argument
@click.option("--model", "reference", metavar="REF", help="NAME@ALIAS or NAME/VERSION to serve.")
@click.option(
    "--host", default=None, help="Address to bind (default deploy.serve.host, 127.0.0.1)."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="TCP port (default 8000)."
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Server processes.")
@workspace_option
@trust_option
@handle_errors
def serve(recipe, overrides, reference, host, port, workers, workspace) -> None:
    """Serve a registered model over HTTP (predict, MLflow and Open Inference routes)."""
    from mlctl.recipe.loader import load_recipe
    from mlctl.serve import prepare
    from mlctl.serve.server import run_server

    if recipe and "=" in recipe and not Path(recipe).exists():
        raise click.UsageError(
            f"'{recipe}' is an override, and overrides need a RECIPE first: "
            f"mlctl serve RECIPE {recipe}"
            + ("; with --model alone, use the options (--port, --workers ...)" if reference else "")
        )
    loaded = load_recipe(recipe, list(overrides), training=False) if recipe else None
    if overrides and not recipe:
        raise click.UsageError("overrides need a RECIPE")
    config, bind = prepare(loaded, reference, workspace, host, port, workers)
    target = (
        f"{config.model_name}/{config.fixed_version}"
        if config.fixed_version
        else (f"{config.model_name}@{config.alias}")
    )
    console().print(
        f"[dim]•[/] serving models:/{target} on http://{bind.host}:{bind.port} "
        f"({bind.workers} worker{'s' if bind.workers > 1 else ''}); log: {_safe_url(config.log_url)}"
    )
    run_server(config, bind)


EPILOG_MONITOR = """\b
Examples:
  mlctl monitor recipes/churn.yaml                  # the last 24 h (monitor.window)
  mlctl monitor recipes/churn.yaml --window 7d --report reports/churn.html --json
  mlctl monitor recipes/churn.yaml --current new_batch.parquet --label-column Churn
  mlctl monitor recipes/churn.yaml --retrain        # retrain, gate, promote only if it wins
  */30 * * * * cd /srv/churn && mlctl monitor recipes/churn.yaml --quiet

Exit codes: 0 healthy, 3 attention needed, 7 could not run (no rows in the window,
no prediction log, no reference profile, another run holds the lock), 2 bad usage,
4 bad recipe or model reference, 5 tracking unavailable, 8 model files differ from
their recorded SHA-256 (see docs/cli.md)."""


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


@cli.command(epilog=EPILOG_MONITOR)
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
    from mlctl.cli import render
    from mlctl.monitor.run import MonitorOptions
    from mlctl.recipe.loader import load_recipe

    if (label_column or timestamp_column) and not current:
        raise click.UsageError("--label-column and --timestamp-column need --current")
    _terminate_as_interrupt()
    loaded = load_recipe(recipe, list(overrides), training=False)  # retraining checks apart
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
    with render.MonitorProgress(enabled=not quiet and not as_json) as progress:
        result = run_monitor(loaded, options, progress.on_event)
    render.monitor_warnings(result.warnings)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    elif not (quiet and not result.attention):
        render.monitor_summary(result, quiet=quiet)
    sys.exit(int(result.exit_code))


def _safe_url(url: str) -> str:
    from mlctl.redact import redact_text

    return redact_text(url)


def _terminate_as_interrupt() -> None:
    """SIGINT, SIGTERM and SIGHUP (Ctrl-C, kill, a CI timeout, a closed terminal) unwind
    like Ctrl-C, so the MLflow run is ended as KILLED and the registry is left as it was
    (:mod:`mlctl.interrupts`)."""
    from mlctl import interrupts

    interrupts.install()


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("pass --yes to confirm when not run interactively")
    if not click.confirm(question, err=True):
        raise click.Abort()


def _registry(workspace: str | None):
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import open_existing, resolve_workspace

    ws = resolve_workspace(workspace)
    open_existing(ws)
    return Registry(ws)


def _read_registry(workspace: str | None):
    """For read-only commands: answers from the workspace's SQLite file without
    importing MLflow where it can (``mlctl.tracking.local_read``), else from MLflow."""
    from mlctl.tracking.local_read import ReadOnlyRegistry
    from mlctl.tracking.workspace import resolve_workspace

    return ReadOnlyRegistry(resolve_workspace(workspace))


# Commands that live in their own modules (they import from mlctl.cli.common, not here).
cli.add_command(init_command)
cli.add_command(deploy_command)
cli.add_command(import_recipe_command)


def main() -> None:
    """Console-script entry point."""
    import warnings

    # Library deprecation notices (sklearn, pandas, MLflow) are for developers, not for
    # the terminal of a training run; worker processes inherit the setting.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    cli(prog_name="mlctl")
