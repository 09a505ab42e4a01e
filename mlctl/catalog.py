"""The estimator catalog: short names a recipe may use, and the `_target_` allowlist.

Importing a class from a recipe is the one place where YAML could make us run
arbitrary code, so class paths are only accepted under allowed prefixes: ``sklearn.``,
``mlctl.`` and those the person running mlctl trusts (``--trust-prefix``,
``MLCTL_TRUSTED_PREFIXES``). A recipe's ``models.allowed_prefixes`` is only a request
that those must already cover; it never widens the allowlist itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass

from mlctl.errors import RecipeError
from mlctl.trust import TRUST_HINT, allowed_prefixes


@dataclass(frozen=True)
class Entry:
    """Class paths of one catalog name, per task (None: not available for the task)."""

    classification: str | None
    regression: str | None
    requires: str | None = None  # an optional package that must be installed
    description: str = ""


CATALOG: dict[str, Entry] = {
    "logistic_regression": Entry(
        "sklearn.linear_model.LogisticRegression", None, description="Logistic regression."
    ),
    "random_forest": Entry(
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.ensemble.RandomForestRegressor",
        description="Random forest.",
    ),
    "extra_trees": Entry(
        "sklearn.ensemble.ExtraTreesClassifier",
        "sklearn.ensemble.ExtraTreesRegressor",
        description="Extremely randomized trees.",
    ),
    "gradient_boosting": Entry(
        "sklearn.ensemble.GradientBoostingClassifier",
        "sklearn.ensemble.GradientBoostingRegressor",
        description="Gradient boosting (sklearn).",
    ),
    "hist_gradient_boosting": Entry(
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.ensemble.HistGradientBoostingRegressor",
        description="Histogram gradient boosting (fast on large data).",
    ),
    "linear": Entry(None, "sklearn.linear_model.LinearRegression", description="OLS regression."),
    "ridge": Entry(
        "sklearn.linear_model.RidgeClassifier",
        "sklearn.linear_model.Ridge",
        description="Ridge (L2) linear model.",
    ),
    "lasso": Entry(None, "sklearn.linear_model.Lasso", description="Lasso (L1) regression."),
    "dummy": Entry(
        "sklearn.dummy.DummyClassifier",
        "sklearn.dummy.DummyRegressor",
        description="Baseline that ignores the features.",
    ),
    "lightgbm": Entry(
        "lightgbm.LGBMClassifier",
        "lightgbm.LGBMRegressor",
        requires="lightgbm",
        description="LightGBM (when installed).",
    ),
    "xgboost": Entry(
        "xgboost.XGBClassifier",
        "xgboost.XGBRegressor",
        requires="xgboost",
        description="XGBoost (when installed).",
    ),
}


def available_names(task: str) -> list[str]:
    """Catalog names usable for a task in this environment."""
    out = []
    for name, entry in CATALOG.items():
        if getattr(entry, task) is None:
            continue
        if entry.requires and importlib.util.find_spec(entry.requires) is None:
            continue
        out.append(name)
    return out


def class_path_for(name: str, task: str) -> str:
    """Class path of a catalog name for a task.

    Raises:
        RecipeError: unknown name, not available for the task, or not installed.
    """
    import difflib

    entry = CATALOG.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(CATALOG), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise RecipeError(
            f"unknown estimator '{name}'; {hint}available: {', '.join(available_names(task))}"
        )
    path = getattr(entry, task)
    if path is None:
        raise RecipeError(
            f"estimator '{name}' has no {task} variant; available: "
            f"{', '.join(available_names(task))}"
        )
    if entry.requires and importlib.util.find_spec(entry.requires) is None:
        raise RecipeError(
            f"estimator '{name}' needs the package '{entry.requires}', which is not installed"
        )
    return path


_CLASS_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def check_allowed(class_path: str) -> None:
    """Refuse a class path outside the allowed prefixes, before anything is imported.

    Raises:
        RecipeError: the path is malformed or not under ``sklearn.``, ``mlctl.`` or a
            prefix the user trusts.
    """
    prefixes = allowed_prefixes()
    if not isinstance(class_path, str) or not _CLASS_PATH.fullmatch(class_path):
        raise RecipeError(f"class path {class_path!r} must look like package.module.Class")
    if not class_path.startswith(prefixes):
        raise RecipeError(
            f"class path '{class_path}' is not allowed (allowed: {', '.join(prefixes)}); "
            f"{TRUST_HINT}"
        )


def import_class(class_path: str) -> type:
    """Import ``package.module.Class``.

    Raises:
        RecipeError: the module or class does not exist, or it is not a class.
    """
    module_name, _, attr = class_path.rpartition(".")
    if not module_name:
        raise RecipeError(f"class path '{class_path}' must look like package.module.Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RecipeError(f"cannot import module '{module_name}': {exc}") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise RecipeError(f"'{attr}' is not a class in module '{module_name}'")
    return cls


def import_estimator(class_path: str) -> type:
    """Import an allowed estimator class: the path is checked first, then the module
    the class really lives in (``sklearn.x.Popen`` re-exported from ``subprocess`` is
    refused), and it must have ``fit`` and ``get_params`` before anything builds it.

    Raises:
        RecipeError: not allowed, missing, or not an estimator.
    """
    check_allowed(class_path)
    cls = import_class(class_path)
    real = f"{cls.__module__}.{cls.__qualname__}"
    if not real.startswith(allowed_prefixes()):
        raise RecipeError(
            f"class path '{class_path}' is really {real}, which is not under an allowed "
            f"prefix; {TRUST_HINT}"
        )
    if not (callable(getattr(cls, "fit", None)) and callable(getattr(cls, "get_params", None))):
        raise RecipeError(f"'{class_path}' is not an estimator (no fit/get_params methods)")
    return cls


def resolve_estimator_class(estimator: str | None, target: str | None, task: str) -> type:
    """The class a candidate names, by catalog name or allowed ``_target_`` path.

    Raises:
        RecipeError: neither or both given, unknown name, disallowed or missing class.
    """
    if bool(estimator) == bool(target):
        raise RecipeError("give exactly one of 'estimator' (a catalog name) or '_target_'")
    if estimator:
        return import_class(class_path_for(estimator, task))
    return import_estimator(target)
