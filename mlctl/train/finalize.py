"""The winner made final: the calibration step, then the decision threshold.

Both are decided on out-of-fold predictions of the training split, with the recipe's
cross-validation folds and seed, never on the test set (docs/evaluation.md):

1. Calibration (``evaluation.calibration``, classification). ``sigmoid`` or
   ``isotonic`` replace the pipeline's final estimator by
   ``CalibratedClassifierCV(<an unfitted clone of it>, method, cv=<the recipe's
   folds>)`` and refit the pipeline on the training split. ``auto`` does so only when
   the winner's out-of-fold probabilities are measurably miscalibrated (see
   :func:`recalibration_gain`); ``none`` leaves the winner as it is.
2. Threshold (``evaluation.threshold``, binary classification). A number is used as
   given; ``{optimize: f1 | youden | cost}`` is chosen by
   :func:`mlctl.evaluate.threshold.choose` on the out-of-fold probabilities of the
   final (calibrated or not) pipeline. Either is baked into the pipeline with
   ``FixedThresholdClassifier`` (:func:`mlctl.train.trainer.with_threshold`), so the
   registered model's ``predict`` answers with it wherever it is loaded.

The out-of-fold fits run in ``tuning.n_jobs`` worker processes on this machine (a
Dask session has closed by now; these are a few fits of one pipeline).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlctl import interrupts
from mlctl.data.prepare import Dataset
from mlctl.errors import Issue, RecipeError
from mlctl.evaluate import threshold as th
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.schema import Recipe, ThresholdChoice
from mlctl.train.search import ProgressFn, SearchResult, cv_splitter
from mlctl.train.trainer import with_threshold

#: ``auto`` calibrates when a recalibration lowers the out-of-fold Brier score by at
#: least this many standard errors of the paired difference ...
MIN_Z = 2.0
#: ... and by at least this share of the Brier score itself.
MIN_GAIN = 0.01


@dataclass
class OutOfFold:
    """Out-of-fold probabilities: ``rows`` (positions in the training split) and
    ``proba`` (columns in the order of ``classes``)."""

    rows: np.ndarray
    proba: np.ndarray
    classes: list[Any]
    folds: int
    y: np.ndarray  # the rows' true classes


@dataclass
class Final:
    """The final pipeline and what the report says about how it was made."""

    pipeline: Any
    threshold: float | None = None  # the binary decision threshold baked in
    calibration_step: dict[str, Any] | None = None
    analysis: dict[str, Any] | None = None  # threshold_analysis without the test figures
    notes: list[str] = field(default_factory=list)

    def context(self, best: Any, data: Dataset) -> dict[str, Any]:
        """The report's ``threshold``, ``calibration_step`` and ``threshold_analysis``
        (its ``at_chosen`` and ``at_default`` on the test set: ``best.proba``, columns
        in the order of ``best.classes``)."""
        out: dict[str, Any] = {"threshold": self.threshold}
        if self.calibration_step is not None:
            out["calibration_step"] = self.calibration_step
        if self.analysis is None or best.proba is None or self.threshold is None:
            return out
        score = np.asarray(best.proba)[:, list(best.classes).index(data.positive_class)]
        y = np.asarray(data.y_test) == data.positive_class
        costs = self.analysis["costs"]
        a = dict(self.analysis)
        curve = a.pop("curve")
        a["at_chosen"] = th.point(y, score, self.threshold, costs)
        a["at_default"] = th.point(y, score, 0.5, costs)
        a["curve"] = curve
        out["threshold_analysis"] = a
        return out

    def into(self, ctx: dict[str, Any], best: Any, data: Dataset, out: Path) -> None:
        """:meth:`context` into the report's ``ctx``, and the "threshold" plot (written
        to ``out/threshold.png``) into ``ctx["plots"]``."""
        found = self.context(best, data)
        ctx.update(found)
        if "threshold_analysis" in found:
            path = th.threshold_png(found["threshold_analysis"], Path(out) / "threshold.png")
            ctx.setdefault("plots", {})["threshold"] = path


def check_threshold_task(loaded: LoadedRecipe, data: Dataset) -> None:
    """Refuse ``threshold: {optimize: ...}`` for a target of more than two classes
    (known once the data is read; regression is refused by the recipe checks).

    Raises:
        RecipeError: naming ``evaluation.threshold``.
    """
    r = loaded.recipe
    if isinstance(r.evaluation.threshold, ThresholdChoice) and not data.is_binary:
        path = "evaluation.threshold"
        message = (
            f"a decision threshold is chosen for two classes only; target "
            f"'{r.data.target}' has {len(data.classes)} classes"
        )
        hint = "remove evaluation.threshold: the most probable class is predicted"
        raise RecipeError([Issue(path, message, loaded.location(path), hint)])


def decision_threshold(recipe: Recipe, model: Any) -> float:
    """The binary threshold ``model`` answers with: the one baked into its last step
    (``FixedThresholdClassifier``), else the recipe's number, else 0.5."""
    from sklearn.model_selection import FixedThresholdClassifier

    last = model.steps[-1][1] if hasattr(model, "steps") else model
    if isinstance(last, FixedThresholdClassifier) and isinstance(last.threshold, float | int):
        return float(last.threshold)
    fixed = recipe.evaluation.threshold
    return float(fixed) if isinstance(fixed, float | int) else 0.5


