"""Cross-field checks on a composed recipe, run before any data is read.

Each check is a small function returning a list of issues; every failure is
collected so the user sees them all at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from mlctl.errors import ExpressionError, Issue, RecipeError

if TYPE_CHECKING:
    from mlctl.recipe.loader import LoadedRecipe

Check = Callable[["LoadedRecipe"], list[Issue]]
CHECKS: list[Check] = []
TRAINING_CHECKS: list[Check] = []  # matter only to a command that trains


def check(fn: Check) -> Check:
    """Register a cross-field check."""
    CHECKS.append(fn)
    return fn


def training_check(fn: Check) -> Check:
    """Register a check of what only training uses (candidates and their params).

    Building every candidate class to check its params imports most of scikit-learn
    (~1-4 s); ``mlctl serve``, ``predict`` and ``monitor`` (without retraining) load
    a recipe to read its data, serve and monitor sections, and skip these checks.
    """
    TRAINING_CHECKS.append(fn)
    return fn


def check_recipe(loaded: LoadedRecipe, training: bool = True) -> list[Issue]:
    """Run every registered check (``training``: the training checks too); return
    all issues found."""
    issues: list[Issue] = []
    for fn in CHECKS + (TRAINING_CHECKS if training else []):
        issues.extend(fn(loaded))
    return issues


def training_issues(loaded: LoadedRecipe) -> list[Issue]:
    """Only the training checks: for a recipe loaded with ``training=False`` that is
    about to train after all (``mlctl monitor --retrain``)."""
    return [issue for fn in TRAINING_CHECKS for issue in fn(loaded)]


def _issue(loaded: LoadedRecipe, path: str, message: str) -> Issue:
    return Issue(path, message, loaded.location(path))


def task_metrics(task: str) -> list[str]:
    from mlctl.evaluate.metrics import metrics_for_task

    return list(metrics_for_task(task))


@check
def _selection_metric(loaded: LoadedRecipe) -> list[Issue]:
    r = loaded.recipe
    names = task_metrics(r.task)
    if r.selection_metric not in names:
        return [
            _issue(
                loaded,
                "models.selection_metric",
                f"'{r.selection_metric}' is not a {r.task} metric; expected one of "
                f"{', '.join(names)}",
            )
        ]
    return []


def _greater_is_better(task: str, metric: str) -> bool:
    from mlctl.evaluate.metrics import metrics_for_task

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
                    _issue(loaded, path, f"'{metric or key}' is not a {r.task} metric; {hint}")
                )
            elif (direction == "min") != _greater_is_better(r.task, metric):
                better = "higher" if direction == "max" else "lower"
                other = f"{'max' if direction == 'min' else 'min'}_{metric}"
                issues.append(
                    _issue(
                        loaded,
                        path,
                        f"{metric} is better when {better}, so a {direction}imum would let "
                        f"worse models pass; did you mean '{other}'?",
                    )
                )
            elif section == "cv_thresholds" and metric != r.selection_metric:
                issues.append(
                    _issue(
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
            _issue(loaded, "features.categorical", f"column '{col}' is listed as numeric too")
        )
    for kind in ("numeric", "categorical"):
        cols = getattr(f, kind)
        for col in sorted({c for c in cols if cols.count(c) > 1}):
            issues.append(_issue(loaded, f"features.{kind}", f"column '{col}' is listed twice"))
        for col in cols:
            if col == r.data.target:
                issues.append(
                    _issue(loaded, f"features.{kind}", f"the target '{col}' cannot be a feature")
                )
            if col == r.data.id_column:
                issues.append(
                    _issue(loaded, f"features.{kind}", f"the id column '{col}' cannot be a feature")
                )
            if col in r.data.drop:
                issues.append(
                    _issue(loaded, f"features.{kind}", f"column '{col}' is also in data.drop")
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
                    _issue(loaded, "data.drop", f"column '{col}' is dropped but used in {key}")
                )
    if not f.numeric and not f.categorical and not f.derived:
        issues.append(
            _issue(loaded, "features", "no features: list numeric or categorical columns")
        )
    names = [d.name for d in f.derived]
    for i, d in enumerate(f.derived):
        if d.name in f.numeric or d.name in f.categorical or names.count(d.name) > 1:
            issues.append(
                _issue(
                    loaded,
                    f"features.derived.{i}.name",
                    f"derived feature '{d.name}' clashes with another column of that name",
                )
            )
    return issues


@check
def _expressions(loaded: LoadedRecipe) -> list[Issue]:
    from mlctl.features.expressions import parse_expression

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
        issues.append(_issue(loaded, "split.time_column", "required when split.strategy is time"))
    if s.strategy == "stratified" and r.task == "regression":
        issues.append(
            _issue(
                loaded,
                "split.strategy",
                "stratified splits need a classification target; use random or time",
            )
        )
    if r.data.positive_class is not None and r.task == "regression":
        issues.append(
            _issue(loaded, "data.positive_class", "only classification has a positive class")
        )
    return issues


@check
def _allowed_prefixes(loaded: LoadedRecipe) -> list[Issue]:
    """``models.allowed_prefixes`` is a request: the user must trust those prefixes."""
    from mlctl.catalog import TRUST_ENV, untrusted_requests

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


@training_check
def _candidates(loaded: LoadedRecipe) -> list[Issue]:
    from mlctl.catalog import resolve_estimator_class

    r = loaded.recipe
    enabled = {k: c for k, c in r.models.candidates.items() if c.enabled}
    if not enabled:
        return [_issue(loaded, "models.candidates", "no enabled candidate models")]
    issues = []
    for name, cand in enabled.items():
        base = f"models.candidates.{name}"
        try:
            cls = resolve_estimator_class(cand.estimator, cand.target_, r.task)
        except RecipeError as exc:
            where = "estimator" if cand.estimator else "_target_"
            issues.append(_issue(loaded, f"{base}.{where}", exc.issues[0].message))
            continue
        issues.extend(_candidate_params(loaded, base, cls, cand))
    return issues


def _some(names: list[str], limit: int = 8) -> str:
    """A short list of valid names for an error line."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names) - limit} more)"


