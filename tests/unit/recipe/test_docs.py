"""docs/recipes.md is generated from the code, and its examples really work."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from mlctl.devtools import recipe_docs as docs
from mlctl.recipe.schema import Recipe
from mlctl.train.checks import load_training_recipe

pytestmark = pytest.mark.unit

# A fenced block preceded by a marker line such as <!-- full-recipe: recipes/x.yaml -->
# (a recipe to load) or <!-- file: data/x.csv --> (a file the recipes need).
BLOCK = re.compile(
    r"<!-- (?P<kind>full-recipe|file): (?P<path>\S+) -->\n```[a-z]*\n(?P<body>.*?)\n```",
    re.DOTALL,
)


@pytest.fixture(scope="module")
def text() -> str:
    return docs.render()


def _blocks(text: str, kind: str) -> dict[str, str]:
    return {m["path"]: m["body"] + "\n" for m in BLOCK.finditer(text) if m["kind"] == kind}


def _schema_paths(model: type[BaseModel] = Recipe, prefix: str = "") -> list[str]:
    """Every key path of the schema, walked independently of the generator."""
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{info.alias or name}" if prefix else (info.alias or name)
        out.append(path)
        for suffix, section in _nested(info.annotation):
            if suffix == "dict":
                sub = f"{path}.{docs.PLACEHOLDERS.get(path, '<key>')}"
            elif suffix == "list":
                sub = f"{path}{docs.LIST_ITEM}"
            else:
                sub = path
            out.extend(_schema_paths(section, sub))
    return out


def _nested(annotation: typing.Any) -> list[tuple[str, type[BaseModel]]]:
    found = []
    stack = [("", annotation)]
    while stack:
        how, tp = stack.pop()
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found.append((how, tp))
        elif origin is dict:
            stack.append(("dict", typing.get_args(tp)[1]))
        elif origin is list:
            stack.append(("list", typing.get_args(tp)[0]))
        else:
            stack.extend((how, a) for a in typing.get_args(tp))
    return found


def test_docs_file_is_up_to_date(text: str) -> None:
    assert docs.DOC_PATH.is_file(), "run: python -m mlctl.devtools.recipe_docs"
    current = docs.DOC_PATH.read_text(encoding="utf-8")
    assert current == text, (
        "docs/recipes.md is out of date; run: python -m mlctl.devtools.recipe_docs"
    )
    assert docs.is_up_to_date()


def test_every_schema_key_path_is_documented(text: str) -> None:
    paths = _schema_paths()
    assert "models.candidates.<name>._target_" in paths
    assert "models.candidates.<name>.search.<param>.low" in paths
    assert "data.expectations.columns.<column>.max_missing" in paths
    assert "features.derived[].expr" in paths
    for path in paths:
        assert f"| `{path}` |" in text, path


def test_reference_rows_match_schema(text: str) -> None:
    rows = {r.path: r for r in docs.field_rows()}
    assert rows["split.test_size"].type == "float in (0, 1)"
    assert rows["split.strategy"].type == '"random" | "stratified" | "time"'
    assert rows["features.numeric"].type == "list[str]"
    assert rows["models.cv_folds"].type == "int in [2, 50]"
    assert rows["features.categorical_transform.min_frequency"].type == "int >= 1 | null"
    assert rows["data.source"].default == "required"
    assert rows["data.csv_separator"].default == '","'
    assert rows["readiness.beat_baseline_by"].default == "0.0"
    assert all(r.description for r in rows.values()), "every key needs a description"


def test_tables_cover_the_code(text: str) -> None:
    from mlctl.catalog import CATALOG
    from mlctl.features.expressions import FUNCTIONS
    from mlctl.features.transformers import COERCE_TYPES
    from mlctl.recipe.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

    for name in CATALOG:
        assert f"| `{name}` |" in text
    for name in {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}:
        assert f"| `{name}` |" in text
    for _, _, signature in FUNCTIONS.values():
        assert f"| `{signature}` |" in text
    for kind in COERCE_TYPES:
        assert f"| `{kind}` |" in text


def test_render_type_of_annotated_constraints() -> None:
    from typing import Annotated, Literal

    from pydantic import Field

    assert docs.render_type(Annotated[float, Field(gt=0, lt=1)]) == "float in (0, 1)"
    assert docs.render_type(Annotated[int, Field(ge=1)] | None) == "int >= 1 | null"
    assert docs.render_type(Annotated[float, Field(le=2.5)]) == "float <= 2.5"
    assert docs.render_type(Literal["a", "b"]) == '"a" | "b"'
    assert docs.render_type(dict[str, list[int]]) == "dict[str, list[int]]"


def test_examples_compose_and_validate(text: str, tmp_path: Path, monkeypatch) -> None:
    recipes = _blocks(text, "full-recipe")
    files = _blocks(text, "file")
    assert recipes, "the doc must hold at least one full-recipe example"
    assert any(p.endswith(".csv") for p in files), "the examples need their data file"
    for rel, body in {**files, **recipes}.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # only the example's conf/ may be found
    import pandas as pd

    for rel in recipes:
        loaded = load_training_recipe(tmp_path / rel)
        r = loaded.recipe
        source = loaded.resolve_path(r.data.source)
        assert source.is_file(), f"{rel}: data.source {source} is not one of the doc's files"
        columns = set(pd.read_csv(source, nrows=0).columns)
        from mlctl.data.prepare import input_columns

        wanted = set(input_columns(r)) | {r.data.target} | set(r.data.drop) | set(r.data.coerce)
        wanted |= set(r.data.expectations.columns)
        if r.data.id_column:
            wanted.add(r.data.id_column)
        assert wanted <= columns, f"{rel}: columns missing from the data: {wanted - columns}"


def test_full_example_uses_every_section(text: str) -> None:
    body = _blocks(text, "full-recipe")["recipes/customers.yaml"]
    for key in Recipe.model_fields:
        assert re.search(rf"^{key}:", body, re.MULTILINE), key


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "recipes.md"
    assert docs.write(out) is True
    assert docs.is_up_to_date(out)
    assert docs.write(out) is False
    out.write_text(out.read_text() + "edited\n")
    assert not docs.is_up_to_date(out)


def test_the_check_command_of_the_generator_runs() -> None:
    """The command docs/recipes.md names (its header) works and agrees."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mlctl.devtools.recipe_docs", "--check"],
        capture_output=True,
        text=True,
        cwd=docs.REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout
