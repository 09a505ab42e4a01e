"""The Recipes train step → mlctl ``models`` and ``tuning`` sections.

``using: custom`` (or ``estimator_spec``): the class ``estimator_fn`` returns, read
from ``steps/train.py``, with ``estimator_params`` as fixed params and the hyperopt
``tuning.parameters`` as the search space. ``using: automl/flaml``: the FLAML
learners as catalog candidates, searched by Optuna within the time budget.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mlctl.catalog import CATALOG, available_names, import_class, import_estimator
from mlctl.errors import RecipeError
from mlctl.importer.project import RecipesProject
from mlctl.importer.pysource import read_function
from mlctl.importer.report import Report

MAX_LISTED = 50  # quantized ranges up to this many values become a list

# Search spaces for candidates the importer adds itself (FLAML learners, fallback).
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "logistic_regression": {
        "params": {"max_iter": 2000},
        "search": {"C": {"distribution": "loguniform", "low": 0.01, "high": 10.0}},
    },
    "ridge": {"search": {"alpha": {"distribution": "loguniform", "low": 0.01, "high": 100.0}}},
    "random_forest": {
        "params": {"n_estimators": 200, "n_jobs": 1},
        "search": {"max_depth": [6, 10, 14], "min_samples_leaf": [1, 5, 20]},
    },
    "extra_trees": {
        "params": {"n_estimators": 200, "n_jobs": 1},
        "search": {"max_depth": [6, 10, 14], "min_samples_leaf": [1, 5, 20]},
    },
    "hist_gradient_boosting": {
        "search": {
            "learning_rate": {"distribution": "loguniform", "low": 0.03, "high": 0.3},
            "max_leaf_nodes": [15, 31, 63],
            "min_samples_leaf": [10, 20, 50],
        }
    },
    "lightgbm": {
        "params": {"verbose": -1, "n_jobs": 1},
        "search": {
            "learning_rate": {"distribution": "loguniform", "low": 0.03, "high": 0.3},
            "num_leaves": [15, 31, 63],
            "n_estimators": [100, 300],
        },
    },
    "xgboost": {
        "params": {"n_jobs": 1},
        "search": {
            "learning_rate": {"distribution": "loguniform", "low": 0.03, "high": 0.3},
            "max_depth": [3, 6, 9],
            "n_estimators": [100, 300],
        },
    },
}
# FLAML's learner names (flaml.AutoML estimator_list) → catalog names, by preference.
FLAML_LEARNERS: dict[str, tuple[str, ...]] = {
    "lgbm": ("lightgbm", "hist_gradient_boosting"),
    "xgboost": ("xgboost", "hist_gradient_boosting"),
    "xgb_limitdepth": ("xgboost", "hist_gradient_boosting"),
    "histgb": ("hist_gradient_boosting",),
    "rf": ("random_forest",),
    "extra_tree": ("extra_trees",),
    "lrl1": ("logistic_regression",),
    "lrl2": ("logistic_regression",),
}
FLAML_DEFAULT = {
    "classification": ["lgbm", "rf", "catboost", "xgboost", "extra_tree", "xgb_limitdepth", "lrl1"],
    "regression": ["lgbm", "rf", "catboost", "xgboost", "extra_tree", "xgb_limitdepth"],
}
FALLBACK = {
    "classification": ["logistic_regression", "random_forest", "hist_gradient_boosting"],
    "regression": ["ridge", "random_forest", "hist_gradient_boosting"],
}


def map_train(project: RecipesProject, report: Report) -> tuple[dict, dict]:
    """The ``models`` candidates and the ``tuning`` section for the project's train step."""
    train = project.step("train")
    using = train.get("using", "custom")
    if using == "automl/flaml":
        return _automl(project, train, report)
    if using not in ("custom", "estimator_spec"):
        report.unmapped(
            "steps.train.using",
            f"unknown value '{using}' (Recipes knew custom and automl/flaml)",
            "the importer used its default candidates instead",
        )
        return _fallback_result(project, train, report, "steps.train.using")
    return _custom(project, train, report)