def _candidate_params(loaded: LoadedRecipe, base: str, cls: type, cand) -> list[Issue]:
    from mlctl.train.search import grid_size

    try:
        valid = sorted(cls().get_params(deep=True))
    except Exception as exc:  # a third-party class that cannot be built bare
        return [_issue(loaded, base, f"cannot create {cls.__name__}() to check params: {exc}")]
    issues = []
    for section in ("params", "search"):
        for key in getattr(cand, section):
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"valid: {_some(valid)}"
                issues.append(
                    _issue(
                        loaded,
                        f"{base}.{section}.{key}",
                        f"{cls.__name__} has no parameter '{key}'; {hint}",
                    )
                )
    issues += _param_values(loaded, base, cls, cand, valid)
    for key, space in cand.search.items():
        path = f"{base}.search.{key}"
        if isinstance(space, list) and not space:
            issues.append(_issue(loaded, path, "empty list of values"))
        elif not isinstance(space, list):
            if space.low > space.high:
                issues.append(
                    _issue(loaded, path, f"low ({space.low}) is greater than high ({space.high})")
                )
            if space.is_log and space.low <= 0:
                issues.append(_issue(loaded, path, "a log scale needs low > 0"))
    t = loaded.recipe.tuning
    if t.strategy == "grid":
        size = grid_size(cand.search)
        if size is None:
            issues.append(
                _issue(loaded, f"{base}.search", "grid search needs lists, not distributions")
            )
        elif size > t.max_grid:
            issues.append(
                _issue(
                    loaded,
                    f"{base}.search",
                    f"grid has {size} combinations, more than tuning.max_grid ({t.max_grid})",
                )
            )
    return issues


def _param_values(
    loaded: LoadedRecipe, base: str, cls: type, cand, valid: list[str]
) -> list[Issue]:
    """Values sklearn would refuse at fit time (``C: -1``), refused now instead."""
    if not hasattr(cls, "_validate_params"):
        return []
    fixed = {k: v for k, v in cand.params.items() if k in valid}
    trials = [(f"{base}.params.{k}", {k: v}) for k, v in fixed.items()]
    for key, space in cand.search.items():
        if key in valid and isinstance(space, list):
            trials += [(f"{base}.search.{key}", {key: v}) for v in space]
    issues = []
    for path, value in trials:
        problem = _param_problem(cls, {**fixed, **value}, next(iter(value)))
        if problem:
            issues.append(_issue(loaded, path, problem))
    return list({i.path: i for i in issues}.values())


