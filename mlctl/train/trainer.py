"""Train every candidate (and the dummy baseline) and pick the winner."""

from __future__ import annotations

import inspect
import math
import re
from typing import Any

from mlctl.catalog import resolve_estimator_class
from mlctl.compute.session import Session, open_session
from mlctl.data.prepare import Dataset, pipeline_types
from mlctl.errors import MlctlError, TrainingError
from mlctl.evaluate.metrics import cv_scorer, metrics_for_task, sign
from mlctl.features.build import build_pipeline
from mlctl.recipe.schema import Candidate, Recipe
from mlctl.recipe.schema.training import ENSEMBLE
from mlctl.text import first_line
from mlctl.train.optuna_search import run_optuna
from mlctl.train.search import (
    Budget,
    ClusterFoldReporter,
    FoldReporter,
    ProgressFn,
    SearchResult,
    cv_splitter,
    expected_fits,
    keep_resource_tracker_through_sighup,
    param_space,
    run_search,
    sampled_settings,
)

BASELINE = "baseline"
#: What a Dask worker unpickles for a fit: the pipeline's steps and the fold scorer.
WORKER_MODULES = ("mlctl.features.build", "mlctl.train.search", "mlctl.train.optuna_search")


def make_estimator(recipe: Recipe, cand: Candidate) -> tuple[Any, str]:
    """The estimator of a candidate, seeded when it takes a random_state."""
    cls = resolve_estimator_class(cand.estimator, cand.target_, recipe.task)
    params = dict(cand.params)
    if "random_state" in inspect.signature(cls).parameters and "random_state" not in params:
        params["random_state"] = recipe.seed
    label = cand.estimator or cand.target_ or cls.__name__
    return cls(**params), label


def baseline_candidate(recipe: Recipe) -> Candidate:
    strategy = "prior" if recipe.task == "classification" else "mean"
    return Candidate(estimator="dummy", params={"strategy": strategy})


def candidates(recipe: Recipe) -> dict[str, Candidate]:
    """The baseline first, then the recipe's enabled candidates."""
    out = {BASELINE: baseline_candidate(recipe)}
    out.update({k: c for k, c in recipe.models.candidates.items() if c.enabled})
    return out


def train_all(
    recipe: Recipe, data: Dataset, on_event: ProgressFn | None = None
) -> list[SearchResult]:
    """CV/search for the baseline and each candidate, each refit on the training split.

    The fits run where ``recipe.compute`` says: on this machine, or on a Dask cluster
    (connected to, or started and closed here). A candidate that fails is recorded
    with its error; the run fails only if every non-baseline candidate fails.

    ``tuning.time_budget`` holds for the whole search (the baseline aside): no setting
    starts once it is spent, a candidate that got no setting is recorded with that as
    its error, and ``models.ensemble`` is tried only while time is left.

    Raises:
        ComputeError: the Dask cluster cannot be reached or started.
        TrainingError: the baseline or every candidate failed.
    """
    metric = recipe.selection_metric
    scorer = cv_scorer(metric, recipe.task, data.classes, data.positive_class)
    if isinstance(scorer, str):
        from sklearn.metrics import get_scorer

        scorer = get_scorer(scorer)
    metric_sign = sign(metric)
    cv = cv_splitter(recipe.task, recipe.split.strategy, recipe.models.cv_folds, recipe.seed)
    types = pipeline_types(recipe)
    results: list[SearchResult] = []
    emit = on_event or (lambda kind, data: None)
    budget = Budget(recipe.tuning.time_budget)
    if recipe.tuning.n_jobs != 1 and recipe.compute.backend != "dask":
        keep_resource_tracker_through_sighup()
    with (
        open_session(recipe.compute, on_event, preload=WORKER_MODULES) as session,
        _fold_reporter(session, on_event) as reporter,
    ):
        for name, cand in candidates(recipe).items():
            estimator, label = make_estimator(recipe, cand)
            space = param_space(cand.search)
            strategy = recipe.tuning.strategy
            if name != BASELINE and budget.spent():
                results.append(_out_of_time(name, label, space, recipe, budget))
                emit("candidate_start", {"candidate": name, "estimator": label, "fits": 0})
                emit("candidate_done", {"candidate": name, "result": results[-1]})
                continue
            total = expected_fits(
                space,
                strategy,
                recipe.tuning.n_iter,
                recipe.models.cv_folds,
                recipe.tuning.n_trials,
            )
            emit("candidate_start", {"candidate": name, "estimator": label, "fits": total})
            pipeline = build_pipeline(recipe.features, types, estimator)
            try:
                if strategy == "optuna" and space:
                    result = run_optuna(
                        name,
                        label,
                        pipeline,
                        cand.search,
                        X=data.X_train,
                        y=data.y_train,
                        scorer=scorer,
                        metric_sign=metric_sign,
                        cv=cv,
                        tuning=recipe.tuning,
                        study_name=f"{recipe.name}-{name}",
                        seed=recipe.seed,
                        queue=reporter.queue,
                        session=session,
                        budget=budget,
                    )
                else:
                    result = run_search(
                        name,
                        label,
                        pipeline,
                        space,
                        X=data.X_train,
                        y=data.y_train,
                        scorer=scorer,
                        metric_sign=metric_sign,
                        cv=cv,
                        strategy=strategy,
                        n_iter=recipe.tuning.n_iter,
                        n_jobs=recipe.tuning.n_jobs,
                        seed=recipe.seed,
                        queue=reporter.queue,
                        budget=None if name == BASELINE else budget,
                    )
            except MlctlError:
                raise
            except (ValueError, TypeError, ArithmeticError) as exc:
                if name == BASELINE:
                    raise TrainingError(f"baseline failed to train: {_cause(exc)}") from exc
                result = _failed(name, label, exc)
            results.append(result)
            reporter.finish(name)
            emit("candidate_done", {"candidate": name, "result": result})
        if recipe.models.ensemble is not None:
            result = _ensemble(recipe, data, results, budget, scorer, cv, reporter, emit)
            if result is not None:
                results.append(result)
    if all(r.error for r in results if r.name != BASELINE):
        errors = "; ".join(f"{r.name}: {r.error}" for r in results if r.error)
        raise TrainingError(f"every candidate failed to train ({errors})")
    return results


