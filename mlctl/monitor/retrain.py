"""Retraining from ``mlctl monitor``: when the ``monitor.retrain`` policy (or
``--retrain``) asks for it, train the recipe without promoting, then promote the new
version only if it passed its readiness gate AND beats the champion on the window's
labelled production rows.

The training itself is passed in (:data:`Trainer`): the monitor does not import the
runner; :func:`mlctl.api.monitor` passes one that calls :func:`mlctl.runner.run`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mlctl.errors import MlctlError
from mlctl.monitor.check import HEALTHY, Context, positive_class

Emit = Callable[[str, dict[str, Any]], None]
#: ``train(loaded, workspace, tags, on_event)``: run the recipe without promoting and
#: return its summary (``run_id``, ``ready``, ``version``, ``verdict.checks``).
Trainer = Callable[[Any, str | None, dict[str, str], Emit], Any]


def retrain_trigger(ctx: Context, doc: dict[str, Any]) -> str | None:
    if ctx.options.retrain:
        return "--retrain"
    policy = ctx.r.monitor.retrain
    if policy == "never" or doc["status"] == HEALTHY:
        return None
    drifted = bool(doc["drift"]["dataset_drift"]) or bool(
        doc["prediction_drift"] and doc["prediction_drift"]["n_drifted"]
    )
    dropped = bool(doc["performance"] and doc["performance"]["flagged"])
    if policy == "on_drift" and drifted:
        return "on_drift"
    if policy == "on_performance_drop" and dropped:
        return "on_performance_drop"
    if policy == "on_attention":
        return "on_attention"
    return None


def retrain(ctx: Context, trigger: str, train: Trainer) -> dict[str, Any]:
    """Run the recipe without promoting; promote the new version only if it passed the
    gate AND beats the champion on the window's labelled production rows."""
    import dataclasses

    block: dict[str, Any] = {
        "trigger": trigger,
        "outcome": None,
        "reason": None,
        "run_id": None,
        "version": None,
        "gate": None,
        "comparison": None,
        "promoted": False,
    }
    recipe = ctx.r.model_copy(deep=True)
    recipe.deploy.auto_promote = False  # promotion is decided here, on production rows
    loaded = dataclasses.replace(ctx.loaded, recipe=recipe)

    def progress(kind: str, data: dict[str, Any]) -> None:
        if kind == "stage":
            ctx.emit("stage", {"message": f"retrain: {data.get('message', '')}"})

    ctx.emit("stage", {"message": f"retraining ({trigger})"})
    try:
        summary = train(
            loaded, ctx.options.workspace, {"mlctl.trigger": f"monitor {trigger}"}, progress
        )
    except MlctlError as exc:
        block.update(outcome="failed", reason=f"the retraining run failed: {exc.message}")
        return block
    block.update(run_id=summary.run_id, gate="passed" if summary.ready else "failed")
    if not summary.ready or summary.version is None:
        failed = [c.name for c in summary.verdict.checks if not c.passed]
        block.update(
            outcome="not_registered",
            reason="the retrained model failed its readiness gate"
            + (f" ({', '.join(failed)})" if failed else "")
            + "; nothing changes",
        )
        return block
    block["version"] = summary.version
    champion = ctx.registry.alias_version(ctx.name, "champion") or ctx.version
    try:
        comparison = _compare(ctx, champion, summary.version)
    except MlctlError as exc:
        block.update(
            outcome="stays_challenger",
            reason=f"cannot compare on production rows ({exc.message}): stays challenger",
        )
        return block
    block["comparison"] = comparison
    if comparison["rows"] < comparison["min_labels"]:
        block.update(
            outcome="stays_challenger",
            reason=f"not enough labels to compare: {comparison['rows']} of "
            f"{comparison['min_labels']} needed; stays challenger",
        )
        return block
    metric, new, old = comparison["metric"], comparison["challenger"], comparison["champion"]
    if not comparison["beats"]:
        block.update(
            outcome="stays_challenger",
            reason=f"does not beat champion v{champion} on {comparison['rows']} labelled "
            f"production rows ({metric} {_num(new)} vs {_num(old)}); stays challenger",
        )
        return block
    reason = (
        f"mlctl monitor ({trigger}): gate passed and {metric} {_num(new)} beats champion "
        f"v{champion}'s {_num(old)} on {comparison['rows']} labelled production rows"
    )
    ctx.registry.promote(ctx.name, summary.version, reason)
    block.update(outcome="promoted", reason=reason, promoted=True)
    return block


