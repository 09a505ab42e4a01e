"""The README's Python API example runs as shown, and ``mlctl.api`` raises instead of
printing or exiting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlctl import api
from mlctl.errors import ExitCode, RecipeError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def readme_python_api_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)\n```", section, re.S)
    assert len(blocks) == 1, "the Python API section shows one example"
    return blocks[0]


def test_the_readme_example_trains_and_registers(tmp_path, churn_project):
    project = churn_project(tmp_path / "p", 900)
    # 900 rows are too few for the standard gate; the example itself is unchanged.
    recipe = project / "recipes" / "churn.yaml"
    recipe.write_text(recipe.read_text().replace("readiness: standard", "readiness: lenient"))
    result = subprocess.run(
        [sys.executable, "-c", readme_python_api_block()],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = result.stdout.strip().splitlines()
    assert first == "True churn 1 ['champion']"
    assert re.fullmatch(r"test roc_auc 0\.\d{4}, report .*/report\.html", second)
    assert not result.stderr.count("Traceback")


def test_a_bad_recipe_raises_with_the_cli_exit_code(tmp_path, churn_project):
    project = churn_project(tmp_path / "p", 600)
    with pytest.raises(RecipeError) as err:
        api.load(project / "recipes" / "churn.yaml", ["split.test_size=1.5"])
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert "split.test_size" in str(err.value)


def test_a_loaded_recipe_takes_no_overrides(tmp_path, churn_project):
    project = churn_project(tmp_path / "p", 600)
    loaded = api.load(project / "recipes" / "churn.yaml", ["models=fast"])
    assert loaded.recipe.name == "churn"
    with pytest.raises(TypeError, match="overrides go with a recipe file"):
        api.run(loaded, ["split.seed=3"])