def _custom(project: RecipesProject, train: dict, report: Report) -> tuple[dict, dict]:
    method = train.get("estimator_method")
    if not method:
        report.unmapped(
            "steps.train.estimator_method",
            "not set: the train step names no estimator function",
            "the importer used its default candidates; edit models.candidates",
        )
        return _fallback_result(project, train, report, "steps.train")
    info = read_function(project.root, str(method), "train")
    source = f"steps.train.estimator_method ({info.module}.py:{info.name})"
    cls_path = info.estimator_class
    name, candidate = _candidate_for_class(cls_path, project.task) if cls_path else (None, None)
    if candidate is None:
        why = info.problem or (
            f"{info.where}: {info.name}() does not return one scikit-learn-compatible class "
            "call the importer can read"
            if info.found
            else f"{info.name}() not found"
        )
        if cls_path:
            why = (
                f"{info.where}: returns {cls_path}, which mlctl cannot use "
                f"(not a {project.task} estimator of scikit-learn or the catalog)"
            )
        report.unmapped(
            source,
            f"custom Python estimator function: {why}",
            "mlctl does not run project code; the importer used its default candidates "
            "(models.candidates): replace them with an estimator from the catalog "
            "(docs/recipes.md#estimators) or a sklearn `_target_`",
        )
        return _fallback_result(project, train, report, source)
    cls = import_class(candidate.get("_target_") or _catalog_path(name, project.task))
    valid = set(cls().get_params())
    extra = _mapping(train.get("estimator_params"), "steps.train.estimator_params", report)
    candidate["params"] = _known({**info.params, **extra}, valid, cls, report)
    report.mapped(
        source,
        f"models.candidates.{name}",
        f"{info.where}: returns {cls_path}"
        + (f" with {', '.join(sorted(candidate['params']))}" if candidate["params"] else ""),
        comment=f"from steps/{info.module}.py:{info.name}() → {cls_path}",
    )
    if info.problem:
        report.approximated(source, f"models.candidates.{name}.params", info.problem)
    kept = ", ".join(f"{k}={v!r}" for k, v in extra.items() if k in valid)
    if kept and info.passes_estimator_params:
        report.mapped("steps.train.estimator_params", f"models.candidates.{name}.params", kept)
    elif kept:
        report.approximated(
            "steps.train.estimator_params",
            f"models.candidates.{name}.params",
            f"{kept}: {info.name}() does not pass **estimator_params to {cls.__name__}; "
            "they are set as its params anyway",
        )
    tuning_cfg = _mapping(train.get("tuning"), "steps.train.tuning", report)
    tuning = _tuning({**train, "tuning": tuning_cfg}, report, bool(tuning_cfg.get("enabled")))
    if tuning_cfg.get("enabled"):
        parameters = _mapping(tuning_cfg.get("parameters"), "steps.train.tuning.parameters", report)
        search = _search_space(parameters, valid, cls, report)
        if search:
            candidate["search"] = search
            report.comments[f"models.candidates.{name}.search"] = (
                "from steps.train.tuning.parameters (hyperopt search space)"
            )
    return {name: candidate}, tuning


def _catalog_path(name: str, task: str) -> str:
    return getattr(CATALOG[name], task)


def _candidate_for_class(cls_path: str, task: str) -> tuple[str | None, dict | None]:
    """A catalog name for a known class, else an allowed sklearn ``_target_``."""
    usable = set(available_names(task))
    for cat_name, entry in CATALOG.items():
        if getattr(entry, task) == cls_path and cat_name in usable:
            return cat_name, {"estimator": cat_name}
    short = cls_path.rsplit(".", 1)[-1]
    for cat_name, entry in CATALOG.items():
        path = getattr(entry, task)
        if path and path.rsplit(".", 1)[-1] == short and cat_name in usable:
            return cat_name, {"estimator": cat_name}  # e.g. sklearn.linear_model._logistic
    try:
        cls = import_estimator(cls_path)
        instance = cls()
    except (RecipeError, TypeError, ValueError):  # not allowed, missing, needs arguments
        return None, None
    from sklearn.base import is_classifier, is_regressor

    if not (is_classifier if task == "classification" else is_regressor)(instance):
        return None, None
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", short).lower()
    return snake, {"_target_": cls_path}


