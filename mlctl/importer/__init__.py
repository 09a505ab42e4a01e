"""Import an MLflow Recipes project (removed in MLflow 3.0) as an mlctl recipe.

Library only: :func:`import_project` reads and maps a project, :func:`write_recipe`
writes the YAML and checks it loads; the CLI (``mlctl import-recipe``) renders the
report. See docs/migrating-from-mlflow-recipes.md.
"""

from __future__ import annotations

from pathlib import Path

from mlctl.errors import Issue, RecipeError
from mlctl.importer.mapping import Conversion, convert
from mlctl.importer.project import RecipesProject, load_project
from mlctl.importer.report import Item, Report

__all__ = [
    "Conversion",
    "Item",
    "RecipesProject",
    "Report",
    "import_project",
    "to_dict",
    "write_recipe",
]


def import_project(path: str | Path, profile: str = "local", out: str | Path | None = None):
    """Read the Recipes project at ``path`` with ``profile`` and map it.

    ``out`` is where the recipe will be written (default ``recipes/<name>.yaml``);
    the data source is written relative to it.

    Raises:
        RecipeError: not a Recipes project, unknown profile, undefined template variable.
    """
    project = load_project(path, profile)
    from mlctl.importer.mapping import recipe_name

    target = Path(out) if out else Path("recipes") / f"{recipe_name(project)}.yaml"
    return convert(project, target.expanduser().resolve())


def write_recipe(conv: Conversion, force: bool = False) -> Path:
    """Write the recipe, then load it as ``mlctl validate --no-data`` would.

    Problems found by loading are added to ``conv.blockers`` (the file is still
    written: it is the user's starting point).

    Raises:
        UsageError: the file exists and ``force`` is false.
        RecipeError: the file cannot be written.
    """
    from mlctl.importer.writer import render_yaml
    from mlctl.scaffold.core import check_output

    out = conv.out
    check_output(out, force, other="--out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_yaml(conv), encoding="utf-8")
    except OSError as exc:
        raise RecipeError([Issue("--out", f"cannot write {out}: {exc.strerror or exc}")]) from None
    if not conv.blockers:
        from mlctl.train.checks import load_training_recipe

        try:
            load_training_recipe(out)
        except RecipeError as exc:
            conv.blockers.extend(i.render() for i in exc.issues)
    return out


def to_dict(conv: Conversion) -> dict:
    """The import report as JSON-ready data."""
    report = conv.report
    return {
        "project": str(conv.project.root),
        "recipe_file": str(conv.project.recipe_file),
        "profile": conv.project.profile,
        "template": conv.project.template,
        "name": conv.name,
        "out": str(conv.out),
        "runnable": conv.runnable,
        "blockers": list(conv.blockers),
        "counts": {s: report.count(s) for s in ("mapped", "approximated", "unmapped")},
        "items": [i.to_dict() for i in report.items],
    }
