"""Cross-field checks on a composed recipe, run before any data is read.

Each check is a small function returning a list of issues; every failure is
collected so the user sees them all at once. This package is a leaf: nothing here
imports scikit-learn or another mlctl stage, so serving and monitoring can load a
recipe cheaply. The checks of what only training uses (candidate classes and their
params) live with training, in :mod:`mlctl.train.checks`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import replace

from mlctl.errors import ExpressionError, Issue
from mlctl.recipe.forms import address_problem
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.metrics import metrics_for_task
from mlctl.recipe.schema import NUMERIC_ONLY_TESTS, P_VALUE_TESTS, ThresholdChoice
from mlctl.trust import TRUST_ENV, untrusted_requests

Check = Callable[[LoadedRecipe], list[Issue]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register a cross-field check."""
    CHECKS.append(fn)
    return fn


def check_recipe(loaded: LoadedRecipe, extra: Sequence[Check] = ()) -> list[Issue]:
    """Run every registered check, then ``extra`` (e.g. the training checks); return
    all issues found."""
    issues: list[Issue] = []
    for fn in [*CHECKS, *extra]:
        issues.extend(fn(loaded))
    return issues


def issue(loaded: LoadedRecipe, path: str, message: str) -> Issue:
    """An issue at ``path``, located in the recipe file where known."""
    return Issue(path, message, loaded.location(path))