def _out_of_time(
    name: str, label: str, space: dict[str, Any], recipe: Recipe, budget: Budget
) -> SearchResult:
    """A candidate the budget left no time for: on the leaderboard, with why."""
    t = recipe.tuning
    total = (
        t.n_trials
        if t.strategy == "optuna" and space
        else len(sampled_settings(space, t.strategy, t.n_iter, recipe.seed))
    )
    nan = float("nan")
    return SearchResult(
        name, label, nan, nan, {}, None, 0, 0.0,
        error=f"the time budget (tuning.time_budget: {budget.seconds:g} s) was spent "
        f"before any of its {total} settings started",
        notes=[budget.skip_note(total, total)], skipped=total,
    )  # fmt: skip


def ensemble_estimator(recipe: Recipe, members: list[SearchResult]) -> tuple[Any, str]:
    """The models of ``members`` (their tuned, unfitted copies) combined as
    ``models.ensemble`` says; it takes the place of the model step, after the shared
    preprocessing head, so the logged artifact is still one Pipeline."""
    from sklearn.base import clone
    from sklearn.ensemble import (
        StackingClassifier,
        StackingRegressor,
        VotingClassifier,
        VotingRegressor,
    )
    from sklearn.linear_model import LogisticRegression, RidgeCV

    spec = recipe.models.ensemble
    estimators = [(m.name, clone(m.best_estimator.steps[-1][1])) for m in members]
    label = f"{spec.method}({'+'.join(m.name for m in members)})"
    if spec.method == "voting":
        if recipe.task == "classification":
            return VotingClassifier(estimators, voting="soft"), label
        return VotingRegressor(estimators), label
    folds = min(3, recipe.models.cv_folds)
    if recipe.task == "classification":
        final = LogisticRegression(max_iter=1000)
        return StackingClassifier(estimators, final_estimator=final, cv=folds), label
    return StackingRegressor(estimators, final_estimator=RidgeCV(), cv=folds), label


def ensemble_members(recipe: Recipe, results: list[SearchResult]) -> tuple[list, list[str]]:
    """The ``top`` best candidates that can join, and notes on those left out."""
    info = metrics_for_task(recipe.task)[recipe.selection_metric]
    pool = [
        r
        for r in results
        if r.name != BASELINE and not r.error and r.best_estimator is not None
        and math.isfinite(r.cv_mean)
    ]  # fmt: skip
    pool.sort(key=lambda r: r.cv_mean, reverse=info.greater_is_better)
    notes = []
    if recipe.task == "classification" and recipe.models.ensemble.method == "voting":
        no_proba = [r for r in pool if not hasattr(r.best_estimator.steps[-1][1], "predict_proba")]
        if no_proba:
            notes.append(
                "left out of the soft-voting ensemble (no predict_proba): "
                + ", ".join(r.name for r in no_proba)
            )
        pool = [r for r in pool if r not in no_proba]
    return pool[: recipe.models.ensemble.top], notes