def _mapping(value: Any, where: str, report: Report) -> dict:
    """``value`` when it is a mapping (or empty); anything else is reported and skipped."""
    if value is None or isinstance(value, dict):
        return value or {}
    report.unmapped(
        where,
        f"expected a mapping of names to values, found {type(value).__name__} {value!r}",
        "left out of the recipe; write it as `name: value` lines",
    )
    return {}


def _known(params: dict, valid: set[str], cls: type, report: Report) -> dict:
    out = {}
    for key, value in params.items():
        if key in valid:
            out[key] = value
        else:
            report.unmapped(
                f"steps.train.estimator_params.{key}",
                f"{cls.__name__} has no parameter '{key}'",
                "left out of the recipe",
            )
    return out


def _tuning(train: dict, report: Report, enabled: bool) -> dict:
    cfg = train.get("tuning") or {}
    if not enabled:
        if cfg:
            report.mapped(
                "steps.train.tuning.enabled",
                "tuning.strategy",
                "false: each candidate is cross-validated with its fixed params",
                comment="steps.train.tuning.enabled: false",
            )
        return {"strategy": "none"}
    algorithm = str(cfg.get("algorithm", "hyperopt.rand.suggest"))
    trials = cfg.get("max_trials", 10)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        report.unmapped(
            "steps.train.tuning.max_trials",
            f"expected a whole number of at least 1, found {trials!r}",
            "the recipe uses 10 trials; set tuning.n_iter / tuning.n_trials",
        )
        trials = 10
    if algorithm.endswith("rand.suggest"):
        tuning = {"strategy": "random", "n_iter": trials}
        report.mapped(
            "steps.train.tuning",
            "tuning",
            f"{algorithm}, max_trials {trials} → random search, n_iter {trials}",
            comment=f"from steps.train.tuning ({algorithm}, max_trials {trials})",
        )
    else:
        tuning = {"strategy": "optuna", "n_trials": trials}
        detail = f"{algorithm}, max_trials {trials} → Optuna TPE, n_trials {trials}"
        comment = f"from steps.train.tuning ({algorithm}, max_trials {trials})"
        if algorithm.endswith("tpe.suggest"):
            report.mapped("steps.train.tuning", "tuning", detail, comment=comment)
        else:
            report.approximated(
                "steps.train.tuning", "tuning", detail + " (nearest mlctl search)", comment=comment
            )
    if cfg.get("parallelism", 1) != 1:
        report.approximated(
            "steps.train.tuning.parallelism",
            "tuning.n_jobs",
            f"{cfg['parallelism']} Spark workers → local processes (tuning.n_jobs, default "
            "every core)",
            "for a cluster set compute.backend: dask (docs/dask.md)",
        )
    if cfg.get("early_stop_fn"):
        if tuning["strategy"] == "optuna":
            report.approximated(
                "steps.train.tuning.early_stop_fn",
                "tuning.pruning",
                f"{cfg['early_stop_fn']} → Optuna median pruning after each fold",
            )
        else:
            report.unmapped(
                "steps.train.tuning.early_stop_fn",
                f"{cfg['early_stop_fn']}: random search has no early stop",
                "use tuning.strategy: optuna for pruning, or lower tuning.n_iter",
            )
    if "sample_fraction" in cfg and float(cfg["sample_fraction"]) < 1.0:
        report.unmapped(
            "steps.train.tuning.sample_fraction",
            f"{cfg['sample_fraction']}: mlctl tunes on the whole training split",
            "lower models.cv_folds or tuning.n_iter to make tuning cheaper",
        )
    return tuning


def _search_space(params: dict, valid: set[str], cls: type, report: Report) -> dict:
    out: dict[str, Any] = {}
    for key, spec in params.items():
        where = f"steps.train.tuning.parameters.{key}"
        if key not in valid:
            report.unmapped(where, f"{cls.__name__} has no parameter '{key}'", "left out")
            continue
        space, note = hyperopt_space(spec)
        if space is None:
            report.unmapped(where, note or "not a hyperopt expression", "give bounds or values")
        elif note:
            report.approximated(where, "search", note)
            out[key] = space
        else:
            out[key] = space
    return out


