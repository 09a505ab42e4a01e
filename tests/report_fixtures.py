"""A realistic model-report context with every section (issue 17's contract), and real
PNGs for it, shared by the report's unit tests and the browser test.

The numbers come from synthetic churn-like scores (seeded): the threshold curve,
calibration bins and lift deciles are computed from the same arrays, so they agree
with each other and with the plots. Plots are drawn by the producers' own functions
when they exist (``mlctl.evaluate.threshold``, ``mlctl.evaluate.insight_plots``), else
by the small stand-ins below from the same context.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
           "balanced_accuracy")  # fmt: skip


def scores(n: int = 1409, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(y as 0/1, predicted probability of 1) for ``n`` test rows, base rate ~0.27."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.27).astype(int)
    logit = rng.normal(-1.4, 1.0, n) + 2.2 * y
    return y, 1 / (1 + np.exp(-logit))


def _point(y: np.ndarray, p: np.ndarray, t: float, costs: dict | None) -> dict[str, Any]:
    pred = p >= t
    tp, fp = int(np.sum(pred & (y == 1))), int(np.sum(pred & (y == 0)))
    fn, tn = int(np.sum(~pred & (y == 1))), int(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn)
    f1 = 2 * tp / (2 * tp + fp + fn)
    cost = (costs["fp"] * fp + costs["fn"] * fn) / len(y) if costs else None
    return {"threshold": t, "precision": precision, "recall": recall, "f1": f1,
            "specificity": tn / (tn + fp), "cost": cost}  # fmt: skip


def _lift(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    order = np.argsort(-p, kind="stable")
    parts = np.array_split(y[order], 10)
    base = float(y.mean())
    bins, found, seen = [], 0, 0
    for decile, part in enumerate(parts, start=1):
        found += int(part.sum())
        seen += len(part)
        rate = float(part.mean())
        bins.append({"decile": decile, "rows": len(part), "positives": int(part.sum()),
                     "rate": rate, "lift": rate / base, "cumulative_lift": found / seen / base,
                     "gain": found / int(y.sum())})  # fmt: skip
    return {"base_rate": base, "bins": bins}


def _calibration(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    order = np.argsort(p, kind="stable")
    bins = []
    ece = 0.0
    for part in np.array_split(order, 10):
        mean_p, frac = float(p[part].mean()), float(y[part].mean())
        ece += len(part) / len(y) * abs(mean_p - frac)
        bins.append({"mean_predicted": mean_p, "fraction_positive": frac, "rows": len(part)})
    base = float(y.mean())
    return {"brier": float(np.mean((p - y) ** 2)), "brier_reference": base * (1 - base),
            "ece": ece, "bins": bins}  # fmt: skip


def full_context() -> dict[str, Any]:
    """A churn run's report context with every key the report renders."""
    y, p = scores()
    costs = {"fp": 1.0, "fn": 5.0}
    curve = [_point(y, p, t, costs) for t in np.linspace(0.01, 0.99, 99)]
    chosen = min(curve, key=lambda r: r["cost"])["threshold"]
    at_chosen = {k: v for k, v in _point(y, p, chosen, costs).items() if k != "threshold"}
    at_default = {k: v for k, v in _point(y, p, 0.5, costs).items() if k != "threshold"}
    pred = (p >= chosen).astype(int)
    matrix = [[int(np.sum((y == a) & (pred == b))) for b in (0, 1)] for a in (0, 1)]
    test = {"accuracy": float(np.mean(pred == y)), "precision": at_chosen["precision"],
            "recall": at_chosen["recall"], "f1": at_chosen["f1"], "roc_auc": 0.8467,
            "pr_auc": 0.6623, "log_loss": 0.4135, "balanced_accuracy": 0.7712}  # fmt: skip

    def row(name, estimator, cv, std, shift, params, seconds, **flags):
        return {"candidate": name, "estimator": estimator, "cv_mean": cv, "cv_std": std,
                "test": {m: (v if m == "log_loss" else max(0.0, v - shift)) for m, v in test.items()},
                "best_params": params, "fit_seconds": seconds, "is_winner": False,
                "is_baseline": False, "error": None, **flags}  # fmt: skip

    leaderboard = [
        row("gbm", "gradient_boosting", 0.850123, 0.011234, 0.0,
            {"model__learning_rate": 0.047377279007281566, "model__max_depth": 2,
             "model__n_estimators": 200, "model__subsample": 1.0,
             "model__max_features": "sqrt", "model__min_samples_leaf": 20,
             "model__loss": "log_loss", "model__validation_fraction": 0.1},
            48.7312, is_winner=True),
        row("logreg", "logistic_regression", 0.8431, 0.0098, 0.004,
            {"model__C": 7.114476009343421, "model__solver": "lbfgs",
             "model__class_weight": "balanced_subsample_with_a_long_name"}, 3.2),
        row("random_forest_with_a_long_candidate_name", "random_forest", 0.8402, 0.0131, 0.01,
            {"model__min_samples_leaf": 20, "model__max_features": "sqrt",
             "model__max_depth": 10, "model__n_estimators": 200}, 1234.5678),
        row("mlp", "sklearn.neural_network.MLPClassifier", float("nan"), float("nan"), 0.0,
            {}, 0.5, error="ValueError: Solver produced non-finite parameter weights"),
        row("baseline", "dummy", 0.5, 0.0, 0.3, {}, 0.0123, is_baseline=True),
    ]  # fmt: skip
    leaderboard[3]["test"] = {}
    return {
        "name": "churn",
        "task": "classification",
        "model_name": "gbm (gradient_boosting)",
        "run_id": "7ec40830830d4c8bb78973678168e1af",
        "created": "2026-12-06T01:53:04+00:00",
        "mlctl_version": "0.1.0",
        "data": {
            "source": "/home/analyst/projects/churn/data/telco/"
            "WA_Fn-UseC_-Telco-Customer-Churn.csv",
            "files": 1,
            "rows": 7043,
            "train_rows": 5634,
            "test_rows": 1409,
            "fingerprint": "88be4b93fbe0cc83421af1c503794c97c342eca914c1576db7c276e61d61358a",
        },  # fmt: skip
        "selection_metric": "roc_auc",
        "leaderboard": leaderboard,
        "test_metrics": test,
        "threshold": chosen,
        "confusion": {"labels": ["No", "Yes"], "matrix": matrix},
        "importance": [
            ("Contract", 0.0621, 0.0043),
            ("tenure", 0.0412, 0.0031),
            ("InternetService", 0.0233, 0.0027),
            ("MonthlyCharges", 0.0104, 0.0019),
            ("PaymentMethod", 0.0061, 0.0012),
            ("TechSupport", 0.0048, 0.0010),
            ("gender", -2.558e-05, 0.0002),
        ],  # fmt: skip
        "gate": {
            "passed": True,
            "checks": [
                {
                    "name": "test min_roc_auc",
                    "actual": 0.8467,
                    "required": 0.8,
                    "op": ">=",
                    "passed": True,
                    "detail": "",
                },
                {
                    "name": "cv min_roc_auc",
                    "actual": 0.8276,
                    "required": 0.78,
                    "op": ">=",
                    "passed": True,
                    "detail": "mean 0.8501 - 2 x std 0.0112",
                },
                {
                    "name": "beats baseline",
                    "actual": 0.8467,
                    "required": 0.6,
                    "op": ">=",
                    "passed": True,
                    "detail": "baseline 0.5000, margin 0.1",
                },
            ],
        },  # fmt: skip
        "registered": {"name": "churn", "version": 3, "aliases": ["challenger"]},
        "threshold_analysis": {
            "method": "cost",
            "chosen": chosen,
            "costs": costs,
            "source": "out-of-fold probabilities of 5,634 training rows (5 folds)",
            "at_chosen": at_chosen,
            "at_default": at_default,
            "curve": curve,
        },  # fmt: skip
        "calibration_step": {
            "requested": "auto",
            "applied": "isotonic",
            "reason": "out-of-fold ECE 0.0612 above 0.05",
            "brier_oof_before": 0.1423,
            "brier_oof_after": 0.1371,
        },  # fmt: skip
        "calibration": _calibration(y, p),
        "lift": _lift(y, p),
        "segments": {
            "metric": "roc_auc",
            "whole": 0.8467,
            "max_gap": 0.05,
            "rows": [
                {
                    "column": "Contract",
                    "value": "Month-to-month",
                    "rows": 774,
                    "positive_rate": 0.4251,
                    "score": 0.7689,
                    "gap": -0.0778,
                    "flagged": True,
                    "note": None,
                },
                {
                    "column": "Contract",
                    "value": "One year",
                    "rows": 297,
                    "positive_rate": 0.1145,
                    "score": 0.8234,
                    "gap": -0.0233,
                    "flagged": False,
                    "note": None,
                },
                {
                    "column": "Contract",
                    "value": "Two year",
                    "rows": 338,
                    "positive_rate": 0.0266,
                    "score": 0.8561,
                    "gap": 0.0094,
                    "flagged": False,
                    "note": None,
                },
                {
                    "column": "gender",
                    "value": "(other)",
                    "rows": 12,
                    "positive_rate": None,
                    "score": None,
                    "gap": None,
                    "flagged": False,
                    "note": "3 values under 30 rows pooled; one class only: score undefined",
                },
            ],
        },  # fmt: skip
        "learning_curve": {
            "metric": "roc_auc",
            "slope": 0.0042,
            "verdict": "flat: more rows of the same data would help little",
            "points": [
                {"train_rows": n, "score": s}
                for n, s in (
                    (563, 0.8121),
                    (1126, 0.8302),
                    (2253, 0.8398),
                    (4507, 0.8471),
                    (5634, 0.8489),
                )
            ],
        },  # fmt: skip
        "explanations": {
            "method": "shap",
            "explainer": "TreeExplainer on GradientBoostingClassifier",
            "rows": 500,
            "output": "log-odds of class 'Yes'",
            "unavailable": None,
            "features": [
                {"feature": "Contract", "mean_abs_shap": 0.5929, "inputs": ["Contract"]},
                {
                    "feature": "charge_drift",
                    "mean_abs_shap": 0.2696,
                    "inputs": ["MonthlyCharges", "TotalCharges", "tenure"],
                },
                {"feature": "tenure", "mean_abs_shap": 0.2618, "inputs": ["tenure"]},
                {
                    "feature": "InternetService",
                    "mean_abs_shap": 0.2318,
                    "inputs": ["InternetService"],
                },
                {
                    "feature": "OnlineSecurity",
                    "mean_abs_shap": 0.2035,
                    "inputs": ["OnlineSecurity"],
                },
                {
                    "feature": "avg_monthly_spend",
                    "mean_abs_shap": 0.0533,
                    "inputs": ["TotalCharges", "tenure"],
                },
                {"feature": "gender", "mean_abs_shap": 0.0, "inputs": ["gender"]},
            ],
        },  # fmt: skip
        "recommendations": [
            {
                "topic": "imbalance",
                "severity": "info",
                "figure": "base rate 0.2654",
                "text": "Positives are a quarter of the rows: read precision and recall, not accuracy.",
            },
            {
                "topic": "threshold",
                "severity": "warn",
                "figure": f"threshold {chosen:.4f}, cost -0.21",
                "text": "The cost-optimal threshold is far from 0.5; check the costs with the business.",
            },
            {
                "topic": "segments",
                "severity": "warn",
                "figure": "Contract=Month-to-month gap -0.0778",
                "text": "Month-to-month customers score well below the whole test set.",
            },
            {
                "topic": "learning curve",
                "severity": "info",
                "figure": "slope 0.0042 per doubling",
                "text": "More rows of the same data would help little; try new features.",
            },
        ],  # fmt: skip
    }