def finalize(
    recipe: Recipe, winner: SearchResult, data: Dataset, on_event: ProgressFn | None = None
) -> Final:
    """Calibrate (when asked) and bake the decision threshold into the winner's
    pipeline; see the module docstring. Notes for the user go to ``data.notes``."""
    emit = on_event or (lambda kind, info: None)
    pipeline = winner.best_estimator
    if recipe.task != "classification":
        return Final(pipeline)
    oof = _OofCache(recipe, data)
    if data.is_binary or recipe.evaluation.calibration != "none":
        emit("stage", {"message": "calibration and decision threshold on out-of-fold rows"})
    pipeline, step = _calibrate(recipe, pipeline, data, oof)
    final = Final(pipeline, calibration_step=step)
    if not data.is_binary:
        return final
    choice = recipe.evaluation.threshold
    has_proba = hasattr(pipeline, "predict_proba")
    before = oof.get(winner.best_estimator) if step["applied"] is None and has_proba else None
    if step["brier_oof_before"] is None and before is not None:
        step["brier_oof_before"] = _brier(before, data.positive_class)
    if not has_proba:
        if isinstance(choice, ThresholdChoice):
            data.notes.append(
                f"evaluation.threshold: {choice.optimize} needs probabilities and "
                f"{winner.estimator} gives none; it predicts with its own rule (set "
                "evaluation.calibration: sigmoid to give it probabilities)"
            )
        final.threshold = float(choice) if not isinstance(choice, ThresholdChoice) else 0.5
        return final
    probs = oof.get(pipeline) if step["applied"] else before
    y = probs.y == data.positive_class
    score = probs.proba[:, probs.classes.index(data.positive_class)]
    costs = dict(choice.costs) if isinstance(choice, ThresholdChoice) and choice.costs else None
    if isinstance(choice, ThresholdChoice):
        chosen = th.choose(y, score, choice.optimize, costs)
    else:
        chosen = float(choice)
    final.pipeline = with_threshold(
        pipeline, chosen, data.positive_class, data.X_train, data.y_train
    )
    final.threshold = chosen
    final.analysis = {
        "method": choice.optimize if isinstance(choice, ThresholdChoice) else "fixed",
        "chosen": chosen,
        "costs": costs,
        "source": _source(recipe, probs),
        "curve": th.curve(y, score, costs),
    }
    return final


def _source(recipe: Recipe, oof: OutOfFold) -> str:
    kind = ", time-ordered" if recipe.split.strategy == "time" else ""
    return f"out-of-fold probabilities of {len(oof.rows):,} training rows ({oof.folds} folds{kind})"


# --------------------------------------------------------------------------- calibration


