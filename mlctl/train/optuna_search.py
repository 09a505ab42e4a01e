"""Optuna tuning of one candidate: TPE sampling, median pruning after each fold.

Each trial cross-validates one setting fold by fold and reports the running mean,
so Optuna can stop an unpromising trial early; trials run in threads (sklearn
releases the GIL in its heavy parts). The best setting is refit on the whole
training split, exactly as sklearn's searches do.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlctl.errors import RecipeError
from mlctl.features.build import MODEL_STEP
from mlctl.recipe.schema import Distribution, Tuning
from mlctl.train.search import Budget, SearchResult


def suggest(trial: Any, name: str, space: list[Any] | Distribution) -> Any:
    """One value for ``name`` from a recipe search space."""
    if isinstance(space, list):
        return trial.suggest_categorical(name, space)
    if space.is_int:
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.is_log)
    return trial.suggest_float(name, space.low, space.high, log=space.is_log)


def _study(name: str, tuning: Tuning, seed: int):
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)  # the CLI shows progress itself
    sampler = optuna.samplers.TPESampler(
        seed=tuning.sampler_seed if tuning.sampler_seed is not None else seed
    )
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
        if tuning.pruning
        else optuna.pruners.NopPruner()
    )
    try:
        return optuna.create_study(
            direction="maximize",  # scores are sklearn's: greater is better
            sampler=sampler,
            pruner=pruner,
            storage=tuning.storage,
            study_name=name if tuning.storage else None,
            load_if_exists=bool(tuning.storage),
        )
    except Exception as exc:  # a bad storage URL surfaces as many error types
        raise RecipeError(
            f"tuning.storage: cannot open Optuna storage '{tuning.storage}': "
            f"{str(exc).strip().splitlines()[0][:200]}"
        ) from None


def run_optuna(
    name: str,
    estimator_label: str,
    pipeline: Any,
    search: dict[str, list[Any] | Distribution],
    *,
    X: Any,
    y: Any,
    scorer: Callable[..., float],
    metric_sign: float,
    cv: Any,
    tuning: Tuning,
    study_name: str,
    seed: int,
    queue: Any = None,
    session: Any = None,
    budget: Budget | None = None,
) -> SearchResult:
    """Tune one candidate with Optuna; returns its best CV scores and refit pipeline.

    Trials run in threads here; each fold's fit and score runs through ``session``
    (:mod:`mlctl.compute.session`): in the trial's thread locally, on a worker on a
    Dask cluster (the training data is sent to each worker once). Folds stay
    sequential within a trial, so pruning after each fold works the same on both.
    """
    import optuna
    from sklearn.base import clone

    from mlctl.compute.session import LocalSession

    session = session or LocalSession()
    started = time.perf_counter()
    folds = list(cv.split(X, y))
    X_shared, y_shared = session.share(X), session.share(y)

    def objective(trial: Any) -> float:
        params = {f"{MODEL_STEP}__{k}": suggest(trial, k, s) for k, s in search.items()}
        scores: list[float] = []
        for step, (train, test) in enumerate(folds):
            args = (pipeline, params, X_shared, y_shared, train, test, scorer)
            scores.append(session.call(fit_and_score, *args))
            if queue is not None:
                with contextlib.suppress(Exception):
                    queue.put(name)
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("cv_scores", scores)
        return float(np.mean(scores))

    budget = budget or Budget(None)
    if budget.spent():
        return _out_of_time(name, estimator_label, budget, tuning.n_trials, started)

    def stop_when_spent(study: Any, trial: Any) -> None:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            budget.scored = True
        if budget.spent():
            study.stop()

    study = _study(study_name, tuning, seed)
    n_jobs = tuning.n_jobs if tuning.n_jobs > 0 else session.cores
    before = len(study.trials)  # a resumed study (tuning.storage) holds earlier trials
    study.optimize(
        objective,
        n_trials=tuning.n_trials,
        timeout=tuning.timeout,
        n_jobs=n_jobs,
        catch=(ValueError, ArithmeticError),  # one bad setting must not end the search
        callbacks=[stop_when_spent],
    )
    notes = []
    ran = len(study.trials) - before
    if budget.seconds is not None and ran < tuning.n_trials and budget.spent():
        notes.append(budget.skip_note(tuning.n_trials - ran, tuning.n_trials))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        states = sorted({t.state.name for t in study.trials})
        raise ValueError(f"no Optuna trial completed (trial states: {', '.join(states)})")
    best = study.best_trial
    params = dict(best.params)
    refit = clone(pipeline).set_params(**{f"{MODEL_STEP}__{k}": v for k, v in params.items()})
    refit.fit(X, y)
    scores = [s * metric_sign for s in best.user_attrs.get("cv_scores", [best.value])]
    return SearchResult(
        name=name,
        estimator=estimator_label,
        cv_mean=float(np.mean(scores)),
        cv_std=float(np.std(scores)),
        best_params=params,
        best_estimator=refit,
        n_settings=len(study.trials),
        fit_seconds=time.perf_counter() - started,
        cv_scores=scores,
        trials=[_trial_row(t, metric_sign) for t in study.trials],
        notes=notes,
        skipped=max(0, tuning.n_trials - ran) if notes else 0,
    )


def _out_of_time(
    name: str, label: str, budget: Budget, n_trials: int, started: float
) -> SearchResult:
    nan = float("nan")
    return SearchResult(
        name, label, nan, nan, {}, None, 0, time.perf_counter() - started,
        error=f"the time budget (tuning.time_budget: {budget.seconds:g} s) was spent "
        f"before any of its {n_trials} trials started",
        notes=[budget.skip_note(n_trials, n_trials)], skipped=n_trials,
    )  # fmt: skip


def fit_and_score(
    pipeline: Any, params: dict[str, Any], X: Any, y: Any, train: Any, test: Any, scorer: Any
) -> float:
    """One fold of one trial: a fresh copy of ``pipeline`` with ``params``, fitted and scored."""
    from sklearn.base import clone

    model = clone(pipeline).set_params(**params)
    model.fit(X.iloc[train], y.iloc[train])
    return float(scorer(model, X.iloc[test], y.iloc[test]))


def _trial_row(trial: Any, metric_sign: float) -> dict[str, Any]:
    value = trial.value * metric_sign if trial.value is not None else None
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": value if value is None or math.isfinite(value) else None,
        "params": dict(trial.params),
    }
