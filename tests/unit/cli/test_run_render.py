"""What ``mlctl run`` prints on a terminal about the decision threshold and the
recommendations, from the run's result object."""

from __future__ import annotations

import pytest

from mlctl.cli.run import run_summary
from mlctl.readiness.gate import Verdict
from mlctl.run_summary import RunSummary

pytestmark = pytest.mark.unit

ITEMS = [
    {"topic": "imbalance", "text": "Read recall, not accuracy.", "figure": "class 'Yes' is 26.5%",
     "severity": "info"},
    {"topic": "threshold", "text": "Set evaluation.threshold: {optimize: f1}.",
     "figure": "F1 0.5976 at 0.50 vs 0.6386 at 0.36", "severity": "warn"},
]  # fmt: skip


def summary(**kw) -> RunSummary:
    return RunSummary(
        recipe="r.yaml", recipe_hash="h", run_id="0" * 32, experiment_id="1",
        tracking_uri="sqlite:///x.db", model_name="churn", selection_metric="roc_auc",
        winner="logreg", data={}, leaderboard=[], test_metrics={"roc_auc": 0.84},
        cv={"mean": 0.85, "std": 0.01}, verdict=Verdict([]), report_html="report.html", **kw,
    )  # fmt: skip


def test_a_chosen_threshold_and_numbered_recommendations(capsys) -> None:
    cost = {"value": 0.2134, "method": "cost", "costs": {"fp": 1.0, "fn": 5.0},
            "chosen_on": "out-of-fold probabilities of 720 training rows (3 folds)"}  # fmt: skip
    run_summary(summary(threshold=cost, recommendations=ITEMS))
    out = capsys.readouterr().out
    assert (
        "Decision threshold 0.2134: chosen by cost on out-of-fold probabilities of 720 "
        "training rows (3 folds); costs: a false positive 1, a false negative 5\n"
    ) in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1] in ("1", "2")]
    assert [r[:4] for r in rows] == [
        ["1", "ℹ", "info", "imbalance"],
        ["2", "⚠", "warn", "threshold"],
    ]
    assert "{optimize: f1}" in out and "F1 0.5976 at 0.50 vs 0.6386 at 0.36" in out
    assert out.index("Decision threshold") < out.index("Recommendations") < out.index("report:")


def test_a_fixed_threshold_and_nothing_to_recommend(capsys) -> None:
    fixed = {"value": 0.5, "method": "fixed", "costs": None, "chosen_on": None}
    run_summary(summary(threshold=fixed))
    out = capsys.readouterr().out
    assert "Decision threshold 0.5000: fixed by the recipe (evaluation.threshold)\n" in out
    assert "Recommendations: none\n" in out


def test_no_threshold_line_without_one_and_none_when_quiet(capsys) -> None:
    run_summary(summary(recommendations=ITEMS))
    out = capsys.readouterr().out
    assert "Decision threshold" not in out and "Recommendations" in out
    fixed = {"value": 0.5, "method": "fixed", "costs": None, "chosen_on": None}
    run_summary(summary(threshold=fixed, recommendations=ITEMS), quiet=True)
    quiet = capsys.readouterr().out
    assert "Decision threshold" not in quiet and "Recommendations" not in quiet
    assert "report: report.html" in quiet