def _calibrate(
    recipe: Recipe, pipeline: Any, data: Dataset, oof: _OofCache
) -> tuple[Any, dict[str, Any]]:
    requested = recipe.evaluation.calibration
    step: dict[str, Any] = {
        "requested": requested,
        "applied": None,
        "reason": "",
        "brier_oof_before": None,
        "brier_oof_after": None,
    }
    if requested == "none":
        step["reason"] = "evaluation.calibration is none"
        return pipeline, step
    if not hasattr(pipeline, "predict_proba"):
        method = "sigmoid" if requested == "auto" else requested
        step["reason"] = (
            "the winner gives no probabilities, only a decision function: "
            f"{method} calibration turns it into probabilities"
        )
    elif requested == "auto":
        before = oof.get(pipeline)
        gains = {m: recalibration_gain(before, m, recipe.seed) for m in ("sigmoid", "isotonic")}
        best = max(gains, key=lambda m: gains[m]["gain"])
        g = gains[best]
        step["brier_oof_before"] = g["before"]
        method = best if g["significant"] else None
        step["reason"] = _auto_reason(best, g)
    else:
        method = requested
        step["reason"] = f"evaluation.calibration is {requested}"
        step["brier_oof_before"] = _brier(oof.get(pipeline), data.positive_class)
    if method is None:
        return pipeline, step
    calibrated = calibrated_pipeline(pipeline, method, oof.cv)
    calibrated.set_params(**{f"{_last(calibrated)}__n_jobs": recipe.tuning.n_jobs})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        calibrated.fit(data.X_train, data.y_train)
    calibrated.set_params(**{f"{_last(calibrated)}__n_jobs": None})  # as logged
    step["applied"] = method
    step["brier_oof_after"] = _brier(oof.get(calibrated), data.positive_class)
    return calibrated, step


def _auto_reason(method: str, g: dict[str, Any]) -> str:
    change = (
        f"{method} recalibration of the out-of-fold probabilities (fitted on other folds) "
        f"moves their Brier score from {g['before']:.4f} to {g['after']:.4f}"
    )
    if g["significant"]:
        return f"{change}, a gain of {g['z']:.1f} standard errors: calibrated with {method}"
    return (
        f"{change} (a gain of {g['z']:+.1f} standard errors; auto calibrates from {MIN_Z:g} "
        f"standard errors and a {MIN_GAIN:.0%} gain): left as it is"
    )


def _last(pipeline: Any) -> str:
    return pipeline.steps[-1][0]


