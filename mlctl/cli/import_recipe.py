"""``mlctl import-recipe``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.command("import-recipe")
def import_recipe() -> None:
    """Convert an MLflow Recipes project (docs/migrating-from-mlflow-recipes.md)."""
    raise click.UsageError("mlctl import-recipe is not available yet")
