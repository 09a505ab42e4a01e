"""``mlctl serve``: serve a registered model over HTTP."""

from __future__ import annotations

from pathlib import Path

import click

from mlctl.cli.common import (
    console,
    handle_errors,
    overrides_argument,
    quiet_option,
    trust_option,
    workspace_option,
)

EPILOG = """\b
Examples:
  mlctl serve recipes/churn.yaml                  # models:/churn@champion on 127.0.0.1:8000
  mlctl serve recipes/churn.yaml --port 9000 --workers 2
  mlctl serve --model churn@challenger            # by registry reference
  mlctl serve recipes/churn.yaml --access-log off # no line per request
  curl -X POST localhost:8000/predict -H 'content-type: application/json' \\
      -d '{"records": [{"tenure": 3, ...}]}'

Exit codes: 0 stopped cleanly, 2 bad usage (e.g. an API key variable not set),
4 bad recipe or unknown model reference, 5 tracking unavailable, 8 model files
differ from their recorded SHA-256, 1 other error (e.g. a worker cannot start),
130 interrupted (docs/serving.md)."""


@click.command("serve", epilog=EPILOG)
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
@click.option(
    "--access-log",
    type=click.Choice(["off", "info", "debug"]),
    default=None,
    help="One console line per request at this level (default deploy.serve.access_log, info).",
)
@workspace_option
@quiet_option("Do not print the line that says what is served where.")
@trust_option
@handle_errors
def serve(recipe, overrides, reference, host, port, workers, access_log, workspace, quiet) -> None:
    """Serve a registered model over HTTP (predict, MLflow and Open Inference routes)."""
    from mlctl.recipe.loader import load_recipe
    from mlctl.redact import redact_text
    from mlctl.serve import prepare
    from mlctl.serve.server import run_server

    if recipe and "=" in recipe and not Path(recipe).exists():
        raise click.UsageError(
            f"'{recipe}' is an override, and overrides need a RECIPE first: "
            f"mlctl serve RECIPE {recipe}"
            + ("; with --model alone, use the options (--port, --workers ...)" if reference else "")
        )
    loaded = load_recipe(recipe, list(overrides)) if recipe else None
    if overrides and not recipe:
        raise click.UsageError("overrides need a RECIPE")
    config, bind = prepare(loaded, reference, workspace, host, port, workers)
    if access_log is not None:
        config.settings["access_log"] = access_log
    target = (
        f"{config.model_name}/{config.fixed_version}"
        if config.fixed_version
        else (f"{config.model_name}@{config.alias}")
    )
    plural = "s" if bind.workers > 1 else ""
    if not quiet:
        console().print(
            f"[dim]•[/] serving models:/{target} on http://{bind.host}:{bind.port} "
            f"({bind.workers} worker{plural}); log: {redact_text(config.log_url)}"
        )
    run_server(config, bind)
