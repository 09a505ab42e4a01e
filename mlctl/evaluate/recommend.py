"""What the report recommends, from the numbers of the report itself.

:func:`recommendations` is a pure function of the report's ``ctx`` dict (the runner
calls it last, once every section is in), so each item can be checked against the
figures shown beside it. An item is ``{"topic", "text", "figure", "severity"}``:
``figure`` is the number behind it, ``severity`` "warn" (something to fix before
trusting the model) or "info" (worth knowing). A rule whose section is missing
from ``ctx`` says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mlctl.evaluate.learning import MORE_DATA, material_gain
from mlctl.evaluate.metrics import metrics_for_task
from mlctl.evaluate.segments import RANK_METRICS

IMBALANCED = 0.30  # the smallest class below this share of the rows: imbalanced
RARE = 0.10  # ... below this: rare, accuracy is nearly meaningless
ECE_WARN = 0.05  # probabilities off by more than 5 points on average
THRESHOLD_MOVE = 0.10  # a threshold this far from another is a different decision
F1_GAIN = 0.02  # an out-of-fold F1 gain worth a different threshold
CV_STD_K = 2.0  # test worse than the CV mean by more than this many CV std
MAX_SEGMENT_ITEMS = 5

Item = dict[str, str]


def recommendations(ctx: Mapping[str, Any]) -> list[Item]:
    """Every recommendation that applies, in the order of the report's sections."""
    items: list[Item] = []
    for rule in (_imbalance, _calibration, _threshold, _overfitting, _segments, _learning):
        items.extend(rule(ctx))
    return items


def _item(topic: str, text: str, figure: str, severity: str = "info") -> Item:
    return {"topic": topic, "text": text, "figure": figure, "severity": severity}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def class_shares(ctx: Mapping[str, Any]) -> dict[str, float]:
    """Each class's share of the test rows, from the confusion matrix's row sums."""
    cm = ctx.get("confusion") or {}
    labels, matrix = cm.get("labels") or [], cm.get("matrix") or []
    counts = [sum(row) for row in matrix]
    total = sum(counts)
    if not total or len(labels) != len(counts):
        return {}
    return {str(label): n / total for label, n in zip(labels, counts, strict=True)}


def _minority(ctx: Mapping[str, Any]) -> tuple[str, float] | None:
    shares = class_shares(ctx)
    if ctx.get("task") != "classification" or len(shares) < 2:
        return None
    label = min(shares, key=lambda k: shares[k])
    return label, shares[label]


def _imbalance(ctx: Mapping[str, Any]) -> list[Item]:
    found = _minority(ctx)
    if not found or found[1] >= IMBALANCED:
        return []
    label, share = found
    rows = (ctx.get("data") or {}).get("test_rows")
    figure = (
        f"class '{label}' is {share:.1%} of the" + (f" {rows:,}" if rows else "") + " test rows"
    )
    metric = ctx.get("selection_metric")
    if metric == "accuracy":
        text = (
            "The classes are imbalanced and the winner was chosen by accuracy, which a model "
            "that ignores the small class scores well on; choose by roc_auc, pr_auc or "
            "balanced_accuracy (models.selection_metric)."
        )
        return [_item("imbalance", text, figure, "warn")]
    text = (
        f"The classes are imbalanced: read recall and precision of the small class, not "
        f"accuracy; the model was chosen by {metric}. Class weights (class_weight: "
        "balanced in a candidate's params) or a tuned threshold can trade precision for recall."
    )
    return [_item("imbalance", text, figure, "warn" if share < RARE else "info")]


def _calibration(ctx: Mapping[str, Any]) -> list[Item]:
    cal = ctx.get("calibration")
    if not cal or not _finite(cal.get("brier")) or not _finite(cal.get("ece")):
        return []
    brier, reference, ece = cal["brier"], cal.get("brier_reference"), cal["ece"]
    figure = f"ECE {_num(ece)}; Brier {_num(brier)} vs {_num(reference)} for the base rate"
    applied = (ctx.get("calibration_step") or {}).get("applied")
    if reference is not None and brier >= reference:
        text = (
            "The probabilities are no better than always predicting the base rate (Brier score "
            "at or above the reference): do not use them as risks."
        )
        return [_item("calibration", text, figure, "warn")]
    if ece <= ECE_WARN:
        return []
    if applied:
        text = (
            f"The probabilities are still off after {applied} calibration (ECE above "
            f"{ECE_WARN}): try the other method in evaluation.calibration, or more data."
        )
    else:
        text = (
            f"The predicted probabilities are off from the observed rates by more than "
            f"{ECE_WARN} on average: set evaluation.calibration: auto (or sigmoid) before "
            "using them as risks."
        )
    return [_item("calibration", text, figure, "warn")]


def _threshold(ctx: Mapping[str, Any]) -> list[Item]:
    if ctx.get("task") != "classification" or len(class_shares(ctx)) > 2:
        return []
    analysis = ctx.get("threshold_analysis")
    if analysis:
        return _threshold_from_analysis(analysis)
    threshold, found = ctx.get("threshold"), _minority(ctx)
    if threshold != 0.5 or not found or found[1] >= IMBALANCED:
        return []
    text = (
        "The decision threshold is the default 0.5 on imbalanced classes, which favours the "
        "large class: choose it on out-of-fold predictions with evaluation.threshold: "
        "{optimize: f1} (or {optimize: cost} with the costs of a false positive and a false "
        "negative)."
    )
    figure = f"threshold 0.5; class '{found[0]}' is {found[1]:.1%} of the test rows"
    return [_item("threshold", text, figure, "info")]


