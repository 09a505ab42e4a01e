"""The metric names a recipe may use, per task, and which way each is better.

This is the recipe's vocabulary (``models.selection_metric``, ``readiness.thresholds``,
``monitor.performance.metrics``); computing the metrics is :mod:`mlctl.evaluate.metrics`.
Nothing here imports numpy or scikit-learn, so checking a recipe stays light.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlctl.errors import RecipeError

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is called, which way is better and how sklearn scores it in CV."""

    name: str
    greater_is_better: bool
    sklearn_scoring: str | None
    description: str


CLASSIFICATION_METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("accuracy", True, "accuracy", "Share of rows predicted correctly."),
        MetricInfo(
            "precision",
            True,
            "precision",
            "Of the rows predicted positive, the share truly positive "
            "(binary: positive class; multiclass: support-weighted average).",
        ),
        MetricInfo(
            "recall",
            True,
            "recall",
            "Of the truly positive rows, the share predicted positive "
            "(binary: positive class; multiclass: support-weighted average).",
        ),
        MetricInfo(
            "f1",
            True,
            "f1",
            "Harmonic mean of precision and recall "
            "(binary: positive class; multiclass: support-weighted average).",
        ),
        MetricInfo(
            "roc_auc",
            True,
            "roc_auc",
            "Area under the ROC curve of the predicted probabilities "
            "(multiclass: one-vs-rest, support-weighted).",
        ),
        MetricInfo(
            "pr_auc",
            True,
            "average_precision",
            "Area under the precision-recall curve (average precision) of the "
            "positive-class probability (multiclass: one-vs-rest, support-weighted).",
        ),
        MetricInfo(
            "log_loss",
            False,
            "neg_log_loss",
            "Cross-entropy of the predicted probabilities; lower is better.",
        ),
        MetricInfo(
            "balanced_accuracy",
            True,
            "balanced_accuracy",
            "Mean of the per-class recalls; robust to class imbalance.",
        ),
    )
}

REGRESSION_METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo(
            "rmse",
            False,
            "neg_root_mean_squared_error",
            "Root mean squared error, in target units; lower is better.",
        ),
        MetricInfo(
            "mae",
            False,
            "neg_mean_absolute_error",
            "Mean absolute error, in target units; lower is better.",
        ),
        MetricInfo("r2", True, "r2", "Coefficient of determination; 1 is perfect."),
        MetricInfo(
            "mape",
            False,
            "neg_mean_absolute_percentage_error",
            "Mean absolute percentage error as a fraction (0.05 = 5 %); lower is "
            "better; undefined when any true value is 0.",
        ),
    )
}


def check_task(task: str) -> None:
    if task not in TASKS:
        raise RecipeError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")


def metrics_for_task(task: str) -> dict[str, MetricInfo]:
    """The metrics available for ``task`` ("classification" or "regression")."""
    check_task(task)
    return dict(CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS)
