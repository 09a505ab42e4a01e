"""``mlctl show``: print the composed, resolved recipe."""

from __future__ import annotations

import json

import click

from mlctl.cli.common import (
    handle_errors,
    json_option,
    overrides_argument,
    recipe_argument,
    trust_option,
)


@click.command("show")
@recipe_argument
@overrides_argument
@json_option
@trust_option
@handle_errors
def show(recipe, overrides, as_json) -> None:
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
    click.echo(f"# {loaded.path}{given}")
    if loaded.choices:
        click.echo("# defaults: " + ", ".join(f"{k}={v}" for k, v in loaded.choices.items()))
    click.echo(yaml.safe_dump(public, sort_keys=False, allow_unicode=True).rstrip())
