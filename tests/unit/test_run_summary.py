"""The run's result object: the decision threshold and the recommendations it carries
into ``--json`` (the real runs: tests/integration/test_run_decision.py)."""

from __future__ import annotations

import json

import pytest

from mlctl.readiness.gate import Verdict
from mlctl.run_summary import RunSummary, threshold_decision

pytestmark = pytest.mark.unit

SOURCE = "out-of-fold probabilities of 720 training rows (3 folds)"


def analysis(method: str, chosen: float, costs: dict | None = None) -> dict:
    """A threshold analysis as mlctl.train.finalize makes it (curve shortened)."""
    return {"method": method, "chosen": chosen, "costs": costs, "source": SOURCE,
            "curve": [{"threshold": 0.5, "f1": 0.6}]}  # fmt: skip


def summary(**kw) -> RunSummary:
    return RunSummary(
        recipe="r.yaml", recipe_hash="h", run_id="0" * 32, experiment_id="1",
        tracking_uri="sqlite:///x.db", model_name="churn", selection_metric="roc_auc",
        winner="logreg", data={}, leaderboard=[], test_metrics={"roc_auc": 0.84},
        cv={"mean": 0.85, "std": 0.01}, verdict=Verdict([]), **kw,
    )  # fmt: skip


def test_a_fixed_threshold_was_chosen_on_nothing() -> None:
    assert threshold_decision(analysis("fixed", 0.5)) == {
        "value": 0.5, "method": "fixed", "costs": None, "chosen_on": None,
    }  # fmt: skip


def test_an_optimized_threshold_says_how_and_on_what() -> None:
    found = threshold_decision(analysis("cost", 0.21, {"fp": 1.0, "fn": 5.0}))
    assert found == {"value": 0.21, "method": "cost", "costs": {"fp": 1.0, "fn": 5.0},
                     "chosen_on": SOURCE}  # fmt: skip


def test_no_analysis_no_threshold() -> None:
    """Regression, more than two classes, or a winner without probabilities."""
    assert threshold_decision(None) is None


def test_json_document_carries_both_as_keys() -> None:
    items = [{"topic": "imbalance", "text": "Read recall.", "figure": "26.5%", "severity": "info"}]
    doc = summary(threshold=threshold_decision(analysis("f1", 0.36)), recommendations=items)
    parsed = json.loads(json.dumps(doc.to_dict()))
    assert parsed["threshold"] == {"value": 0.36, "method": "f1", "costs": None,
                                   "chosen_on": SOURCE}  # fmt: skip
    assert parsed["recommendations"] == items
    bare = summary().to_dict()
    assert bare["threshold"] is None and bare["recommendations"] == []
