"""``mlctl validate``: check a recipe and its data without training."""

from __future__ import annotations

import json
from typing import Any

import click

from mlctl.cli.common import (
    handle_errors,
    json_option,
    overrides_argument,
    quiet_option,
    recipe_argument,
    trust_option,
)
from mlctl.cli.tables import out

EPILOG = """\b
Examples:
  mlctl validate recipes/churn.yaml
  mlctl validate recipes/churn.yaml models=fast --no-data --quiet
  mlctl validate recipes/churn.yaml --json > validation.json

Exit codes: 0 valid, 4 bad recipe or data, 2 bad usage, 1 other error,
130 interrupted (see docs/cli.md)."""


@click.command("validate", epilog=EPILOG)
@recipe_argument
@overrides_argument
@click.option("--no-data", is_flag=True, help="Check the recipe only, do not read the data.")
@json_option
@quiet_option("Print nothing unless the recipe or its data is invalid.")
@trust_option
@handle_errors
def validate(recipe, overrides, no_data, as_json, quiet) -> None:
    """Check a RECIPE and its data without training."""
    from mlctl.train.checks import load_training_recipe

    loaded = load_training_recipe(recipe, list(overrides), data_first=not no_data)
    data = None
    if not no_data:
        from mlctl.data.prepare import load_dataset

        data = load_dataset(loaded)
    result = validation_result(loaded, data)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif not quiet:
        validation(result)


def validation_result(loaded, data) -> dict[str, Any]:
    """The ``validate --json`` document (secrets masked)."""
    from mlctl.redact import redact_tree

    r = loaded.recipe
    result: dict[str, Any] = {
        "valid": True,
        "recipe": str(loaded.path),
        "recipe_hash": loaded.hash,
        "name": r.name,
        "task": r.task,
        "candidates": [k for k, c in r.models.candidates.items() if c.enabled],
        "selection_metric": r.selection_metric,
    }
    if data is not None:
        result["data"] = {
            "rows": data.rows,
            "train_rows": len(data.X_train),
            "test_rows": len(data.X_test),
            "input_columns": data.input_columns,
            "classes": [str(c) for c in data.classes],
            "positive_class": None if data.positive_class is None else str(data.positive_class),
            "fingerprint": data.fingerprint,
            "notes": data.notes,
        }
    return redact_tree(result)


def validation(result: dict[str, Any]) -> None:
    out().print(
        f"[green]✓[/] recipe {result['recipe']} is valid "
        f"({result['task']}, candidates: {', '.join(result['candidates'])}, "
        f"selection metric {result['selection_metric']})"
    )
    data = result.get("data")
    if data:
        classes = f", classes {data['classes']}" if data["classes"] else ""
        out().print(
            f"[green]✓[/] data: {data['rows']} rows, {len(data['input_columns'])} input "
            f"columns → {data['train_rows']} train / {data['test_rows']} test{classes}"
        )
        for note in data["notes"]:
            out().print(f"  [yellow]note:[/] {note}")
