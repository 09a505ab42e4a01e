"""Champion against challenger on labelled production rows: per metric both values with
their intervals, the difference's interval, the sample needed, and one verdict.

Pure: labelled frames in (the log's shape: ``label``, ``prediction``, ``probabilities``,
``score``), an :class:`Analysis` out. Reading the log and recording the result is
:mod:`mlctl.compare.run`'s business.

Methods: ROC AUC (binary) by DeLong, accuracy and a binary model's recall (shares of
rows) by Wilson/Newcombe intervals, the rest by the bootstrap (:mod:`mlctl.compare.stats`).

The verdict (:data:`BETTER`, :data:`WORSE`, :data:`UNKNOWN`):

- **worse** when, on enough labels, the interval of any compared metric's difference
  lies entirely on its worse side (a guard should stop on any significant loss);
- **better** when the selection metric's interval lies entirely on its better side and
  no metric is significantly worse;
- **unknown** otherwise: the intervals still hold zero, or fewer than ``min_labels``
  labelled rows per version, or a metric is undefined on the rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlctl.compare import metrics as fast
from mlctl.compare import stats
from mlctl.monitor.performance import LabelMap, probability_matrix
from mlctl.recipe.metrics import metrics_for_task
from mlctl.text import json_number

BETTER, WORSE, UNKNOWN = "better", "worse", "unknown"
SPLIT, SHADOW = "split", "shadow"


@dataclass
class Scored:
    """One version's answers on labelled rows, as class indices (or numbers)."""

    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None  # None: some row lacks probabilities
    unmatched: int = 0  # labelled rows whose label or prediction names no class

    @property
    def n(self) -> int:
        return int(self.y.size)


@dataclass
class MetricResult:
    """One metric: both versions, the difference (challenger - champion), the verdict."""

    name: str
    greater_is_better: bool
    method: str
    champion: stats.Estimate
    challenger: stats.Estimate
    difference: stats.Estimate
    p_value: float | None
    verdict: str
    needed: dict[str, int] | None  # labelled rows per version to detect the difference
    threshold: dict[str, Any] | None = None  # {"op", "value", "champion", "challenger"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "greater_is_better": self.greater_is_better,
            "method": self.method,
            "champion": self.champion.to_dict(),
            "challenger": self.challenger.to_dict(),
            "difference": self.difference.to_dict(),
            "p_value": json_number(self.p_value),
            "verdict": self.verdict,
            "needed_per_version": self.needed,
            "threshold": self.threshold,
        }


