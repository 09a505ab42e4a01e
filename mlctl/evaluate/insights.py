"""The evaluation insights of a run, in one call: calibration, lift, segments and the
learning curve of the winner, with their plots (docs/evaluation.md).

:func:`collect` returns the report-context sections (``calibration``, ``lift``,
``segments``, ``learning_curve``; see the report's context contract) and the PNGs
drawn for them; :func:`add_insights` puts both into the runner's ``ctx``.
:func:`finish_insights`, called just before the report is written, makes the
recommendations from the whole context (:mod:`mlctl.evaluate.recommend`) and writes
the insight sections as ``insights.json`` beside the report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mlctl.evaluate.calibration import calibration_summary
from mlctl.evaluate.insight_plots import gain_png, learning_curve_png, lift_png
from mlctl.evaluate.learning import learning_curve
from mlctl.evaluate.lift import lift_table, top_decile_lift
from mlctl.evaluate.metrics import classification_metrics, metrics_for_task, regression_metrics
from mlctl.evaluate.recommend import recommendations
from mlctl.evaluate.segments import segment_table

PROBABILITY_METRICS = ("roc_auc", "pr_auc", "log_loss")
INSIGHT_KEYS = ("calibration", "lift", "segments", "learning_curve", "recommendations")
INSIGHTS_FILE = "insights.json"


class Split(Protocol):
    """What :func:`collect` reads of the data (:class:`mlctl.data.prepare.Dataset`)."""

    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any
    positive_class: Any


class Scored(Protocol):
    """The winner's test-set results (:class:`mlctl.runner.Evaluation`)."""

    metrics: dict[str, float]
    y_pred: Any
    proba: Any
    classes: list[Any]


def collect(
    recipe: Any, data: Split, evaluation: Scored, model: Any, out_dir: Path | str
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The insight sections of the report and their plots (written to ``out_dir``).

    ``recipe`` is the run's :class:`~mlctl.recipe.schema.Recipe`, ``model`` the winner
    as registered (fitted on the training split). Lift needs a binary classifier's
    scores, calibration its ``predict_proba`` too (a squashed decision function ranks
    but is no probability); segments need ``evaluation.segments``; the learning curve
    refits ``model`` three times (:mod:`mlctl.evaluate.learning`).

    Raises:
        DataError: a segment column is not among the test set's columns.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx: dict[str, Any] = {}
    plots: dict[str, Path] = {}
    score = _positive_score(recipe, data, evaluation)
    if score is not None:
        y_bin = np.asarray(data.y_test).reshape(-1) == data.positive_class
        base_rate = float(np.mean(np.asarray(data.y_train).reshape(-1) == data.positive_class))
        # A decision function squashed into [0, 1] ranks rows but is no probability.
        if hasattr(model, "predict_proba") and np.isfinite(score).all():
            ctx["calibration"] = calibration_summary(y_bin, score, base_rate)
        ctx["lift"] = lift_table(y_bin, score)
        plots["gain"] = gain_png(ctx["lift"], out / "gain.png")
        plots["lift"] = lift_png(ctx["lift"], out / "lift.png")
    ev = recipe.evaluation
    if ev.segments:
        ctx["segments"] = segment_table(
            data.X_test,
            ev.segments,
            task=recipe.task,
            metric=recipe.selection_metric,
            y_true=data.y_test,
            y_pred=evaluation.y_pred,
            proba=evaluation.proba,
            classes=evaluation.classes,
            positive_class=data.positive_class,
            min_rows=ev.segment_min_rows,
            max_gap=ev.segment_max_gap,
        )
    ctx["learning_curve"] = learning_curve(
        model,
        data.X_train,
        data.y_train,
        data.X_test,
        score=lambda fitted, X: _test_score(recipe, data, evaluation, fitted, X),
        final_score=evaluation.metrics.get(recipe.selection_metric),
        metric=recipe.selection_metric,
        greater_is_better=metrics_for_task(recipe.task)[recipe.selection_metric].greater_is_better,
        seed=recipe.seed,
        stratify=recipe.task == "classification",
    )
    plots["learning_curve"] = learning_curve_png(ctx["learning_curve"], out / "learning_curve.png")
    return ctx, plots


def add_insights(
    ctx: dict[str, Any],
    recipe: Any,
    data: Split,
    evaluation: Scored,
    model: Any,
    out_dir: Path | str,
    log_metrics: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """:func:`collect` into the report's ``ctx``: its sections, and its plots added to
    ``ctx["plots"]`` (name -> PNG path, what the report shows besides the standard
    plots); the :func:`headline_metrics` handed to ``log_metrics`` (the run's)."""
    found, plots = collect(recipe, data, evaluation, model, out_dir)
    ctx.update(found)
    ctx.setdefault("plots", {}).update(plots)
    if log_metrics is not None:
        log_metrics(headline_metrics(found))


def finish_insights(ctx: dict[str, Any], out_dir: Path | str) -> Path:
    """The recommendations from the whole ``ctx`` (so: called last, once every section
    is in), and the insight sections with them written as ``insights.json`` in
    ``out_dir`` (the report's folder: machine-readable, for CI). Returns its path."""
    ctx["recommendations"] = recommendations(ctx)
    found = {key: _plain(ctx[key]) for key in INSIGHT_KEYS if key in ctx}
    path = Path(out_dir) / INSIGHTS_FILE
    path.write_text(json.dumps(found, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    """numpy scalars to Python, NaN and infinities to None: valid JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def headline_metrics(ctx: dict[str, Any]) -> dict[str, float | None]:
    """The insight numbers logged as MLflow metrics of the run."""
    cal = ctx.get("calibration") or {}
    return {
        "test_brier": cal.get("brier"),
        "test_ece": cal.get("ece"),
        "test_top_decile_lift": top_decile_lift(ctx.get("lift")),
    }


def _positive_score(recipe: Any, data: Split, evaluation: Scored) -> np.ndarray | None:
    """The positive class's predicted probability on the test set (binary only)."""
    classes = list(evaluation.classes or [])
    if recipe.task != "classification" or len(classes) != 2 or evaluation.proba is None:
        return None
    proba = np.asarray(evaluation.proba, dtype=float)
    return proba[:, classes.index(data.positive_class)]


def _test_score(recipe: Any, data: Split, evaluation: Scored, fitted: Any, X: Any) -> float:
    """``fitted``'s selection metric on the test set (``X``: its rows as ``fitted`` reads
    them), predicted as the runner does; only what the metric reads is predicted."""
    metric = recipe.selection_metric
    if recipe.task == "regression":
        return regression_metrics(data.y_test, fitted.predict(X))[metric]
    classes = list(evaluation.classes)
    if metric not in PROBABILITY_METRICS:
        y_pred = fitted.predict(X)
        scores = classification_metrics(data.y_test, y_pred, None, classes, data.positive_class)
        return scores[metric]
    proba = None
    if hasattr(fitted, "predict_proba"):
        try:
            proba = np.asarray(fitted.predict_proba(X), dtype=float)
        except AttributeError:  # a final step without probabilities
            proba = None
    if proba is None and len(classes) == 2 and hasattr(fitted, "decision_function"):
        d = np.asarray(fitted.decision_function(X), dtype=float)
        p = 1.0 / (1.0 + np.exp(-d))
        proba = np.column_stack([1.0 - p, p])
    if proba is None:
        return float("nan")
    y_pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]  # not read
    return classification_metrics(data.y_test, y_pred, proba, classes, data.positive_class)[metric]
