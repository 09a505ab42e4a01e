"""MLflow Recipes metric names → mlctl metric names (mlctl/evaluate/metrics.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Recipes' built-in metrics (MLflow 2.x mlflow/recipes/utils/metrics.py) and the
# template comments' names.
CLASSIFICATION = {
    "f1_score": "f1",
    "roc_auc": "roc_auc",
    "accuracy_score": "accuracy",
    "precision_score": "precision",
    "recall_score": "recall",
    "log_loss": "log_loss",
    "precision_recall_auc": "pr_auc",
    "average_precision": "pr_auc",
    "balanced_accuracy_score": "balanced_accuracy",
    # multiclass variants: mlctl's multiclass precision / recall / f1 are
    # support-weighted, so macro and micro are close but not equal
    "f1_score_macro": "f1",
    "f1_score_micro": "f1",
    "precision_score_macro": "precision",
    "recall_score_macro": "recall",
}
REGRESSION = {
    "root_mean_squared_error": "rmse",
    "mean_squared_error": "rmse",  # thresholds are square-rooted
    "mean_absolute_error": "mae",
    "r2_score": "r2",
    "mean_absolute_percentage_error": "mape",
}
LOWER_IS_BETTER = {"log_loss", "rmse", "mae", "mape"}
APPROXIMATE = {
    "f1_score_macro": "mlctl's multiclass f1 is support-weighted, not macro-averaged",
    "f1_score_micro": "mlctl's multiclass f1 is support-weighted, not micro-averaged",
    "precision_score_macro": "mlctl's multiclass precision is support-weighted",
    "recall_score_macro": "mlctl's multiclass recall is support-weighted",
    "mean_squared_error": "ranked by rmse (the same order); thresholds are square-rooted",
}
DEFAULT_PRIMARY = {"classification": "f1_score", "regression": "root_mean_squared_error"}


@dataclass(frozen=True)
class MetricMapping:
    """One Recipes metric as mlctl sees it (``name`` None: no equivalent)."""

    source: str
    name: str | None
    note: str | None = None

    @property
    def greater_is_better(self) -> bool:
        return self.name not in LOWER_IS_BETTER

    def threshold(self, value: float) -> float:
        """A Recipes threshold in the mlctl metric's units."""
        if self.source == "mean_squared_error":
            return round(math.sqrt(value), 6)
        return value


def map_metric(name: str, task: str) -> MetricMapping:
    """The mlctl metric for a Recipes metric name of a task."""
    table = CLASSIFICATION if task == "classification" else REGRESSION
    if name in table:
        return MetricMapping(name, table[name], APPROXIMATE.get(name))
    return MetricMapping(name, None)


def threshold_key(mapping: MetricMapping) -> str:
    """``min_<metric>`` for higher-is-better metrics, else ``max_<metric>``."""
    return f"{'min' if mapping.greater_is_better else 'max'}_{mapping.name}"