@dataclass
class Analysis:
    """What :func:`analyse` found (see the module docstring for the verdict)."""

    mode: str
    verdict: str
    message: str
    n: dict[str, int]  # labelled, evaluated rows per version ("champion", "challenger")
    metrics: list[MetricResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    enough: bool = True


# ------------------------------------------------------------------ frames -> arrays


def usable(frame: pd.DataFrame, task: str, classes: Sequence[Any] | None) -> np.ndarray:
    """Which rows have a label and a prediction that map to a class (or a number)."""
    return _arrays(frame, task, classes)[3]


def scored(
    frame: pd.DataFrame,
    task: str,
    classes: Sequence[Any] | None,
    rows: np.ndarray | None = None,
) -> Scored:
    """A labelled frame's usable rows (and only ``rows``, a mask, when given)."""
    y, pred, proba, keep = _arrays(frame, task, classes)
    if rows is not None:
        keep = keep & rows
    p = None
    if proba is not None and keep.any() and not np.isnan(proba[keep]).any():
        p = proba[keep]
    return Scored(y[keep], pred[keep], p, int((~keep).sum()))


def _arrays(frame: pd.DataFrame, task: str, classes: Sequence[Any] | None):
    if task == "regression":
        y = pd.to_numeric(frame["label"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        pred = pd.to_numeric(frame["prediction"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        if "score" in frame.columns:
            score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
            pred = np.where(np.isnan(pred), score, pred)
        return y, pred, None, np.isfinite(y) & np.isfinite(pred)
    mapper = LabelMap(list(classes or []))
    y, _ = mapper.map(frame["label"].to_numpy(dtype=object))
    pred, _ = mapper.map(frame["prediction"].to_numpy(dtype=object))
    proba = None
    if "probabilities" in frame.columns and len(frame):
        proba = probability_matrix(frame["probabilities"].to_numpy(dtype=object), classes)
    return y, pred, proba, (y >= 0) & (pred >= 0)


# ------------------------------------------------------------------------ analyse


def analyse(
    mode: str,
    champion: Scored,
    challenger: Scored,
    task: str,
    metrics: Sequence[str],
    selection_metric: str,
    classes: Sequence[Any] | None = None,
    positive: int | None = None,
    thresholds: dict[str, float] | None = None,
    min_labels: int = 1,
    alpha: float = stats.ALPHA,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Analysis:
    """Compare two versions on their labelled rows.

    Args:
        mode: :data:`SPLIT` (each version its own rows) or :data:`SHADOW` (row ``i``
            of both is the same request: paired methods).
        champion, challenger: Their rows (:func:`scored`).
        metrics: The metrics to compare (the selection metric first).
        selection_metric: The metric a "better" verdict rests on.
        classes: The model's classes (classification).
        positive: The positive class's index of a binary model.
        thresholds: The recipe's ``readiness.thresholds`` (``min_x``/``max_x``).
        min_labels: Fewer labelled rows per version than this: no verdict.
    """
    if mode == SHADOW and champion.n != challenger.n:
        raise ValueError("shadow rows must be paired: the same number of rows for both")
    table = metrics_for_task(task)
    k = len(classes or [])
    n = {"champion": champion.n, "challenger": challenger.n}
    enough = min(n.values()) >= max(min_labels, 1)
    out = Analysis(mode, UNKNOWN, "", n, enough=enough)
    if min(n.values()) == 0:
        out.message = _few(n, min_labels)
        return out
    names = list(dict.fromkeys(metrics))
    contrasts: dict[str, stats.Contrast] = {}
    boot = []
    for name in names:
        c = _closed_form(name, mode, champion, challenger, task, k, positive, alpha)
        if c is not None:
            contrasts[name] = c
        elif not (
            name in fast.PROBA_METRICS and (champion.proba is None or challenger.proba is None)
        ):
            boot.append(name)
    if boot:
        contrasts.update(
            _bootstrap(
                boot, mode, champion, challenger, task, k, positive, alpha, n_resamples, seed
            )
        )
    for name in names:
        c = contrasts.get(name) or _undefined()
        out.metrics.append(_result(name, table[name].greater_is_better, c, enough, n, alpha))
        _threshold(out.metrics[-1], thresholds or {})
    if any(m.name in fast.PROBA_METRICS and m.method == "undefined" for m in out.metrics):
        out.notes.append(
            "some labelled rows have no class probabilities: roc_auc, pr_auc and log_loss "
            "are not compared"
        )
    out.verdict, out.message = _verdict(out, selection_metric, min_labels)
    return out


def _closed_form(name, mode, a: Scored, b: Scored, task, k, positive, alpha):
    if task != "classification":
        return None
    if name == "accuracy" or (name == "recall" and k == 2):
        ra, rb = a.y == a.pred, b.y == b.pred
        if name == "recall":  # the share of positive rows predicted positive
            ra, rb = ra[a.y == positive], rb[b.y == positive]
            if not (ra.size and rb.size):
                return _undefined()
        if mode == SHADOW:
            cells = (ra & rb, ra & ~rb, ~ra & rb, ~ra & ~rb)
            return stats.proportions_paired(*(int(c.sum()) for c in cells), alpha=alpha)
        return stats.proportions_unpaired(int(ra.sum()), ra.size, int(rb.sum()), rb.size, alpha)
    if name == "roc_auc" and k == 2 and a.proba is not None and b.proba is not None:
        ta, tb = a.y == positive, b.y == positive
        if not (0 < ta.sum() < a.n and 0 < tb.sum() < b.n):
            return _undefined()
        if mode == SHADOW:
            return stats.auc_paired(ta, a.proba[:, positive], b.proba[:, positive], alpha)
        return stats.auc_unpaired(ta, a.proba[:, positive], tb, b.proba[:, positive], alpha)
    return None


def _bootstrap(names, mode, a: Scored, b: Scored, task, k, positive, alpha, n_resamples, seed):
    stat_a = fast.statistic(names, task, a.y, a.pred, a.proba, k, positive)
    stat_b = fast.statistic(names, task, b.y, b.pred, b.proba, k, positive)
    if mode == SHADOW:
        found = stats.bootstrap_paired(stat_a, stat_b, a.n, alpha, n_resamples, seed)
    else:
        found = stats.bootstrap_unpaired(stat_a, a.n, stat_b, b.n, alpha, n_resamples, seed)
    return dict(zip(names, found, strict=True))


def _undefined() -> stats.Contrast:
    none = stats.Estimate(None, None, None)
    return stats.Contrast(none, none, none, None, "undefined")


def _result(name, higher, c: stats.Contrast, enough, n, alpha) -> MetricResult:
    d = c.difference
    verdict = UNKNOWN
    if enough and d.low is not None and d.high is not None:
        gain_low, gain_high = (d.low, d.high) if higher else (-d.high, -d.low)
        verdict = BETTER if gain_low > 0 else WORSE if gain_high < 0 else UNKNOWN
    scale = stats.needed_scale(d.value, d.se, alpha)
    needed = None
    if scale is not None:
        needed = {role: int(math.ceil(scale * count)) for role, count in n.items()}
    return MetricResult(
        name, higher, c.method, c.champion, c.challenger, d, c.p_value, verdict, needed
    )


def _threshold(m: MetricResult, thresholds: dict[str, float]) -> None:
    for key, value in thresholds.items():
        op, _, metric = key.partition("_")
        if metric != m.name:
            continue
        ge = op == "min"

        def meets(e: stats.Estimate, ge=ge, value=value) -> bool | None:
            if e.value is None:
                return None
            return e.value >= value if ge else e.value <= value

        m.threshold = {
            "op": ">=" if ge else "<=",
            "value": value,
            "champion": meets(m.champion),
            "challenger": meets(m.challenger),
        }


def _few(n: dict[str, int], min_labels: int) -> str:
    return (
        f"not enough labels: {n['champion']} champion and {n['challenger']} challenger "
        f"labelled rows, {min_labels} needed per version"
    )


def describe(m: MetricResult, pct: int = 95) -> str:
    """``roc_auc +0.0312 (95 % CI +0.0120 .. +0.0504)``."""
    d = m.difference
    if d.value is None:
        return f"{m.name} undefined"
    text = f"{m.name} {d.value:+.4f}"
    if d.low is not None and d.high is not None:
        text += f" ({pct} % CI {d.low:+.4f} .. {d.high:+.4f})"
    return text


def _verdict(out: Analysis, selection: str, min_labels: int) -> tuple[str, str]:
    n = out.n
    counts = f"n = {n['champion']:,} champion / {n['challenger']:,} challenger labelled rows"
    if not out.enough:
        return UNKNOWN, _few(n, min_labels) + "; not judged"
    worse = [m for m in out.metrics if m.verdict == WORSE]
    primary = next((m for m in out.metrics if m.name == selection), None)
    if worse:
        return WORSE, f"challenger worse: {'; '.join(describe(m) for m in worse)}, {counts}"
    if primary is not None and primary.verdict == BETTER:
        return BETTER, f"challenger better: {describe(primary)}, {counts}"
    shown = describe(primary) if primary is not None else "no metric"
    need = ""
    if primary is not None and primary.needed:
        need = (
            f"; about {primary.needed['champion']:,} / {primary.needed['challenger']:,} "
            "labelled rows would detect a difference this size (power 0.8)"
        )
    elif primary is not None and primary.difference.value == 0:
        need = "; no difference seen"
    return UNKNOWN, f"not yet known: {shown}, {counts}{need}"