def short_list(names: list[str], limit: int = 8) -> str:
    """A short list of valid names for an error line."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names) - limit} more)"


def task_metrics(task: str) -> list[str]:
    return list(metrics_for_task(task))


@check
def _selection_metric(loaded: LoadedRecipe) -> list[Issue]:
    r = loaded.recipe
    names = task_metrics(r.task)
    if r.selection_metric not in names:
        return [
            issue(
                loaded,
                "models.selection_metric",
                f"'{r.selection_metric}' is not a {r.task} metric; expected one of "
                f"{', '.join(names)}",
            )
        ]
    return []


def _greater_is_better(task: str, metric: str) -> bool:
    return metrics_for_task(task)[metric].greater_is_better


@check
def _thresholds(loaded: LoadedRecipe) -> list[Issue]:
    r = loaded.recipe
    names = task_metrics(r.task)
    valid = [f"{d}_{m}" for m in names for d in ("min", "max")]
    issues = []
    for section in ("thresholds", "cv_thresholds"):
        for key in getattr(r.readiness, section):
            path = f"readiness.{section}.{key}"
            direction, _, metric = key.partition("_")
            if direction not in ("min", "max") or metric not in names:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"expected min_/max_ + {names}"
                issues.append(
                    issue(loaded, path, f"'{metric or key}' is not a {r.task} metric; {hint}")
                )
            elif (direction == "min") != _greater_is_better(r.task, metric):
                better = "higher" if direction == "max" else "lower"
                other = f"{'max' if direction == 'min' else 'min'}_{metric}"
                issues.append(
                    issue(
                        loaded,
                        path,
                        f"{metric} is better when {better}, so a {direction}imum would let "
                        f"worse models pass; did you mean '{other}'?",
                    )
                )
            elif section == "cv_thresholds" and metric != r.selection_metric:
                issues.append(
                    issue(
                        loaded,
                        path,
                        f"cross-validation is scored on the selection metric "
                        f"'{r.selection_metric}' only, not '{metric}'",
                    )
                )
    return issues


@check
def _columns(loaded: LoadedRecipe) -> list[Issue]:
    r = loaded.recipe
    f = r.features
    issues = []
    both = sorted(set(f.numeric) & set(f.categorical))
    for col in both:
        issues.append(
            issue(loaded, "features.categorical", f"column '{col}' is listed as numeric too")
        )
    for kind in ("numeric", "categorical"):
        cols = getattr(f, kind)
        for col in sorted({c for c in cols if cols.count(c) > 1}):
            issues.append(issue(loaded, f"features.{kind}", f"column '{col}' is listed twice"))
        for col in cols:
            if col == r.data.target:
                issues.append(
                    issue(loaded, f"features.{kind}", f"the target '{col}' cannot be a feature")
                )
            if col == r.data.id_column:
                issues.append(
                    issue(loaded, f"features.{kind}", f"the id column '{col}' cannot be a feature")
                )
            if col in r.data.drop:
                issues.append(
                    issue(loaded, f"features.{kind}", f"column '{col}' is also in data.drop")
                )
    used = {
        "data.target": [r.data.target],
        "data.id_column": [r.data.id_column],
        "split.time_column": [r.split.time_column],
        "data.coerce": list(r.data.coerce),
        "data.expectations.columns": list(r.data.expectations.columns),
    }
    for key, cols in used.items():
        for col in cols:
            if col is not None and col in r.data.drop:
                issues.append(
                    issue(loaded, "data.drop", f"column '{col}' is dropped but used in {key}")
                )
    if not f.numeric and not f.categorical and not f.derived:
        issues.append(issue(loaded, "features", "no features: list numeric or categorical columns"))
    names = [d.name for d in f.derived]
    for i, d in enumerate(f.derived):
        if d.name in f.numeric or d.name in f.categorical or names.count(d.name) > 1:
            issues.append(
                issue(
                    loaded,
                    f"features.derived.{i}.name",
                    f"derived feature '{d.name}' clashes with another column of that name",
                )
            )
    return issues


@check
def _expressions(loaded: LoadedRecipe) -> list[Issue]:
    from mlctl_runtime.expressions import parse_expression  # pandas, never sklearn

    issues = []
    for i, d in enumerate(loaded.recipe.features.derived):
        try:
            parse_expression(d.expr, name=d.name)
        except ExpressionError as exc:
            path = f"features.derived.{i}.expr"
            issues.append(Issue(path, exc.message, loaded.location(path), exc.hint))
    return issues


@check
def _split(loaded: LoadedRecipe) -> list[Issue]:
    r = loaded.recipe
    s = r.split
    issues = []
    if s.strategy == "time" and not s.time_column:
        issues.append(issue(loaded, "split.time_column", "required when split.strategy is time"))
    if s.strategy == "stratified" and r.task == "regression":
        issues.append(
            issue(
                loaded,
                "split.strategy",
                "stratified splits need a classification target; use random or time",
            )
        )
    if r.data.positive_class is not None and r.task == "regression":
        issues.append(
            issue(loaded, "data.positive_class", "only classification has a positive class")
        )
    return issues


@check
def _classification_only(loaded: LoadedRecipe) -> list[Issue]:
    """A chosen threshold and calibration are about class probabilities (a threshold
    for two classes only: checked once the data is read, mlctl.train.finalize)."""
    r = loaded.recipe
    if r.task != "regression":
        return []
    issues = []
    if isinstance(r.evaluation.threshold, ThresholdChoice):
        issues.append(
            issue(
                loaded,
                "evaluation.threshold",
                f"optimize: {r.evaluation.threshold.optimize} chooses a decision threshold "
                "between two classes; a regression predicts numbers (remove it)",
            )
        )
    if r.evaluation.calibration != "none":
        issues.append(
            issue(
                loaded,
                "evaluation.calibration",
                f"{r.evaluation.calibration} calibrates class probabilities; a regression "
                "has none (remove it or use none)",
            )
        )
    return issues


@check
def _allowed_prefixes(loaded: LoadedRecipe) -> list[Issue]:
    """``models.allowed_prefixes`` is a request: the user must trust those prefixes."""
    missing = untrusted_requests(loaded.recipe.models.allowed_prefixes)
    if not missing:
        return []
    flags = " ".join(f"--trust-prefix {p.rstrip('.')}" for p in missing)
    return [
        Issue(
            "models.allowed_prefixes",
            f"asks to trust {', '.join(missing)}, which you have not trusted; a recipe "
            "cannot widen the class allowlist itself",
            loaded.location("models.allowed_prefixes"),
            hint=f"if you trust them, pass {flags} or set {TRUST_ENV}="
            f"{','.join(p.rstrip('.') for p in missing)}",
        )
    ]


@check
def _compute(loaded: LoadedRecipe) -> list[Issue]:
    c = loaded.recipe.compute
    if c.address is None:
        return []
    problem = address_problem(c.address)
    issues = [issue(loaded, "compute.address", problem)] if problem else []
    if c.backend != "dask":
        issues.append(
            issue(
                loaded,
                "compute.address",
                f"is set but compute.backend is '{c.backend}', so the cluster would not be "
                "used; set compute.backend: dask, or remove compute.address",
            )
        )
    for key in ("n_workers", "threads_per_worker"):
        if getattr(c, key) is not None:
            issues.append(
                issue(
                    loaded,
                    f"compute.{key}",
                    f"sizes the LocalCluster mlctl starts, but compute.address ({c.address}) "
                    "names a running cluster with its own workers; remove one of the two",
                )
            )
    return issues


def segment_column_problem(column: str, inputs: list[str]) -> str:
    """Why ``column`` cannot be a segment of ``evaluation.segments`` (it is not one of
    the model's ``inputs``), naming the nearest input column; the same words when the
    recipe is checked and when a run finds the column missing."""
    close = difflib.get_close_matches(column, inputs, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"input columns: {short_list(inputs)}"
    return f"'{column}' is not an input column of the model; {hint}"


@check
def _segments(loaded: LoadedRecipe) -> list[Issue]:
    from mlctl_runtime.expressions import parse_expression

    r = loaded.recipe
    f = r.features
    inputs = list(dict.fromkeys(f.numeric + f.categorical))
    derived = {d.name for d in f.derived}
    for d in f.derived:
        try:
            read = sorted(parse_expression(d.expr, name=d.name).columns)
        except ExpressionError:
            continue  # reported by _expressions
        inputs += [c for c in read if c not in derived and c not in inputs]
    issues = []
    for i, col in enumerate(r.evaluation.segments):
        if col in inputs:
            continue
        if col in derived:
            why = (
                f"'{col}' is a derived feature; segments are the model's input columns "
                "(features.numeric, features.categorical and the columns expressions read)"
            )
        elif col == r.data.target:
            why = f"'{col}' is the target; segments are the model's input columns"
        else:
            why = segment_column_problem(col, inputs)
        # after_data: a misspelt feature is reported as itself first (see Issue).
        issues.append(replace(issue(loaded, f"evaluation.segments.{i}", why), after_data=True))
    return issues


# ------------------------------------------------------------------ monitor

JS_MAX = 0.8325546111576977  # sqrt(ln 2): the largest Jensen-Shannon distance (natural log)


def _threshold_issue(path: str, method: str, threshold: float | None) -> str | None:
    """Why a (method, threshold) pair cannot work, or None."""
    if threshold is None:
        return None
    if method in P_VALUE_TESTS and not 0.0 < threshold < 1.0:
        return (
            f"{method} drifts when its p-value is below the threshold, so it must be between "
            f"0 and 1 (exclusive); got {threshold} (typical: 0.05)"
        )
    if method == "auto" and threshold >= 1.0:
        return (
            f"with method auto the threshold is a p-value for small references (ks, "
            f"chisquare, z), so {threshold} would flag every column; use a value below 1 or "
            "name the method"
        )
    if method not in P_VALUE_TESTS and threshold == 0.0:
        return f"a {method} distance is always at least 0, so threshold 0 flags every column"
    if method == "jensenshannon" and threshold > JS_MAX:
        return (
            f"a Jensen-Shannon distance (natural log) is at most {JS_MAX:.4f}, so {threshold} "
            "never flags a column (typical: 0.1)"
        )
    return None


@check
def _monitor_drift(loaded: LoadedRecipe) -> list[Issue]:
    r = loaded.recipe
    d = r.monitor.drift
    issues = []
    for kind in ("numeric", "categorical"):
        test = getattr(d, kind)
        problem = _threshold_issue(f"monitor.drift.{kind}", test.method, test.threshold)
        if problem:
            issues.append(issue(loaded, f"monitor.drift.{kind}.threshold", problem))
    numeric, categorical = set(r.features.numeric), set(r.features.categorical)
    derived = {f.name for f in r.features.derived}
    known = sorted(numeric | categorical)
    for name, test in d.columns.items():
        path = f"monitor.drift.columns.{name}"
        if name not in numeric and name not in categorical:
            if name in derived:
                why = (
                    f"'{name}' is a derived feature; drift is tested on the model's input "
                    "columns (those in features.numeric and features.categorical)"
                )
            else:
                close = difflib.get_close_matches(name, known, n=1)
                where = (
                    "features.numeric" if close and close[0] in numeric else "features.categorical"
                )
                hint = (
                    f"{where} has '{close[0]}': one of the two is misspelt"
                    if close
                    else f"features: {short_list(known)}"
                )
                why = f"'{name}' is not a feature of this recipe; {hint}"
            issues.append(replace(issue(loaded, path, why), after_data=True))
            continue
        if name in categorical and test.method in NUMERIC_ONLY_TESTS:
            issues.append(
                issue(
                    loaded,
                    f"{path}.method",
                    f"'{name}' is categorical, and {test.method} tests numbers only; use "
                    "chisquare, z, jensenshannon, psi or kl_div",
                )
            )
        kind_test = getattr(d, "numeric" if name in numeric else "categorical")
        method = kind_test.method if test.method == "auto" else test.method
        problem = _threshold_issue(path, method, test.threshold)
        if problem:
            issues.append(issue(loaded, f"{path}.threshold", problem))
    p = r.monitor.prediction_drift
    for side in ("score", "prediction"):
        test = getattr(p, side)
        problem = _threshold_issue(f"monitor.prediction_drift.{side}", test.method, test.threshold)
        if problem:
            issues.append(issue(loaded, f"monitor.prediction_drift.{side}.threshold", problem))
    return issues


def monitored_metrics(recipe) -> list[str]:
    """``monitor.performance.metrics``, or the selection metric plus the readiness
    thresholds' metrics (in that order, without repeats)."""
    chosen = recipe.monitor.performance.metrics
    if chosen is not None:
        return list(dict.fromkeys(chosen))
    named = [k.partition("_")[2] for k in recipe.readiness.thresholds]
    return list(dict.fromkeys([recipe.selection_metric, *named]))


@check
def _monitor_performance(loaded: LoadedRecipe) -> list[Issue]:
    r = loaded.recipe
    perf = r.monitor.performance
    names = task_metrics(r.task)
    issues = []
    if perf.metrics is not None and not perf.metrics:
        issues.append(
            issue(loaded, "monitor.performance.metrics", "empty: name at least one metric")
        )
    for i, metric in enumerate(perf.metrics or []):
        if metric not in names:
            close = difflib.get_close_matches(metric, names, n=1)
            hint = (
                f"did you mean '{close[0]}'?" if close else f"expected one of {short_list(names)}"
            )
            issues.append(
                issue(
                    loaded,
                    f"monitor.performance.metrics.{i}",
                    f"'{metric}' is not a {r.task} metric; {hint}",
                )
            )
    if isinstance(perf.max_drop, dict):
        watched = [m for m in monitored_metrics(r) if m in names]
        for metric in perf.max_drop:
            if metric not in watched:
                issues.append(
                    issue(
                        loaded,
                        f"monitor.performance.max_drop.{metric}",
                        f"'{metric}' is not among the monitored metrics "
                        f"({', '.join(watched) or 'none'}); add it to monitor.performance.metrics",
                    )
                )
    return issues


@check
def _monitor_volume_and_alerts(loaded: LoadedRecipe) -> list[Issue]:
    m = loaded.recipe.monitor
    issues = []
    v = m.volume
    if v.min_baseline_hours > v.baseline_hours:
        issues.append(
            issue(
                loaded,
                "monitor.volume.min_baseline_hours",
                f"{v.min_baseline_hours} is more than monitor.volume.baseline_hours "
                f"({v.baseline_hours}), so the check could never judge",
            )
        )
    a = m.alerts
    if a.webhook is not None and not a.webhook.startswith(("http://", "https://")):
        issues.append(issue(loaded, "monitor.alerts.webhook", "must be an http:// or https:// URL"))
    if a.command is not None:
        empty = not a.command if isinstance(a.command, list) else not a.command.strip()
        if empty:
            issues.append(issue(loaded, "monitor.alerts.command", "empty: name a program to run"))
        elif isinstance(a.command, str):
            import shlex

            try:
                shlex.split(a.command)
            except ValueError as exc:
                issues.append(
                    issue(loaded, "monitor.alerts.command", f"does not split into arguments: {exc}")
                )
    return issues
