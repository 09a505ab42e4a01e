"""The estimator catalog: short names a recipe may use, and the `_target_` allowlist.

Importing a class from a recipe is the one place where YAML could make us run
arbitrary code, so class paths are only accepted under allowed prefixes.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from mlctl.errors import RecipeError

DEFAULT_PREFIXES = ("sklearn.", "mlctl.")


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


def check_allowed(class_path: str, extra_prefixes: list[str] | tuple[str, ...] = ()) -> None:
    """Refuse a class path outside the allowed prefixes.

    Raises:
        RecipeError: the path is not under ``sklearn.``, ``mlctl.`` or an extra prefix.
    """
    prefixes = tuple(DEFAULT_PREFIXES) + tuple(
        p if p.endswith(".") else p + "." for p in extra_prefixes
    )
    if not class_path.startswith(prefixes):
        raise RecipeError(
            f"class path '{class_path}' is not allowed; allowed prefixes: "
            f"{', '.join(prefixes)} (add one to models.allowed_prefixes if you trust it)"
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


def resolve_estimator_class(
    estimator: str | None, target: str | None, task: str, extra_prefixes: list[str]
) -> type:
    """The class a candidate names, by catalog name or allowed ``_target_`` path.

    Raises:
        RecipeError: neither or both given, unknown name, disallowed or missing class.
    """
    if bool(estimator) == bool(target):
        raise RecipeError("give exactly one of 'estimator' (a catalog name) or '_target_'")
    if estimator:
        return import_class(class_path_for(estimator, task))
    check_allowed(target, extra_prefixes)
    return import_class(target)
