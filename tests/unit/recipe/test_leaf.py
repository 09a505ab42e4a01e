"""The recipe package is a leaf: loading a recipe the way serve and monitor do never
imports scikit-learn (the training checks live in mlctl.train.checks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]


def _modules_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_serve_and_monitor_load_a_recipe_without_sklearn() -> None:
    loaded = _modules_after(
        """
        from mlctl.recipe.loader import load_recipe
        loaded = load_recipe("recipes/churn.yaml", ["models=fast"])
        assert loaded.recipe.models.candidates  # candidates exist, but are not built
        """
    )
    assert "mlctl.recipe.loader" in loaded
    assert not {m for m in loaded if m == "sklearn" or m.startswith("sklearn.")}
    assert not {m for m in loaded if m.startswith(("mlctl.train", "mlctl.catalog"))}


def test_a_command_that_trains_checks_its_candidates() -> None:
    loaded = _modules_after(
        """
        from mlctl.train.checks import load_training_recipe
        load_training_recipe("recipes/churn.yaml", ["models=fast"])
        """
    )
    assert "sklearn" in loaded  # the candidate classes were built to check their params