def _threshold_from_analysis(analysis: Mapping[str, Any]) -> list[Item]:
    chosen, method = analysis.get("chosen"), analysis.get("method")
    if chosen is None:
        return []
    if method != "fixed":
        if abs(chosen - 0.5) < THRESHOLD_MOVE:
            return []
        at, default = analysis.get("at_chosen") or {}, analysis.get("at_default") or {}
        key = "cost" if method == "cost" and at.get("cost") is not None else "f1"
        text = (
            f"The threshold chosen by {method}, {chosen:.2f}, is far from 0.5: the registered "
            "model's labels differ from a default classifier's; clients that threshold the "
            "probabilities themselves should use it too."
        )
        figure = (
            f"test {key} {_num(at.get(key))} at {chosen:.2f} vs {_num(default.get(key))} at 0.5"
        )
        return [_item("threshold", text, figure, "info")]
    curve = [p for p in analysis.get("curve") or [] if p.get("f1") is not None]
    if not curve:
        return []
    best = max(curve, key=lambda p: p["f1"])
    here = min(curve, key=lambda p: abs(p["threshold"] - chosen))
    if abs(best["threshold"] - chosen) < THRESHOLD_MOVE or best["f1"] - here["f1"] < F1_GAIN:
        return []
    costs = analysis.get("costs")
    how = "{optimize: cost}" if costs else "{optimize: f1}"
    text = (
        f"The fixed threshold {chosen:.2f} is far from the best out-of-fold F1: set "
        f"evaluation.threshold: {how}."
    )
    figure = (
        f"out-of-fold F1 {_num(here['f1'])} at {chosen:.2f} vs {_num(best['f1'])} at "
        f"{best['threshold']:.2f}"
    )
    return [_item("threshold", text, figure, "warn")]


def _winner(ctx: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return next((row for row in ctx.get("leaderboard") or [] if row.get("is_winner")), None)


def _overfitting(ctx: Mapping[str, Any]) -> list[Item]:
    row, metric = _winner(ctx), ctx.get("selection_metric")
    if not row or not metric or ctx.get("task") not in ("classification", "regression"):
        return []
    cv, std = row.get("cv_mean"), row.get("cv_std")
    test = (row.get("test") or {}).get(metric, (ctx.get("test_metrics") or {}).get(metric))
    if not all(_finite(v) for v in (cv, std, test)):
        return []
    greater = metrics_for_task(ctx["task"])[metric].greater_is_better
    gap = cv - test if greater else test - cv
    if gap <= CV_STD_K * std or gap <= material_gain(cv):
        return []
    text = (
        f"The test {metric} is worse than cross-validation promised, by more than "
        f"{CV_STD_K:g} CV standard deviations: the search may have fit the folds' noise "
        "(fewer settings, more folds in models.cv_folds), or the test rows differ from the "
        "training rows (check split.strategy)."
    )
    figure = f"test {_num(test)} vs CV {_num(cv)} ± {_num(std)} (gap {_num(gap)})"
    return [_item("overfitting", text, figure, "warn")]


def _segments(ctx: Mapping[str, Any]) -> list[Item]:
    seg = ctx.get("segments")
    if not seg:
        return []
    metric, items = seg["metric"], []
    flagged = []
    for column in dict.fromkeys(r["column"] for r in seg.get("rows") or []):
        rows = [r for r in seg["rows"] if r["column"] == column]
        scored = [r for r in rows if r.get("gap") is not None]
        if metric in RANK_METRICS and len(scored) >= 2 and all(r["gap"] > 0 for r in scored):
            items.append(_whole_column(seg, column, scored))
        else:
            flagged += [r for r in rows if r.get("flagged")]
    flagged.sort(key=lambda r: -r["gap"])
    for r in flagged[:MAX_SEGMENT_ITEMS]:
        text = (
            f"The model is weaker where {r['column']} = {r['value']}: check that these rows are "
            "well represented in training, or add a feature that tells them apart."
        )
        figure = (
            f"{metric} {_num(r['score'])} vs {_num(seg['whole'])} on the whole test set "
            f"(gap {_num(r['gap'])} > {_num(seg['max_gap'])}; {r['rows']:,} rows)"
        )
        items.append(_item("segments", text, figure, "warn"))
    if len(flagged) > MAX_SEGMENT_ITEMS:
        rest = len(flagged) - MAX_SEGMENT_ITEMS
        items.append(
            _item("segments", "More segments are flagged; see the segments table.", f"{rest} more")
        )
    return items


def _whole_column(seg: Mapping[str, Any], column: str, scored: list[dict[str, Any]]) -> Item:
    """Every value of ``column`` below the whole on a rank metric: the column separates
    the classes by itself, which no within-segment ranking shows; the weakest value."""
    weakest = max(scored, key=lambda r: r["gap"])
    text = (
        f"Every {column} segment scores below the whole test set: {column} separates the "
        f"classes by itself, which {seg['metric']} within one segment cannot credit. Compare "
        f"the segments with each other: the weakest is {column} = {weakest['value']}."
    )
    low, high = min(r["score"] for r in scored), max(r["score"] for r in scored)
    figure = (
        f"{seg['metric']} {_num(low)} to {_num(high)} within segments vs {_num(seg['whole'])} "
        f"on the whole test set"
    )
    return _item("segments", text, figure, "info")


def _learning(ctx: Mapping[str, Any]) -> list[Item]:
    curve = ctx.get("learning_curve")
    if not curve or curve.get("verdict") != MORE_DATA:
        return []
    points = curve.get("points") or []
    text = (
        f"The last quarter of the training rows still improved the test {curve['metric']}: "
        "more data would likely help."
    )
    steps = ", ".join(f"{p['train_rows']:,} rows {_num(p['score'])}" for p in points)
    figure = f"+{_num(curve['slope'])} over the last step ({steps})"
    return [_item("learning curve", text, figure, "info")]
