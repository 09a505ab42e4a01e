"""``mlctl run`` as a library call: data → train → evaluate → gate → track → register.

Stages report progress through an ``on_event(kind, data)`` callback; nothing
here prints. The result is a :class:`RunSummary` (its ``to_dict`` is the
``--json`` document, see docs/cli.md).
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl import __version__, interrupts
from mlctl.data.prepare import Dataset, load_dataset
from mlctl.evaluate.metrics import (
    classification_metrics,
    confusion,
    cv_scorer,
    metrics_for_task,
    predict_with_threshold,
    regression_metrics,
)
from mlctl.monitor.profile import PROFILE_ARTIFACT
from mlctl.readiness import gate
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.schema import Recipe
from mlctl.redact import redact_text, redact_tree
from mlctl.run_summary import RunSummary, threshold_decision
from mlctl.train.finalize import check_threshold_task, decision_threshold, finalize
from mlctl.train.search import ProgressFn, SearchResult
from mlctl.train.trainer import BASELINE, pick_winner, train_all
from mlctl.trust import user_prefixes


@dataclass
class RunOptions:
    """Choices made on the command line rather than in the recipe."""

    workspace: str | None = None
    promote: bool = False  # promotion approved by the user (--promote --yes)
    register: bool = True  # False in a sweep job: the sweep registers its best job
    tags: dict[str, str] = field(default_factory=dict)  # extra tags on the parent run
    parent_run_id: str | None = None  # nest this run under another (a sweep's run)
    run_name: str | None = None  # default <recipe name>-<UTC timestamp>


@dataclass
class Evaluation:
    """Test-set results of one fitted candidate."""

    metrics: dict[str, float]
    y_pred: Any
    proba: Any
    classes: list[Any]


def evaluate_model(recipe: Recipe, model: Any, data: Dataset) -> Evaluation:
    """Predict the test split and compute every metric of the task."""
    if recipe.task == "regression":
        y_pred = model.predict(data.X_test)
        return Evaluation(regression_metrics(data.y_test, y_pred), y_pred, None, [])
    classes = list(model.classes_)
    proba = _proba(model, data.X_test, len(classes))
    threshold = decision_threshold(recipe, model) if len(classes) == 2 else None
    if proba is not None and hasattr(model, "predict_proba"):
        y_pred = predict_with_threshold(proba, classes, data.positive_class, threshold)
    else:
        y_pred = model.predict(data.X_test)
    metrics = classification_metrics(data.y_test, y_pred, proba, classes, data.positive_class)
    return Evaluation(metrics, y_pred, proba, classes)


def _proba(model: Any, X: Any, n_classes: int):
    import numpy as np

    if hasattr(model, "predict_proba"):
        try:
            return model.predict_proba(X)
        except AttributeError:  # e.g. a final step without probabilities
            pass
    if n_classes == 2 and hasattr(model, "decision_function"):
        # Rank metrics (ROC/PR AUC) only need a monotone score; log loss will be poor.
        d = np.asarray(model.decision_function(X), dtype=float)
        p = 1.0 / (1.0 + np.exp(-d))
        return np.column_stack([1.0 - p, p])
    return None


def run(
    loaded: LoadedRecipe, options: RunOptions, on_event: ProgressFn | None = None
) -> RunSummary:
    """Run a recipe end to end; see the module docstring."""
    from mlctl.compute.session import preflight
    from mlctl.evaluate.explain import add_explanations, check_shap
    from mlctl.evaluate.insights import add_insights
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.runs import ParentRun, git_commit
    from mlctl.tracking.workspace import for_recipe, prepare

    emit = on_event or (lambda kind, data: None)
    started = time.perf_counter()
    r = loaded.recipe
    preflight(r.compute)  # an unreachable cluster fails before any MLflow run exists
    check_shap(r.evaluation.shap)  # evaluation.shap: on without shap fails before training
    emit("stage", {"message": "loading and checking data"})
    data = load_dataset(loaded)
    check_threshold_task(loaded, data)
    interrupts.checkpoint("data")
    emit(
        "data",
        {
            "rows": data.rows,
            "train": len(data.X_train),
            "test": len(data.X_test),
            "notes": data.notes,
        },
    )
    ws = for_recipe(loaded, options.workspace)
    prepare(ws)
    registry = Registry(ws)
    tags = {
        "mlctl.recipe": str(loaded.path),
        "mlctl.recipe_hash": loaded.hash,
        "mlctl.data_hash": data.fingerprint,
        "mlctl.model_name": r.model_name,
        **options.tags,
    }
    if options.parent_run_id:
        tags["mlflow.parentRunId"] = options.parent_run_id
    commit = git_commit(loaded.base_dir)
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["mlctl.git_commit"] = commit
    run_name = options.run_name or f"{r.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    with ParentRun(ws, r.tracking.experiment or r.name, run_name, tags) as parent:
        emit("run_started", {"run_id": parent.run_id, "tracking_uri": redact_text(ws.tracking_uri)})
        parent.log_dict(loaded.public, "recipe.yaml")
        parent.log_params(_flat_params(loaded.public))
        not_logged = parent.log_datasets(
            {"training": (data.X_train, data.y_train), "evaluation": (data.X_test, data.y_test)},
            name=r.name,
            source=redact_text(str(r.data.source)),
            digest=data.fingerprint,
            target=r.data.target,
        )
        if not_logged:
            data.notes.append(not_logged)
        results = train_all(r, data, on_event)
        winner = pick_winner(r, results)
        final = finalize(r, winner, data, on_event)
        winner.best_estimator = final.pipeline
        emit("stage", {"message": f"evaluating {winner.name} on the test set"})
        evaluations = {
            res.name: evaluate_model(r, res.best_estimator, data)
            for res in results
            if not res.error
        }
        best = evaluations[winner.name]
        verdict = _verdict(r, winner, evaluations, data, registry)
        leaderboard = _leaderboard(results, evaluations, winner)
        for res in results:
            parent.log_child(
                res.name,
                {"estimator": res.estimator, **res.best_params},
                {
                    f"cv_{r.selection_metric}_mean": res.cv_mean,
                    f"cv_{r.selection_metric}_std": res.cv_std,
                    **{
                        f"test_{k}": v
                        for k, v in getattr(evaluations.get(res.name), "metrics", {}).items()
                    },
                },
                {"mlctl.error": res.error} if res.error else {},
                trials=res.trials,
                trial_metric=f"trial_cv_{r.selection_metric}",
            )
        parent.log_metrics({f"test_{k}": v for k, v in best.metrics.items()})
        parent.log_metrics(
            {
                f"cv_{r.selection_metric}_mean": winner.cv_mean,
                f"cv_{r.selection_metric}_std": winner.cv_std,
                "decision_threshold": final.threshold,
            }
        )
        parent.set_tags({"mlctl.winner": winner.name, "mlctl.gate": _gate_tag(verdict)})
        emit("stage", {"message": "computing feature importance and plots"})
        report_dir = ws.reports / r.model_name / parent.run_id
        importances = _importance(r, winner, data)
        ctx = _report_context(
            loaded, data, winner, best, verdict, leaderboard, importances, parent.run_id
        )
        emit("stage", {"message": "profiling the training data for monitoring"})
        profile = _reference_profile(r, data, best).to_json()
        parent.log_text(profile, PROFILE_ARTIFACT, redact=False)  # data, not settings
        emit("stage", {"message": "logging the model to MLflow"})
        model_uri = parent.log_model(winner.best_estimator, data.X_train.head(5), user_prefixes())
        version, aliases, before = None, [], None
        try:
            final.into(ctx, best, data, report_dir)  # and the "threshold" plot
            add_explanations(ctx, r.evaluation, winner.best_estimator, data.X_test, data.X_train,
                             report_dir, r.seed, data.positive_class)  # fmt: skip
            if verdict.passed and options.register:
                emit("stage", {"message": f"registering model '{r.model_name}'"})
                with interrupts.deferred():  # registered with its alias, or not at all
                    before = registry.state(r.model_name)
                    version, aliases = register(
                        registry,
                        r,
                        model_uri,
                        parent.run_id,
                        best.metrics,
                        data.fingerprint,
                        options,
                        before,
                        description=_description(r, winner, best, verdict, data, parent.run_id),
                    )
                ctx["registered"] = {"name": r.model_name, "version": version, "aliases": aliases}
            emit("stage", {"message": "calibration, lift, segments and learning curve"})
            add_insights(ctx, r, data, best, winner.best_estimator, report_dir, parent.log_metrics)
            interrupts.checkpoint("report")
            md_path, html_path = _write_report(ctx, r, best, data, importances, report_dir)
            parent.log_artifacts(report_dir, "report")
            parent.set_tags({"mlctl.registered_version": version or ""})
        except BaseException:
            if version is not None:  # a failed or interrupted run leaves the registry as it was
                registry.unregister(r.model_name, version, before)
            shutil.rmtree(report_dir, ignore_errors=True)
            raise
        summary = RunSummary(
            recipe=str(loaded.path),
            recipe_hash=loaded.hash,
            run_id=parent.run_id,
            experiment_id=parent.experiment_id,
            tracking_uri=redact_text(ws.tracking_uri),
            model_name=r.model_name,
            selection_metric=r.selection_metric,
            winner=winner.name,
            data=redact_tree(ctx["data"]),
            leaderboard=redact_tree(leaderboard),
            test_metrics=best.metrics,
            cv={"mean": winner.cv_mean, "std": winner.cv_std},
            verdict=verdict,
            version=version,
            aliases=aliases,
            model_uri=model_uri,
            report_html=str(html_path),
            report_markdown=str(md_path),
            notes=data.notes,
            threshold=threshold_decision(final.analysis),
            recommendations=ctx.get("recommendations", []),
        )
    summary.seconds = time.perf_counter() - started
    return summary


def _reference_profile(r: Recipe, data: Dataset, best: Evaluation):
    """The training split's input columns as the model reads them, and the winner's
    scores and predicted classes on the test split (mlctl monitor compares with it)."""
    import numpy as np

    from mlctl.data.prepare import pipeline_types
    from mlctl.monitor.profile import CATEGORICAL_TYPES, NUMERIC_TYPES, build_profile

    types = {c: t for c, t in pipeline_types(r).items() if c in data.input_columns}
    scores, meaning = None, None
    if r.task == "regression":
        scores, meaning = best.y_pred, "predicted value"
    elif best.proba is not None and len(best.classes) == 2:
        scores = best.proba[:, best.classes.index(data.positive_class)]
        positive = data.positive_class
        meaning = f"probability of class {getattr(positive, 'item', lambda: positive)()!r}"
    elif best.proba is not None:
        scores, meaning = np.max(best.proba, axis=1), "probability of the predicted class"
    return build_profile(
        data.X_train,
        numeric=[c for c, t in types.items() if t in NUMERIC_TYPES],
        categorical=[c for c, t in types.items() if t in CATEGORICAL_TYPES],
        scores=scores,
        predictions=best.y_pred if r.task == "classification" else None,
        task=r.task,
        metrics=best.metrics,
        coerce=types,
        score_meaning=meaning,
    )


def _description(
    r: Recipe,
    winner: SearchResult,
    best: Evaluation,
    verdict: gate.Verdict,
    data: Dataset,
    run: str,
) -> str:
    """The registered version's description in the MLflow UI: what won, how it scored,
    the gate, the data and the run, in a few lines a person reads."""
    metric = r.selection_metric
    test = best.metrics.get(metric)
    lines = [
        f"{winner.name} ({winner.estimator}), chosen on cross-validated {metric} "
        f"{winner.cv_mean:.4f} ± {winner.cv_std:.4f}; test {metric} "
        + (f"{test:.4f}" if test is not None and math.isfinite(test) else "n/a")
        + ".",
        f"Readiness gate: {_gate_tag(verdict)} ({len(verdict.checks)} checks).",
        f"Data: {data.rows:,} rows of {redact_text(str(r.data.source))} "
        f"(SHA-256 {data.fingerprint[:12]}…), {len(data.X_train):,} train / "
        f"{len(data.X_test):,} test.",
        f"Trained by mlctl run {run} (recipe {r.name}).",
    ]
    return "\n".join(lines)


def _gate_tag(verdict: gate.Verdict) -> str:
    return "passed" if verdict.passed else "failed"


def register(
    registry,
    r: Recipe,
    model_uri: str,
    run_id: str,
    metrics: dict[str, float],
    data_fingerprint: str,
    options: RunOptions,
    before: Any = None,
    description: str | None = None,
) -> tuple[int, list[str]]:
    """Register a model that passed the gate; champion if promotion is approved
    (``--promote --yes`` or ``deploy.auto_promote``), else challenger.

    A version whose promotion fails is unregistered again, and the model's aliases and
    tags put back as they were ``before`` (a :class:`~mlctl.tracking.registry.RegistryState`)."""
    from mlctl.tracking.registry import CHALLENGER, CHAMPION, METRICS_TAG, metrics_tag

    tags = {
        "mlctl.gate": "passed",
        "mlctl.data_hash": data_fingerprint,
        "mlctl.selection_metric": r.selection_metric,
        "mlctl.split": _split_key(r),
        METRICS_TAG: metrics_tag(metrics),
    }
    version = registry.register(model_uri, r.model_name, run_id, tags)
    try:
        if description:
            registry.describe(r.model_name, version, description)
        if options.promote or r.deploy.auto_promote:
            why = "auto_promote in recipe" if r.deploy.auto_promote else "mlctl run --promote"
            registry.promote(r.model_name, version, f"gate passed; {why}", check_files=False)
            interrupts.checkpoint("register")
            return version, [CHAMPION]
        registry.set_challenger(r.model_name, version)
        interrupts.checkpoint("register")
        return version, [CHALLENGER]
    except BaseException:
        registry.unregister(r.model_name, version, before)
        raise


def _verdict(
    r: Recipe, winner: SearchResult, evaluations: dict[str, Evaluation], data: Dataset, registry
) -> gate.Verdict:
    info = metrics_for_task(r.task)[r.selection_metric]
    metric = r.selection_metric
    best = evaluations[winner.name]
    rd = r.readiness
    checks = gate.threshold_checks(rd.thresholds, best.metrics)
    checks += gate.cv_checks(rd.cv_thresholds, metric, winner.cv_mean, winner.cv_std, rd.cv_std_k)
    actual = best.metrics[metric]
    if rd.beat_baseline_by is not None and BASELINE in evaluations:
        base = evaluations[BASELINE].metrics[metric]
        checks.append(
            gate.baseline_check(metric, info.greater_is_better, actual, base, rd.beat_baseline_by)
        )
    if rd.compare_champion:
        checks.append(_champion_check(r, info.greater_is_better, actual, data, registry))
    return gate.Verdict(checks)


def _champion_check(r: Recipe, greater: bool, actual: float, data: Dataset, registry) -> gate.Check:
    from mlctl.tracking.registry import CHAMPION

    metric = r.selection_metric
    tolerance = r.readiness.champion_tolerance

    def failed(label: str, what: str, exc: Exception) -> gate.Check:
        cause = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return gate.champion_check(metric, greater, actual, None, 0, label, f"{what}: {cause}")

    try:
        model, version = registry.load_sklearn(r.model_name, CHAMPION)
    except Exception as exc:
        return failed(f"{r.model_name}@champion", "could not be loaded", exc)
    if model is None:
        return gate.champion_check(metric, greater, actual, None, tolerance, "champion")
    label = f"champion v{version}"
    try:
        score = evaluate_model(r, model, data).metrics[metric]
    except Exception as exc:
        return failed(label, "could not score this test set", exc)
    check = gate.champion_check(metric, greater, actual, score, tolerance, label)
    tags = registry.version(r.model_name, version).tags
    if tags.get("mlctl.split") != _split_key(r) or tags.get("mlctl.data_hash") != data.fingerprint:
        # The champion may have trained on rows of this test set: its score is optimistic.
        check.detail += " (trained on other data or another split)"
    return check


def _split_key(r: Recipe) -> str:
    s = r.split
    return f"{s.strategy}:{s.test_size}:{s.seed}:{s.time_column or ''}"


def _leaderboard(
    results: list[SearchResult], evaluations: dict[str, Evaluation], winner: SearchResult
) -> list[dict[str, Any]]:
    rows = []
    for res in results:
        ev = evaluations.get(res.name)
        rows.append(
            {
                "candidate": res.name,
                "estimator": res.estimator,
                "cv_mean": res.cv_mean,
                "cv_std": res.cv_std,
                "test": ev.metrics if ev else {},
                "best_params": res.best_params,
                "settings_tried": res.n_settings,
                "settings_skipped": res.skipped,  # tuning.time_budget was spent
                "fit_seconds": round(res.fit_seconds, 2),
                "is_winner": res.name == winner.name,
                "is_baseline": res.name == BASELINE,
                "error": res.error,
            }
        )
    return rows


def _importance(r: Recipe, winner: SearchResult, data: Dataset) -> list[tuple[str, float, float]]:
    from mlctl.evaluate.importance import permutation_importance_table

    if r.evaluation.importance_repeats == 0:
        return []
    scorer = cv_scorer(r.selection_metric, r.task, data.classes, data.positive_class)
    return permutation_importance_table(
        winner.best_estimator,
        data.X_test,
        data.y_test,
        scoring=scorer,
        n_repeats=r.evaluation.importance_repeats,
        max_rows=r.evaluation.importance_max_rows,
        random_state=r.seed,
        n_jobs=r.tuning.n_jobs,
    )


def _report_context(
    loaded: LoadedRecipe,
    data: Dataset,
    winner: SearchResult,
    best: Evaluation,
    verdict: gate.Verdict,
    leaderboard: list[dict[str, Any]],
    importances: list,
    run_id: str,
) -> dict[str, Any]:
    r = loaded.recipe
    return {
        "name": r.name,
        "task": r.task,
        "model_name": f"{winner.name} ({winner.estimator})",
        "run_id": run_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            "source": str(loaded.resolve_path(r.data.source)),
            "files": len(data.files),
            "rows": data.rows,
            "train_rows": len(data.X_train),
            "test_rows": len(data.X_test),
            "fingerprint": data.fingerprint,
        },
        "selection_metric": r.selection_metric,
        "leaderboard": leaderboard,
        "test_metrics": best.metrics,
        "threshold": None,  # the chosen one: Final.context
        "confusion": confusion(data.y_test, best.y_pred, best.classes) if best.classes else None,
        "importance": importances,
        "gate": verdict.to_dict(),
        "registered": None,
        "mlctl_version": __version__,
    }


def _write_report(
    ctx: dict[str, Any], r: Recipe, best: Evaluation, data: Dataset, importances: list, out: Path
) -> tuple[Path, Path]:
    from mlctl.evaluate.insights import finish_insights
    from mlctl.evaluate.plots import make_plots
    from mlctl.evaluate.report import write_reports

    plots = make_plots(
        r.task,
        data.y_test,
        best.y_pred,
        best.proba,
        best.classes or None,
        data.positive_class,
        importances,
        out,
    )
    finish_insights(ctx, out)  # last: the recommendations read every section of ctx
    return write_reports(ctx, {**plots, **ctx.get("plots", {})}, out)


def _flat_params(composed: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The composed recipe as MLflow params (``split.seed`` → value)."""
    out: dict[str, Any] = {}
    for key, value in composed.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flat_params(value, f"{name}."))
        else:
            out[name] = value
    return out
