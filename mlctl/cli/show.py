"""``mlctl show``: print the composed, resolved recipe."""

from __future__ import annotations

import json

import click

from mlctl.cli.common import (
    handle_errors,
    json_option,
    overrides_argument,
    quiet_option,
    recipe_argument,
    trust_option,
)

EPILOG = """\b
Examples:
  mlctl show recipes/churn.yaml models=fast split.seed=7
  mlctl show recipes/churn.yaml --quiet > composed.yaml
  mlctl show recipes/churn.yaml --json | jq .models

Exit codes: 0 shown, 4 bad recipe, 2 bad usage, 1 other error, 130 interrupted
(see docs/cli.md)."""


@click.command("show", epilog=EPILOG)
@recipe_argument
@overrides_argument
@json_option
@quiet_option("Only the YAML, without the comment lines naming the file and defaults.")
@trust_option
@handle_errors
def show(recipe, overrides, as_json, quiet) -> None:
    """Print the composed, resolved RECIPE (after defaults and overrides)."""
    from mlctl.redact import redact_text
    from mlctl.train.checks import load_training_recipe

    loaded = load_training_recipe(recipe, list(overrides))
    public = loaded.public  # secrets masked (docs/recipes.md#untrusted-recipes)
    if as_json:
        click.echo(json.dumps(public, indent=2, default=str))
        return
    import yaml

    given = f"  overrides: {redact_text(' '.join(overrides))}" if overrides else ""
    if not quiet:
        click.echo(f"# {loaded.path}{given}")
    if loaded.choices and not quiet:
        click.echo("# defaults: " + ", ".join(f"{k}={v}" for k, v in loaded.choices.items()))
    click.echo(yaml.safe_dump(public, sort_keys=False, allow_unicode=True).rstrip())