def _num(value: float | None) -> str:
    """A metric in a promotion message: four decimals, ``n/a`` for none, NaN or ±inf.

    Not :func:`mlctl.text.number_text`, which writes 1000 and more with one decimal
    and thousands separators, and ±inf as ``inf``: a metric's message keeps the
    digits that decide a promotion."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _compare(ctx: Context, champion: int, challenger: int) -> dict[str, Any]:
    """Both versions scored on the same labelled production rows with the selection metric."""
    from mlctl.evaluate.metrics import metrics_for_task

    r = ctx.r
    metric = r.selection_metric
    frame = _labelled_inputs(ctx)
    out: dict[str, Any] = {
        "metric": metric,
        "rows": 0,
        "min_labels": r.monitor.performance.min_labels,
        "champion_version": champion,
        "challenger_version": challenger,
        "champion": None,
        "challenger": None,
        "beats": False,
    }
    if frame is None or not len(frame):
        return out
    scores = {}
    for side, version in (("champion", champion), ("challenger", challenger)):
        from mlctl.tracking.artifacts import load_verified_model

        model = load_verified_model(ctx.registry, f"{ctx.name}/{version}")
        inputs = [c["name"] for c in model.input_schema] or list(ctx.profile.columns)
        value, rows = metric_on(r, model.pipeline, frame, metric, inputs)
        scores[side], out["rows"] = value, rows
    out.update(scores)
    better = metrics_for_task(r.task)[metric].greater_is_better
    new, old = scores["challenger"], scores["champion"]
    if new is not None and old is not None:
        out["beats"] = bool(new > old if better else new < old)
    return out


def _labelled_inputs(ctx: Context) -> Any:
    """Labelled rows of the window with every logged input (any version that answered;
    the two models compared may read different columns)."""
    o = ctx.options
    if o.current:
        if not o.label_column:
            return None
        from mlctl.monitor.file_source import FileSource

        frame = FileSource(o.current, o.label_column, o.timestamp_column).read(ctx.window)
        frame = frame[frame[o.label_column].notna()]
        return (
            frame.rename(columns={o.label_column: "label"}) if o.label_column != "label" else frame
        )
    return labelled_log_rows(ctx.source, ctx.window, ctx.name)


def labelled_log_rows(source: Any, window: Any, name: str) -> Any:
    """The champion's labelled rows of a window of the prediction log (a ``LogSource``)
    with every logged input and the label as column ``label``; None when there are none.
    Also what the rollout's auto-demotion scores the previous champion on."""
    import pandas as pd

    parts = list(
        source.iter_labelled(window, model_name=name, variant="champion", inputs=True, columns=None)
    )
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    meta = parts[0].attrs.get("meta", {})
    return frame.rename(columns={meta.get("label", "label"): "label"})


def metric_on(
    r: Any, model: Any, frame: Any, metric: str, inputs: list[str]
) -> tuple[float | None, int]:
    """``metric`` of the fitted pipeline ``model`` on the labelled rows of ``frame``
    (label column ``label``), and how many rows it was computed on (labels the model
    does not know are left out). Also used by the rollout's auto-demotion."""
    import numpy as np
    import pandas as pd

    from mlctl.evaluate.metrics import classification_metrics, regression_metrics
    from mlctl.monitor.performance import LabelMap
    from mlctl.predict.score import Scorer

    scorer = Scorer(model)
    X = frame[[c for c in inputs if c in frame.columns]]
    if r.task == "regression":
        y = pd.to_numeric(frame["label"], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(y)
        pred, _ = scorer(X[keep])
        return regression_metrics(y[keep], pred).get(metric), int(keep.sum())
    classes = list(scorer.classes)
    idx, _ = LabelMap(classes).map(frame["label"].astype(object).to_numpy())
    keep = idx >= 0
    if not keep.any():
        return None, 0
    pred, proba = scorer(X[keep].reset_index(drop=True))
    y_true = np.asarray(classes, dtype=object)[idx[keep]]
    values = classification_metrics(y_true, pred, proba, classes, positive_class(r, classes))
    return values.get(metric), int(keep.sum())
