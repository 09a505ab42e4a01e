"""Global SHAP values of a fitted pipeline, per raw input column (``evaluation.shap``).

The pipeline's last step (the model) is explained on the matrix its preprocessing steps
make, with shap's exact fast explainers: ``TreeExplainer`` for tree ensembles
(path-dependent, no background data) and ``LinearExplainer`` for linear models (a
background sample of training rows). Model kinds neither fits (SVMs, k-NN, multiclass
``GradientBoostingClassifier`` ...) are not explained: a model-agnostic explainer costs
minutes there, and permutation importance already covers every model.

Each model input (a column of that matrix) is then traced back to the raw columns it is
computed from: each raw column is shuffled in turn through the preprocessing steps, and
the model inputs that change are its own. SHAP values are additive, so per row the
values of the inputs that come from one raw column only (its one-hot columns, its
scaled value, a derived feature of it alone) are summed into that column's
contribution; its importance is the mean of that sum's absolute value (summing absolute
values instead would count the one-hot columns' opposite pulls twice). An input
computed from several raw columns (a derived feature such as ``TotalCharges / (tenure
+ 1)``) keeps its own name, with the columns it reads: no split of it among them is
exact. Probability models with two outputs give mirror-image values, and for more
classes the importance is the mean over classes.

``shap`` is optional (``pip install 'mlctl[explain]'``) and imported only here.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlctl.errors import Issue, RecipeError
from mlctl.text import class_text, first_line

KEY = "evaluation.shap"
INSTALL = "pip install 'mlctl[explain]'"
BACKGROUND_ROWS = 100
TRACE_ROWS = 200  # rows shuffled to trace model inputs to raw columns
_FOREST_OUTPUTS = {"probability": "probability", "log_odds": "log-odds", "raw_value": ""}


def shap_installed() -> bool:
    return importlib.util.find_spec("shap") is not None


def check_shap(mode: str) -> None:
    """Fail before training when ``evaluation.shap: on`` and shap is not installed.

    Raises:
        RecipeError: naming the key, what was found and the install command.
    """
    if mode == "on" and not shap_installed():
        raise RecipeError(
            [
                Issue(
                    KEY,
                    "is 'on' but the optional package 'shap' is not installed",
                    hint=f"{INSTALL}, or set {KEY}: auto to explain only when it is",
                )
            ]
        )


def unavailable(reason: str) -> dict[str, Any]:
    return {"method": "shap", "explainer": None, "rows": 0, "features": [], "unavailable": reason}


def explain(
    pipeline: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    *,
    mode: str = "auto",
    max_rows: int = 500,
    seed: int = 0,
    positive_class: Any = None,
) -> dict[str, Any] | None:
    """The ``explanations`` report section: mean |SHAP| per raw input column.

    ``X`` are the rows to explain (the test split; at most ``max_rows``, sampled
    reproducibly from ``seed``), ``background`` rows of the training split (linear
    models measure against their average). None when ``mode`` is ``off``; with
    ``unavailable`` set (and no features) when shap is not installed under ``auto``, or
    when the model cannot be explained.

    Raises:
        RecipeError: ``mode`` is ``on`` and shap is not installed.
    """
    if mode == "off":
        return None
    check_shap(mode)
    if not shap_installed():
        return unavailable(f"the optional package shap is not installed ({INSTALL})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _explain(pipeline, X, background, max_rows, seed, positive_class)
    except _Unsupported as exc:
        return unavailable(str(exc))
    except Exception as exc:  # noqa: BLE001  (the report says why; the run goes on)
        return unavailable(f"shap failed: {type(exc).__name__}: {first_line(exc)}")


class _Unsupported(Exception):
    pass


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    index = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[index]


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=float)


def _explain(
    pipeline: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    max_rows: int,
    seed: int,
    positive_class: Any,
) -> dict[str, Any]:
    if len(X) == 0:
        raise _Unsupported("no test rows to explain")
    head, final = _split(pipeline)
    rows = _sample(X, max_rows, seed)
    matrix = _dense(head.transform(rows) if head is not None else rows)
    models, note = _unwrap(final)
    explainer_name = ""
    values = None
    output = ""
    for model in models:
        part, explainer_name, output = _shap_values(model, head, background, matrix, seed)
        values = part if values is None else values + part
    values = values / len(models)
    groups = _groups(head, rows, matrix.shape[1], seed)
    features = _aggregate(values, groups)
    if values.ndim == 3 and values.shape[2] > 2:
        output += " (mean over classes)"
    elif output and positive_class is not None and output != "the target's units":
        output += f" of class {class_text(positive_class)!r}"
    return {
        "method": "shap",
        "explainer": f"{explainer_name} on {type(models[0]).__name__}{note}",
        "rows": len(rows),
        "output": output or None,
        "features": features,
        "unavailable": None,
    }


def _split(pipeline: Any) -> tuple[Any, Any]:
    """(the preprocessing steps or None, the final estimator)."""
    steps = getattr(pipeline, "steps", None)
    if not steps:
        return None, pipeline
    if len(steps) == 1:
        return None, steps[-1][1]
    return pipeline[:-1], steps[-1][1]


def _unwrap(model: Any) -> tuple[list[Any], str]:
    """The fitted models whose average output to explain, and a note on what was
    unwrapped (a baked-in threshold changes no score; calibration is monotone)."""
    while True:
        kind = type(model).__name__
        if kind in ("FixedThresholdClassifier", "TunedThresholdClassifierCV"):
            model = model.estimator_
        elif kind == "FrozenEstimator":
            model = model.estimator
        elif kind == "CalibratedClassifierCV":
            inner = [c.estimator for c in model.calibrated_classifiers_]
            models = [_unwrap(m)[0][0] for m in inner]
            count = f"the mean of {len(models)} models" if len(models) > 1 else "the model"
            return models, f" ({count} before calibration)"
        else:
            return [model], ""


def _shap_values(
    model: Any, head: Any, background: pd.DataFrame, matrix: np.ndarray, seed: int
) -> tuple[np.ndarray, str, str]:
    """(values of shape (rows, inputs) or (rows, inputs, outputs), explainer, units)."""
    import shap

    regressor = not hasattr(model, "classes_")
    units = "the target's units" if regressor else ""
    if hasattr(model, "coef_") and hasattr(model, "intercept_"):
        bg = _sample(background, BACKGROUND_ROWS, seed)
        bg_matrix = _dense(head.transform(bg) if head is not None else bg)
        explainer = shap.LinearExplainer(model, bg_matrix)
        values = explainer.shap_values(matrix)
        if not regressor:
            logistic = hasattr(model, "predict_proba")
            units = "log-odds" if logistic else "decision value"
        return _stack(values), "LinearExplainer", units
    try:
        explainer = shap.TreeExplainer(model)
    except Exception as exc:  # noqa: BLE001  (shap's InvalidModelError and kin)
        raise _Unsupported(
            f"no fast SHAP explainer for {type(model).__name__} ({first_line(exc)}); "
            "TreeExplainer covers tree ensembles, LinearExplainer linear models"
        ) from exc
    values = explainer.shap_values(matrix, check_additivity=False)
    if not regressor:
        units = _FOREST_OUTPUTS.get(getattr(explainer.model, "tree_output", ""), "")
    return _stack(values), "TreeExplainer", units


def _stack(values: Any) -> np.ndarray:
    if isinstance(values, list):  # older shap: one array per output
        return np.stack([np.asarray(v, dtype=float) for v in values], axis=-1)
    return np.asarray(values, dtype=float)


def _groups(head: Any, rows: pd.DataFrame, width: int, seed: int) -> list[tuple[str, list[str]]]:
    """Per model input, (the name it is reported under, the raw columns it reads)."""
    names = _input_names(head, width)
    if head is None:
        return [(str(c), [str(c)]) for c in rows.columns][:width]
    rows = _sample(rows, TRACE_ROWS, seed)
    rng = np.random.default_rng(seed)
    copies = [rows]  # one transform call for all: the steps' per-call cost dominates
    for column in rows.columns:
        shuffled = rows.copy()
        shuffled[column] = rows[column].iloc[rng.permutation(len(rows))].to_numpy()
        copies.append(shuffled)
    out = _dense(head.transform(pd.concat(copies, ignore_index=True)))
    blocks = out.reshape(len(copies), len(rows), width)
    reads: list[list[str]] = [[] for _ in range(width)]
    for column, block in zip(rows.columns, blocks[1:], strict=True):
        changed = ~np.all(np.isclose(block, blocks[0], equal_nan=True), axis=0)
        for j in np.flatnonzero(changed):
            reads[j].append(str(column))
    groups = []
    for name, columns in zip(names, reads, strict=True):
        if not columns:  # constant over these rows: matched by name
            columns = _by_name(name, [str(c) for c in rows.columns])
        groups.append((columns[0] if len(columns) == 1 else name, sorted(columns)))
    return groups


def _input_names(head: Any, width: int) -> list[str]:
    try:
        names = [str(n) for n in head.get_feature_names_out()]
    except Exception:  # noqa: BLE001  (a step without feature names)
        names = []
    if len(names) != width:
        return [f"x{i}" for i in range(width)]
    return [n.split("__", 1)[-1] for n in names]


def _by_name(name: str, columns: list[str]) -> list[str]:
    """The raw column a model input's name comes from: ``Contract_Two year`` and
    ``missingindicator_tenure`` by the longest column name that fits."""
    fits = [
        c
        for c in columns
        if name == c or name.startswith(c + "_") or name == f"missingindicator_{c}"
    ]
    return [max(fits, key=len)] if fits else []


def _aggregate(values: np.ndarray, groups: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """Per reported name: the mean over rows (and classes) of |sum of its inputs' values|."""
    order: dict[str, list[int]] = {}
    reads: dict[str, list[str]] = {}
    for j, (name, columns) in enumerate(groups):
        order.setdefault(name, []).append(j)
        reads.setdefault(name, columns)
    features = []
    for name, index in order.items():
        summed = values[:, index].sum(axis=1)  # (rows,) or (rows, outputs)
        importance = float(np.mean(np.abs(summed)))
        features.append(
            {"feature": name, "mean_abs_shap": importance, "inputs": reads[name] or [name]}
        )
    features.sort(key=lambda f: (-f["mean_abs_shap"], f["feature"]))
    return features


def add_explanations(
    ctx: dict[str, Any],
    evaluation: Any,
    pipeline: Any,
    X: pd.DataFrame,
    background: pd.DataFrame,
    out_dir: Path | str,
    seed: int = 0,
    positive_class: Any = None,
) -> None:
    """Put ``explanations`` (and the ``shap`` plot, in ``ctx["plots"]``) into a run's
    report context, as the recipe's ``evaluation`` section asks."""
    from mlctl.evaluate.plots import shap_png

    result = explain(
        pipeline,
        X,
        background,
        mode=evaluation.shap,
        max_rows=evaluation.shap_max_rows,
        seed=seed,
        positive_class=positive_class,
    )
    if result is None:
        return
    ctx["explanations"] = result
    if result["features"]:
        plots: dict[str, Any] = ctx.setdefault("plots", {})
        plots["shap"] = shap_png(result, Path(out_dir) / "shap.png")
