"""A small Recipes project written into a temporary folder, for the importer's unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

RECIPE = """\
recipe: "classification/v1"
target_col: "label"
positive_class: "1"
primary_metric: "f1_score"
steps:
  ingest: {{INGEST_CONFIG}}
  split:
    split_ratios: [0.6, 0.2, 0.2]
  train:
    using: custom
    estimator_method: estimator_fn
  evaluate:
    validation_criteria:
      - metric: f1_score
        threshold: 0.5
      - metric: log_loss
        threshold: 0.6
  register:
    allow_non_validated_model: false
"""
TRAIN = """\
from sklearn.ensemble import RandomForestClassifier as RF


def estimator_fn(estimator_params=None):
    return RF(n_estimators=50, max_depth=4)
"""


@pytest.fixture
def recipes_project(tmp_path: Path) -> Callable[..., Path]:
    """Writes recipe.yaml, profiles/local.yaml, steps/train.py and data.csv; keyword
    arguments replace the recipe text, the profile text or the train step."""

    def build(recipe: str = RECIPE, profile: str | None = None, train: str = TRAIN) -> Path:
        root = tmp_path / "project"
        (root / "profiles").mkdir(parents=True)
        (root / "steps").mkdir()
        (root / "recipe.yaml").write_text(recipe)
        (root / "profiles" / "local.yaml").write_text(
            profile
            or "model_registry:\n  model_name: demo\n"
            "INGEST_CONFIG:\n  using: csv\n  location: ./data.csv\n"
        )
        (root / "steps" / "train.py").write_text(train)
        n = 60
        pd.DataFrame(
            {
                "row_id": [f"r{i:03d}" for i in range(n)],
                "x": range(n),
                "amount": [" " if i == 3 else str(i * 1.5) for i in range(n)],
                "colour": ["red", "blue", "green"] * (n // 3),
                "label": [i % 2 for i in range(n)],
            }
        ).to_csv(root / "data.csv", index=False)
        return root

    return build
