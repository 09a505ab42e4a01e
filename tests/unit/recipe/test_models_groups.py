"""The shipped ``conf/models`` groups: what the default churn run trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlctl.recipe.loader import load_recipe
from mlctl.scaffold.portfolio import HGB_FIXED, candidates_for

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
CHURN_ROWS = 7_043  # data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv


def test_full_group_boosts_with_early_stopped_histogram_boosting() -> None:
    """sklearn's GradientBoostingClassifier took half of a default churn run; the full
    group's boosted candidate is the one ``mlctl init`` proposes for a table that size."""
    candidates = load_recipe(REPO / "recipes" / "churn.yaml").recipe.models.candidates
    assert list(candidates) == ["logreg", "random_forest", "hgb"]
    assert "gradient_boosting" not in {c.estimator for c in candidates.values()}
    hgb = candidates["hgb"]
    init = {c.name: c for c in candidates_for("classification", CHURN_ROWS, 2)}["hgb"]
    assert hgb.estimator == init.estimator == "hist_gradient_boosting"
    assert hgb.params == HGB_FIXED  # early stopping: max_iter is a ceiling, not a cost
    assert hgb.search == init.search