def hyperopt_space(spec: Any) -> tuple[Any, str | None]:
    """A Recipes/hyperopt search expression → an mlctl search space and a note.

    Returns ``(None, why)`` when there is no bounded equivalent.
    """
    if not isinstance(spec, dict):
        return None, f"expected a mapping with `values` or `distribution`, found {spec!r}"
    if "values" in spec or spec.get("distribution") == "choice":
        values = spec.get("values", spec.get("options"))
        if not isinstance(values, list) or not values:
            return None, "choice needs a non-empty list of values"
        if any(isinstance(v, dict | list) for v in values):
            return None, "a choice between nested spaces or lists has no mlctl equivalent"
        return list(values), None
    dist = spec.get("distribution")
    try:
        space, note = _range_space(spec, dist)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        return None, f"{dist}: missing or bad bound ({exc})"
    if space is None or isinstance(space, list):
        return (space, note) if space else (None, note or f"{dist}: no value in range")
    low, high = space["low"], space["high"]
    bounds = f"low {spec.get('low')!r}, high {spec.get('high', spec.get('upper'))!r}"
    if not (math.isfinite(low) and math.isfinite(high)):
        return None, f"{dist}: {bounds} are not finite numbers"
    if low > high:
        return None, f"{dist}: {bounds} leave no value in range"
    if (space.get("log") or space["distribution"] == "loguniform") and low <= 0:
        return None, f"{dist}: {bounds} reach 0, which a log scale cannot sample"
    return space, note


def _range_space(spec: dict, dist: Any) -> tuple[Any, str | None]:
    low, high = spec.get("low"), spec.get("high")
    if dist == "uniform":
        return {"distribution": "uniform", "low": float(low), "high": float(high)}, None
    if dist == "loguniform":  # hyperopt bounds are natural logs
        space = {"distribution": "loguniform", "low": _exp(low), "high": _exp(high)}
        return space, None
    if dist in ("randint", "uniformint"):
        if dist == "randint" and high is None:  # hp.randint(label, upper): [0, upper)
            low, high = 0, spec["upper"]
        top = int(high) - 1 if dist == "randint" else int(high)
        return {"distribution": "int", "low": int(low), "high": top}, None
    if dist == "quniform":
        return _quantized(float(low), float(high), _step(spec))
    if dist == "qloguniform":
        space = {"distribution": "loguniform", "low": _exp(low), "high": _exp(high)}
        q = _step(spec)
        if q.is_integer():
            space = {**space, "distribution": "int", "log": True}
            space["low"], space["high"] = math.ceil(space["low"]), math.floor(space["high"])
        return space, f"q={spec['q']} steps are not kept; sampled on a log scale"
    return None, f"distribution '{dist}' is unbounded or has no mlctl equivalent"


def _step(spec: dict) -> float:
    q = float(spec["q"])
    if not q > 0 or not math.isfinite(q):
        raise ValueError(f"q must be a positive number, found {spec['q']!r}")
    return q


def _exp(value: Any) -> float:
    return float(f"{math.exp(float(value)):.6g}")


def _quantized(low: float, high: float, q: float) -> tuple[Any, str | None]:
    steps = math.floor((high - low) / q + 1e-9)
    if steps + 1 <= MAX_LISTED:
        values = [round(low + i * q, 10) for i in range(steps + 1)]
        if all(float(v).is_integer() for v in values) and q.is_integer():
            values = [int(v) for v in values]
        return values, None
    if q.is_integer() and low.is_integer():
        return {"distribution": "int", "low": int(low), "high": int(high)}, (
            f"q={q:g} steps are not kept (every integer in range)"
        )
    return {"distribution": "uniform", "low": low, "high": high}, f"q={q:g} steps are not kept"


