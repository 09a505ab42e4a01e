"""Small recipes that tests write to a temporary folder: one helper instead of a
``write(tmp_path, text)`` in every module (tests/conftest.py puts this folder on
sys.path, so ``from recipe_builders import ...`` works from any test)."""

from __future__ import annotations

import textwrap
from pathlib import Path

#: The smallest recipe that loads: one numeric feature, one candidate.
MINIMAL = """\
name: demo
data:
  source: data.csv
  target: y
features:
  numeric: [a]
models:
  candidates:
    lr: {estimator: logistic_regression}
"""


def write_recipe(folder: Path, text: str = MINIMAL, name: str = "recipe.yaml") -> Path:
    """Write ``text`` (dedented) as ``folder/name``, creating the folder; return the path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path