def _figure(width: float = 6.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _producer(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _threshold_png(analysis: dict[str, Any], path: Path) -> Path:
    fig, ax = _figure()
    ts = [r["threshold"] for r in analysis["curve"]]
    for key in ("precision", "recall", "f1"):
        ax.plot(ts, [r[key] for r in analysis["curve"]], label=key)
    ax.axvline(analysis["chosen"], ls="--", color="#888888", label="chosen")
    ax.set_xlabel("Threshold")
    ax.legend()
    return _save(fig, path)


def _gain_png(lift: dict[str, Any], path: Path) -> Path:
    fig, ax = _figure()
    ax.plot([0] + [b["decile"] / 10 for b in lift["bins"]], [0] + [b["gain"] for b in lift["bins"]],
            marker="o", label="model")  # fmt: skip
    ax.plot([0, 1], [0, 1], ls="--", color="#888888", label="random")
    ax.set_xlabel("Share of rows contacted")
    ax.legend()
    return _save(fig, path)


def _lift_png(lift: dict[str, Any], path: Path) -> Path:
    fig, ax = _figure()
    ax.bar([b["decile"] for b in lift["bins"]], [b["lift"] for b in lift["bins"]])
    ax.axhline(1, ls="--", color="#888888")
    ax.set_xlabel("Decile")
    return _save(fig, path)


def _learning_png(lc: dict[str, Any], path: Path) -> Path:
    fig, ax = _figure()
    ax.plot([q["train_rows"] for q in lc["points"]], [q["score"] for q in lc["points"]], marker="o")
    ax.set_xlabel("Training rows")
    return _save(fig, path)


def full_plots(ctx: dict[str, Any], out: Path) -> dict[str, Path]:
    """Every plot the report shows, as real PNGs under ``out``."""
    from mlctl.evaluate.plots import importance_png, make_plots, shap_png

    out.mkdir(parents=True, exist_ok=True)
    y, p = scores()
    labels = np.where(y == 1, "Yes", "No")
    pred = np.where(p >= ctx["threshold"], "Yes", "No")
    plots = make_plots("classification", labels, pred, np.column_stack([1 - p, p]),
                       ["No", "Yes"], "Yes", None, out)  # fmt: skip
    plots["importance"] = importance_png(ctx["importance"], out / "importance.png")
    plots["shap"] = shap_png(ctx["explanations"], out / "shap.png")
    threshold_png = _producer("mlctl.evaluate.threshold", "threshold_png") or _threshold_png
    plots["threshold"] = threshold_png(ctx["threshold_analysis"], out / "threshold.png")
    gain = _producer("mlctl.evaluate.insight_plots", "gain_png") or _gain_png
    lift = _producer("mlctl.evaluate.insight_plots", "lift_png") or _lift_png
    learning = _producer("mlctl.evaluate.insight_plots", "learning_curve_png") or _learning_png
    plots["gain"] = gain(ctx["lift"], out / "gain.png")
    plots["lift"] = lift(ctx["lift"], out / "lift.png")
    plots["learning_curve"] = learning(ctx["learning_curve"], out / "learning_curve.png")
    return plots