def _ensemble(
    recipe: Recipe,
    data: Dataset,
    results: list[SearchResult],
    budget: Budget,
    scorer: Any,
    cv: Any,
    reporter: Any,
    emit: ProgressFn,
) -> SearchResult | None:
    """``models.ensemble`` cross-validated like a candidate without a search space."""
    members, notes = ensemble_members(recipe, results)
    if len(members) < 2:
        emit("stage", {"message": f"no {ENSEMBLE}: fewer than 2 candidates have a CV score"})
        return None
    estimator, label = ensemble_estimator(recipe, members)
    if budget.spent():
        return _out_of_time(ENSEMBLE, label, {}, recipe, budget)
    pipeline = build_pipeline(recipe.features, pipeline_types(recipe), estimator)
    emit("candidate_start", {"candidate": ENSEMBLE, "estimator": label,
                             "fits": recipe.models.cv_folds})  # fmt: skip
    try:
        result = run_search(
            ENSEMBLE, label, pipeline, {}, X=data.X_train, y=data.y_train, scorer=scorer,
            metric_sign=sign(recipe.selection_metric), cv=cv, strategy="none", n_iter=1,
            n_jobs=recipe.tuning.n_jobs, seed=recipe.seed, queue=reporter.queue, budget=budget,
        )  # fmt: skip
    except (ValueError, TypeError, ArithmeticError) as exc:
        result = _failed(ENSEMBLE, label, exc)
    result.best_params = {f"{m.name}.{k}": v for m in members for k, v in m.best_params.items()}
    result.notes = notes + result.notes
    reporter.finish(ENSEMBLE)
    emit("candidate_done", {"candidate": ENSEMBLE, "result": result})
    return result


def _fold_reporter(session: Session, on_event: ProgressFn | None):
    """Per-fold progress: a managed queue locally, Dask events on a cluster."""
    if session.backend == "dask":
        return ClusterFoldReporter(session, on_event)
    return FoldReporter(on_event)


def _failed(name: str, label: str, exc: Exception) -> SearchResult:
    nan = float("nan")
    return SearchResult(name, label, nan, nan, {}, None, 0, 0.0, error=_cause(exc))


def _cause(exc: Exception) -> str:
    """The cause in one line (:func:`mlctl.text.first_line`); for sklearn's "All the N
    fits failed" the fits' own error too."""
    head = first_line(exc)
    if "fits failed" in head:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        causes = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
        if causes:
            return f"{head} Last error: {causes[-1][:300]}"
    return head


def pick_winner(recipe: Recipe, results: list[SearchResult]) -> SearchResult:
    """Best non-baseline candidate by CV on the selection metric (ties: first listed)."""
    info = metrics_for_task(recipe.task)[recipe.selection_metric]
    pool = [r for r in results if r.name != BASELINE and not r.error and not math.isnan(r.cv_mean)]
    if not pool:
        raise TrainingError(
            f"no candidate has a cross-validation score for '{recipe.selection_metric}'"
        )
    key = (lambda r: r.cv_mean) if info.greater_is_better else (lambda r: -r.cv_mean)
    return max(pool, key=key)


def with_threshold(pipeline: Any, threshold: float, positive: Any, X: Any, y: Any) -> Any:
    """Bake a binary decision threshold into the pipeline's final step.

    The logged Pipeline's ``predict`` then answers exactly as evaluated (and as a
    plain ``mlflow models serve`` will). 0.5 is sklearn's own rule, so it is left as is.
    """
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier
    from sklearn.pipeline import Pipeline

    model = pipeline.steps[-1][1]
    if threshold == 0.5 or len(getattr(model, "classes_", [])) != 2:
        return pipeline
    if not hasattr(model, "predict_proba"):
        return pipeline
    wrapped = FixedThresholdClassifier(
        FrozenEstimator(model),
        threshold=threshold,
        pos_label=positive,
        response_method="predict_proba",
    )
    head = pipeline[:-1]
    wrapped.fit(head.transform(X), y)
    return Pipeline(list(head.steps) + [(pipeline.steps[-1][0], wrapped)])
