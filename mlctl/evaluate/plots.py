"""Evaluation plots written as small PNG files (headless, Agg backend).

Every function draws one figure, writes it to ``path`` (parent folders are
created), releases it and returns ``path`` as a :class:`~pathlib.Path`. Figures are
built on :class:`matplotlib.figure.Figure` directly, never through pyplot's global
figure manager, so nothing is left open and the functions are safe in threads.
Data a plot cannot be drawn from (one class only, no rows) gives a PNG that says
so instead of an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mlctl.evaluate.metrics import confusion, metrics_for_task  # noqa: E402

DPI = 100
MAX_SCATTER_POINTS = 5000
_COLOR = "#1f77b4"
_REF = "#888888"


def _new_figure(width: float = 6.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    fig.clear()
    return path


def _message(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _binary(y_true_bin: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true_bin).reshape(-1).astype(bool)
    s = np.asarray(score, dtype=float).reshape(-1)
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return y.size > 0 and bool(y.any()) and not bool(y.all())


def _sample(*arrays: np.ndarray, limit: int = MAX_SCATTER_POINTS) -> tuple[np.ndarray, ...]:
    """At most ``limit`` rows, the same deterministic ones from every array."""
    n = len(arrays[0])
    if n <= limit:
        return arrays
    index = np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))
    return tuple(a[index] for a in arrays)


def roc_curve_png(y_true_bin: Any, score: Any, path: Path | str, label: str = "model") -> Path:
    """ROC curve of ``score`` against the 0/1 (or bool) ``y_true_bin``, with its AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y, s = _binary(y_true_bin, score)
    fig = _new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.set_title("ROC curve")
    if not _both_classes(y):
        _message(ax, "ROC curve undefined:\nonly one class in the test set")
        return _save(fig, path)
    fpr, tpr, _ = roc_curve(y, s)
    auc = roc_auc_score(y, s)
    ax.plot(fpr, tpr, color=_COLOR, lw=2, label=f"{label} (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color=_REF, lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def pr_curve_png(y_true_bin: Any, score: Any, path: Path | str, label: str = "model") -> Path:
    """Precision-recall curve of ``score``, with its average precision and the base rate."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y, s = _binary(y_true_bin, score)
    fig = _new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.set_title("Precision-recall curve")
    if not _both_classes(y):
        _message(ax, "Precision-recall curve undefined:\nonly one class in the test set")
        return _save(fig, path)
    precision, recall, _ = precision_recall_curve(y, s)
    ap = average_precision_score(y, s)
    ax.step(recall, precision, where="post", color=_COLOR, lw=2, label=f"{label} (AP = {ap:.4f})")
    base = float(y.mean())
    ax.axhline(base, ls="--", color=_REF, lw=1, label=f"base rate ({base:.4f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def calibration_png(y_true_bin: Any, score: Any, path: Path | str, n_bins: int = 10) -> Path:
    """Reliability diagram (observed positive rate per probability bin) and a histogram."""
    from sklearn.calibration import calibration_curve

    y, s = _binary(y_true_bin, score)
    fig = _new_figure(5.5, 6.0)
    gs = fig.add_gridspec(2, 1, height_ratios=[3, 1])
    ax = fig.add_subplot(gs[0])
    ax.set_title("Calibration (reliability diagram)")
    finite = s[np.isfinite(s)]
    if not _both_classes(y) or finite.size == 0 or finite.min() < 0 or finite.max() > 1:
        _message(ax, "Calibration undefined:\nneeds both classes and probabilities in [0, 1]")
        return _save(fig, path)
    prob_true, prob_pred = calibration_curve(y, s, n_bins=n_bins, strategy="uniform")
    ax.plot([0, 1], [0, 1], ls="--", color=_REF, lw=1, label="perfectly calibrated")
    ax.plot(prob_pred, prob_true, marker="o", color=_COLOR, lw=2, label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Observed positive rate")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    hist = fig.add_subplot(gs[1], sharex=ax)
    hist.hist(s, bins=n_bins, range=(0, 1), color=_COLOR, alpha=0.7)
    hist.set_xlabel("Predicted probability of the positive class")
    hist.set_ylabel("Rows")
    return _save(fig, path)


def confusion_matrix_png(
    matrix: Sequence[Sequence[int]], labels: Sequence[Any], path: Path | str
) -> Path:
    """Confusion matrix heat map with counts (rows: actual, columns: predicted)."""
    m = np.asarray(matrix, dtype=float).reshape(len(labels), len(labels))
    n = len(labels)
    side = min(12.0, max(4.5, 0.6 * n + 2.5))
    fig = _new_figure(side, side * 0.9)
    ax = fig.add_subplot()
    ax.set_title("Confusion matrix")
    if n == 0:
        _message(ax, "No classes")
        return _save(fig, path)
    image = ax.imshow(m, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    names = [str(label) for label in labels]
    fontsize = 10 if n <= 10 else max(5, int(10 - (n - 10) / 4))
    ax.set_xticks(range(n), names, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center")
    ax.set_yticks(range(n), names)
    ax.tick_params(labelsize=fontsize)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Actual")
    if n <= 30:
        peak = m.max() if m.size else 0.0
        for i in range(n):
            for j in range(n):
                color = "white" if peak and m[i, j] > peak / 2 else "black"
                ax.text(
                    j,
                    i,
                    f"{int(m[i, j]):,}",
                    ha="center",
                    va="center",
                    color=color,
                    fontsize=fontsize,
                )
    return _save(fig, path)


def importance_png(
    importances: Sequence[tuple[str, float, float]], path: Path | str, top: int = 20
) -> Path:
    """Horizontal bars of the ``top`` permutation importances (mean, ± std)."""
    rows = sorted(importances, key=lambda r: (math.isnan(r[1]), -r[1], str(r[0])))[:top]
    fig = _new_figure(7.0, max(3.0, 0.32 * len(rows) + 1.5))
    ax = fig.add_subplot()
    ax.set_title(f"Permutation importance (top {len(rows)})" if rows else "Permutation importance")
    if not rows:
        _message(ax, "No importances computed")
        return _save(fig, path)
    rows = rows[::-1]  # largest at the top
    names = [_shorten(str(r[0])) for r in rows]
    means = [float(r[1]) for r in rows]
    stds = [float(r[2]) for r in rows]
    ax.barh(range(len(rows)), means, xerr=stds, color=_COLOR, alpha=0.85, ecolor="#444444")
    ax.set_yticks(range(len(rows)), names)
    ax.axvline(0, color=_REF, lw=1)
    ax.set_xlabel("Mean drop in score when the column is shuffled")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _regression_arrays(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=float).reshape(-1)
    p = np.asarray(y_pred, dtype=float).reshape(-1)
    keep = np.isfinite(t) & np.isfinite(p)
    return t[keep], p[keep]


def residuals_png(y_true: Any, y_pred: Any, path: Path | str) -> Path:
    """Residuals (actual - predicted) against predicted values, and their histogram.

    The scatter shows at most :data:`MAX_SCATTER_POINTS` rows (a fixed random
    sample); the histogram uses every row.
    """
    t, p = _regression_arrays(y_true, y_pred)
    fig = _new_figure(10.0, 4.5)
    ax = fig.add_subplot(1, 2, 1)
    ax.set_title("Residuals vs predicted")
    hist = fig.add_subplot(1, 2, 2)
    hist.set_title("Residual distribution")
    if t.size == 0:
        _message(ax, "No rows")
        _message(hist, "No rows")
        return _save(fig, path)
    residuals = t - p
    p_shown, r_shown = _sample(p, residuals)
    ax.scatter(p_shown, r_shown, s=8, alpha=0.5, color=_COLOR, edgecolors="none")
    ax.axhline(0, color=_REF, ls="--", lw=1)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Residual (actual - predicted)")
    ax.grid(alpha=0.3)
    hist.hist(residuals, bins=min(50, max(5, int(math.sqrt(t.size)))), color=_COLOR, alpha=0.8)
    hist.axvline(0, color=_REF, ls="--", lw=1)
    hist.set_xlabel("Residual (actual - predicted)")
    hist.set_ylabel("Rows")
    return _save(fig, path)


def predicted_vs_actual_png(y_true: Any, y_pred: Any, path: Path | str) -> Path:
    """Predicted against actual values (at most MAX_SCATTER_POINTS), with the identity line."""
    t, p = _regression_arrays(y_true, y_pred)
    fig = _new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.set_title("Predicted vs actual")
    if t.size == 0:
        _message(ax, "No rows")
        return _save(fig, path)
    t_shown, p_shown = _sample(t, p)
    ax.scatter(t_shown, p_shown, s=8, alpha=0.5, color=_COLOR, edgecolors="none")
    low = float(min(t.min(), p.min()))
    high = float(max(t.max(), p.max()))
    if low == high:
        low, high = low - 1, high + 1
    ax.plot([low, high], [low, high], ls="--", color=_REF, lw=1, label="perfect prediction")
    ax.set_xlabel("Actual")
    ax.set_ylabel("Predicted")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def make_plots(
    task: str,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None,
    classes: Sequence[Any] | None,
    positive_class: Any,
    importances: Sequence[tuple[str, float, float]] | None,
    out_dir: Path | str,
) -> dict[str, Path]:
    """Every plot that fits ``task``, written to ``out_dir/<name>.png``.

    Binary classification: ``roc``, ``pr``, ``calibration`` (these three only when
    ``proba`` is given), ``confusion_matrix``, ``importance``. Multiclass:
    ``confusion_matrix``, ``importance``. Regression: ``residuals``,
    ``predicted_vs_actual``, ``importance``. ``importance`` is left out when
    ``importances`` is empty or None. ``proba`` columns follow ``classes``.
    """
    metrics_for_task(task)  # rejects an unknown task
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots: dict[str, Path] = {}
    if task == "regression":
        plots["residuals"] = residuals_png(y_true, y_pred, out / "residuals.png")
        plots["predicted_vs_actual"] = predicted_vs_actual_png(
            y_true, y_pred, out / "predicted_vs_actual.png"
        )
    else:
        classes = list(classes or [])
        y = np.asarray(y_true).reshape(-1)
        if len(classes) == 2 and proba is not None:
            pos = classes[-1] if positive_class is None else positive_class
            p = np.asarray(proba, dtype=float)
            score = p[:, classes.index(pos)] if p.ndim == 2 else p.reshape(-1)
            y_bin = y == pos
            label = f"positive class = {pos}"
            plots["roc"] = roc_curve_png(y_bin, score, out / "roc.png", label)
            plots["pr"] = pr_curve_png(y_bin, score, out / "pr.png", label)
            plots["calibration"] = calibration_png(y_bin, score, out / "calibration.png")
        cm = confusion(y, y_pred, classes)
        plots["confusion_matrix"] = confusion_matrix_png(
            cm["matrix"], cm["labels"], out / "confusion_matrix.png"
        )
    if importances:
        plots["importance"] = importance_png(importances, out / "importance.png")
    return plots


def shap_png(explanations: Mapping[str, Any], path: Path | str, top: int = 20) -> Path:
    """Horizontal bars of the ``top`` input columns by mean |SHAP| (the ``explanations``
    report section, :mod:`mlctl.evaluate.explain`)."""
    rows = list(explanations.get("features") or [])[:top]
    fig = _new_figure(7.0, max(3.0, 0.32 * len(rows) + 1.5))
    ax = fig.add_subplot()
    ax.set_title(f"SHAP: mean |SHAP| per input column (top {len(rows)})" if rows else "SHAP")
    if not rows:
        _message(ax, explanations.get("unavailable") or "No SHAP values computed")
        return _save(fig, path)
    rows = rows[::-1]  # largest at the top
    names = [_shorten(str(r["feature"])) for r in rows]
    ax.barh(range(len(rows)), [float(r["mean_abs_shap"]) for r in rows], color=_COLOR, alpha=0.85)
    ax.set_yticks(range(len(rows)), names)
    output = explanations.get("output")
    ax.set_xlabel("Mean |SHAP value|" + (f" ({output})" if output else ""))
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