def _automl(project: RecipesProject, train: dict, report: Report) -> tuple[dict, dict]:
    flaml = dict(_mapping(train.get("flaml_params"), "steps.train.flaml_params", report))
    learners = flaml.pop("estimator_list", None)
    given = learners is not None
    if learners in (None, "auto"):
        learners = FLAML_DEFAULT[project.task]
    elif not isinstance(learners, list):
        learners = [learners]  # one learner written without a list
    usable = set(available_names(project.task))
    candidates: dict[str, dict] = {}
    dropped = []
    for learner in learners:
        names = [n for n in FLAML_LEARNERS.get(str(learner), ()) if n in usable]
        if not names:
            dropped.append(str(learner))
            continue
        name = names[0]
        if name not in candidates:
            candidates[name] = _default_candidate(name)
    if not candidates:
        candidates = _fallback(project, report, "steps.train.flaml_params.estimator_list")
    names = ", ".join(candidates)
    source = "steps.train.using: automl/flaml"
    which = "flaml_params.estimator_list" if given else "FLAML's default learners"
    report.approximated(
        source,
        "models.candidates",
        f"{which} → catalog candidates {names}, each tuned by Optuna",
        "FLAML's cost-frugal search is not reproduced; mlctl cross-validates each "
        "candidate and keeps the best",
        comment=f"from {source} ({which})",
    )
    if dropped:
        report.unmapped(
            "steps.train.flaml_params.estimator_list",
            f"learners with no mlctl candidate: {', '.join(dropped)}",
            "add them as models.candidates with a `_target_` if you trust the package "
            "(run mlctl with --trust-prefix PACKAGE)",
        )
    budget = train.get("time_budget_secs")
    tuning: dict[str, Any] = {"strategy": "optuna", "n_trials": 20}
    report.comments["tuning"] = f"from {source}: Optuna per candidate"
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0
    ):
        report.unmapped(
            "steps.train.time_budget_secs",
            f"expected a positive number of seconds, found {budget!r}",
            "set tuning.timeout (seconds per candidate) if you want a time limit",
        )
        budget = None
    if budget:
        per = max(round(float(budget) / max(len(candidates), 1), 1), 0.1)
        tuning["timeout"] = per
        report.approximated(
            "steps.train.time_budget_secs",
            "tuning.timeout",
            f"{budget} s in all → {per} s of Optuna trials per candidate "
            f"({len(candidates)} candidates)",
            comment=f"steps.train.time_budget_secs {budget} / {len(candidates)} candidates",
        )
    for key in ("metric", "task", "time_budget"):
        flaml.pop(key, None)  # Recipes set these itself
    for key, value in flaml.items():
        report.unmapped(
            f"steps.train.flaml_params.{key}",
            f"FLAML setting {key}={value!r} has no mlctl equivalent",
            "see docs/tuning.md for mlctl's search settings",
        )
    return candidates, tuning


def _default_candidate(name: str) -> dict:
    space = DEFAULT_SPACES.get(name, {})
    out: dict[str, Any] = {"estimator": name}
    if space.get("params"):
        out["params"] = dict(space["params"])
    if space.get("search"):
        out["search"] = dict(space["search"])
    return out


def _fallback_result(
    project: RecipesProject, train: dict, report: Report, source: str
) -> tuple[dict, dict]:
    """Default candidates with a short random search; a hyperopt space written for the
    unknown estimator cannot be carried over."""
    cfg = train.get("tuning") or {}
    if cfg.get("enabled") and cfg.get("parameters"):
        report.unmapped(
            "steps.train.tuning.parameters",
            "search space of an estimator the importer could not map",
            "add it to the search of the candidate that replaces it",
        )
    trials = int(cfg.get("max_trials", 8)) if cfg.get("enabled") else 8
    return _fallback(project, report, source), {"strategy": "random", "n_iter": trials}


def _fallback(project: RecipesProject, report: Report, source: str) -> dict:
    names = FALLBACK[project.task]
    report.comments["models.candidates"] = (
        f"importer defaults: {source} could not be mapped (see the import report)"
    )
    return {name: _default_candidate(name) for name in names}