def calibrated_pipeline(pipeline: Any, method: str, cv: Any) -> Any:
    """An unfitted copy of ``pipeline`` whose final estimator (an unfitted clone, with
    its best params) is wrapped in ``CalibratedClassifierCV(method, cv)``."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV

    name, estimator = pipeline.steps[-1]
    wrapped = CalibratedClassifierCV(clone(estimator), method=method, cv=cv)
    return clone(pipeline).set_params(**{name: wrapped})


def recalibration_gain(oof: OutOfFold, method: str, seed: int = 0) -> dict[str, Any]:
    """How much ``method`` recalibration lowers the Brier score of out-of-fold
    probabilities, measured honestly: each row's recalibrated probability comes from a
    map (Platt's logistic on the log-odds, or isotonic) fitted on the other folds'
    rows. Binary: the positive (second) class; more classes: one against the rest,
    then normalized, as ``CalibratedClassifierCV`` does.

    Returns ``before`` and ``after`` (Brier scores), ``gain`` (their difference), ``z``
    (the gain in standard errors of the rows' paired differences) and ``significant``
    (``z >= MIN_Z`` and a gain of at least ``MIN_GAIN`` of ``before``).
    """
    from sklearn.model_selection import StratifiedKFold

    proba, y, classes = oof.proba, oof.y, list(oof.classes)
    onehot = (np.asarray(y)[:, None] == np.asarray(classes)[None, :]).astype(float)
    columns = [1] if len(classes) == 2 else list(range(len(classes)))
    after = np.array(proba, dtype=float)
    folds = StratifiedKFold(n_splits=max(2, min(oof.folds, 10)), shuffle=True, random_state=seed)
    for fit_rows, held in folds.split(proba, np.asarray(y)):
        for k in columns:
            mapper = _mapper(method, proba[fit_rows, k], onehot[fit_rows, k])
            after[held, k] = mapper(proba[held, k])
    if len(classes) == 2:
        after[:, 0] = 1.0 - after[:, 1]
    else:
        total = after.sum(axis=1, keepdims=True)
        after = np.where(total > 0, after / np.where(total > 0, total, 1.0), 1.0 / len(classes))
    per_before = _brier_rows(proba, onehot)
    per_after = _brier_rows(after, onehot)
    diff = per_before - per_after
    gain = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0
    z = gain / se if se > 0 else (math.inf if gain > 0 else 0.0)
    before = float(per_before.mean())
    return {
        "before": before,
        "after": float(per_after.mean()),
        "gain": gain,
        "z": z,
        "significant": bool(z >= MIN_Z and gain >= MIN_GAIN * before),
    }


def _mapper(method: str, score: np.ndarray, target: np.ndarray):
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, target)
        return iso.predict
    from sklearn.linear_model import LogisticRegression

    def logit(p: np.ndarray) -> np.ndarray:
        q = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(q / (1 - q)).reshape(-1, 1)

    if target.min() == target.max():  # one class in these rows: nothing to fit
        return lambda p: np.full(len(p), float(target[0]))
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(logit(score), target)
    return lambda p: lr.predict_proba(logit(p))[:, 1]


def _brier_rows(proba: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Each row's Brier score: (p - y)^2 of the second class for two classes, the sum
    over classes for more (sklearn's ``brier_score_loss`` averages these)."""
    if proba.shape[1] == 2:
        return (proba[:, 1] - onehot[:, 1]) ** 2
    return ((proba - onehot) ** 2).sum(axis=1)


def _brier(oof: OutOfFold | None, positive: Any) -> float | None:
    if oof is None:
        return None
    y = np.asarray(oof.y)
    classes = oof.classes
    if len(classes) == 2:  # the positive class's column, whichever it is
        p = oof.proba[:, classes.index(positive)]
        return float(np.mean((p - (y == positive)) ** 2))
    onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(float)
    return float(_brier_rows(oof.proba, onehot).mean())


# --------------------------------------------------------------------------- out of fold


class _OofCache:
    """Out-of-fold probabilities of pipelines on the training split, computed once each."""

    def __init__(self, recipe: Recipe, data: Dataset) -> None:
        r = recipe
        self.cv = cv_splitter(r.task, r.split.strategy, r.models.cv_folds, r.seed)
        self.n_jobs = r.tuning.n_jobs
        self.data = data
        self._done: dict[int, OutOfFold] = {}

    def get(self, pipeline: Any) -> OutOfFold:
        key = id(pipeline)
        if key not in self._done:
            self._done[key] = out_of_fold(
                pipeline, self.data.X_train, self.data.y_train, self.cv, self.n_jobs
            )
        return self._done[key]


def out_of_fold(pipeline: Any, X: Any, y: Any, cv: Any, n_jobs: int | None = None) -> OutOfFold:
    """Each row's probabilities from an unfitted clone of ``pipeline`` fitted on the
    other folds (``cv``: a splitter; rows in no test fold, the first block of a
    time-ordered split, are left out). Columns follow the classes of ``y``."""
    from joblib import Parallel, delayed
    from sklearn.base import clone

    interrupts.checkpoint("finalize")
    classes = sorted(np.unique(np.asarray(y)).tolist())
    splits = list(cv.split(X, y))
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(clone(pipeline), X, y, train, test, classes) for train, test in splits
    )
    rows = np.concatenate([test for _, test in splits])
    proba = np.concatenate(parts)
    order = np.argsort(rows, kind="stable")
    return OutOfFold(rows[order], proba[order], classes, len(splits), np.asarray(y)[rows[order]])


def _fit_predict(
    pipeline: Any, X: Any, y: Any, train: np.ndarray, test: np.ndarray, classes: list[Any]
) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pipeline.fit(X.iloc[train], y.iloc[train])
        proba = np.asarray(pipeline.predict_proba(X.iloc[test]), dtype=float)
    out = np.zeros((len(test), len(classes)))
    for j, c in enumerate(list(pipeline.classes_)):  # a fold may miss a class
        out[:, classes.index(c)] = proba[:, j]
    return out