def _param_problem(cls: type, params: dict, key: str) -> str | None:
    try:
        cls(**params)._validate_params()
    except (ValueError, TypeError) as exc:
        text = str(exc).strip().splitlines()[0]
        return text if f"'{key}'" in text else None
    return None


@check
def _compute(loaded: LoadedRecipe) -> list[Issue]:
    from mlctl.compute.settings import address_problem

    c = loaded.recipe.compute
    if c.address is None:
        return []
    problem = address_problem(c.address)
    issues = [_issue(loaded, "compute.address", problem)] if problem else []
    if c.backend != "dask":
        issues.append(
            _issue(
                loaded,
                "compute.address",
                f"is set but compute.backend is '{c.backend}', so the cluster would not be "
                "used; set compute.backend: dask, or remove compute.address",
            )
        )
    for key in ("n_workers", "threads_per_worker"):
        if getattr(c, key) is not None:
            issues.append(
                _issue(
                    loaded,
                    f"compute.{key}",
                    f"sizes the LocalCluster mlctl starts, but compute.address ({c.address}) "
                    "names a running cluster with its own workers; remove one of the two",
                )
            )
    return issues


# ------------------------------------------------------------------ monitor

P_VALUE_METHODS = ("ks", "chisquare", "z")
NUMERIC_ONLY_METHODS = ("ks", "wasserstein")
JS_MAX = 0.8325546111576977  # sqrt(ln 2): the largest Jensen-Shannon distance (natural log)


def _threshold_issue(path: str, method: str, threshold: float | None) -> str | None:
    """Why a (method, threshold) pair cannot work, or None."""
    if threshold is None:
        return None
    if method in P_VALUE_METHODS and not 0.0 < threshold < 1.0:
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
    if method not in P_VALUE_METHODS and threshold == 0.0:
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
            issues.append(_issue(loaded, f"monitor.drift.{kind}.threshold", problem))
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
                    else f"features: {_some(known)}"
                )
                why = f"'{name}' is not a feature of this recipe; {hint}"
            issues.append(replace(_issue(loaded, path, why), after_data=True))
            continue
        if name in categorical and test.method in NUMERIC_ONLY_METHODS:
            issues.append(
                _issue(
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
            issues.append(_issue(loaded, f"{path}.threshold", problem))
    p = r.monitor.prediction_drift
    for side in ("score", "prediction"):
        test = getattr(p, side)
        problem = _threshold_issue(f"monitor.prediction_drift.{side}", test.method, test.threshold)
        if problem:
            issues.append(_issue(loaded, f"monitor.prediction_drift.{side}.threshold", problem))
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
            _issue(loaded, "monitor.performance.metrics", "empty: name at least one metric")
        )
    for i, metric in enumerate(perf.metrics or []):
        if metric not in names:
            close = difflib.get_close_matches(metric, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"expected one of {_some(names)}"
            issues.append(
                _issue(
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
                    _issue(
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
            _issue(
                loaded,
                "monitor.volume.min_baseline_hours",
                f"{v.min_baseline_hours} is more than monitor.volume.baseline_hours "
                f"({v.baseline_hours}), so the check could never judge",
            )
        )
    a = m.alerts
    if a.webhook is not None and not a.webhook.startswith(("http://", "https://")):
        issues.append(
            _issue(loaded, "monitor.alerts.webhook", "must be an http:// or https:// URL")
        )
    if a.command is not None:
        empty = not a.command if isinstance(a.command, list) else not a.command.strip()
        if empty:
            issues.append(_issue(loaded, "monitor.alerts.command", "empty: name a program to run"))
        elif isinstance(a.command, str):
            import shlex

            try:
                shlex.split(a.command)
            except ValueError as exc:
                issues.append(
                    _issue(
                        loaded, "monitor.alerts.command", f"does not split into arguments: {exc}"
                    )
                )
    return issues
