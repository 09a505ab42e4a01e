"""Checks of what only training uses: the candidate classes and their params.

Building every candidate class to check its params imports most of scikit-learn
(~1-4 s), so these run only for commands that train (``run``, ``validate``, sweeps,
``deploy``, ``monitor --retrain``); serving, scoring and monitoring load a recipe
without them (:func:`mlctl.recipe.loader.load_recipe`). Their issues follow the
recipe's own, in the same error.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from mlctl.errors import Issue, RecipeError
from mlctl.recipe.checks import Check, issue, short_list
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.loader import load_recipe


def load_training_recipe(
    path: str | Path, overrides: list[str] | None = None, *, data_first: bool = False
) -> LoadedRecipe:
    """:func:`mlctl.recipe.loader.load_recipe` with the training checks too.

    Raises:
        RecipeError: with every issue found, the recipe's own first.
    """
    return load_recipe(path, overrides, extra_checks=TRAINING_CHECKS, data_first=data_first)


def training_issues(loaded: LoadedRecipe) -> list[Issue]:
    """Only the training checks: for a recipe loaded without them that is about to
    train after all (``mlctl monitor --retrain``)."""
    return [found for fn in TRAINING_CHECKS for found in fn(loaded)]


def _candidates(loaded: LoadedRecipe) -> list[Issue]:
    from mlctl.catalog import resolve_estimator_class

    r = loaded.recipe
    enabled = {k: c for k, c in r.models.candidates.items() if c.enabled}
    if not enabled:
        return [issue(loaded, "models.candidates", "no enabled candidate models")]
    issues = []
    for name, cand in enabled.items():
        base = f"models.candidates.{name}"
        try:
            cls = resolve_estimator_class(cand.estimator, cand.target_, r.task)
        except RecipeError as exc:
            where = "estimator" if cand.estimator else "_target_"
            issues.append(issue(loaded, f"{base}.{where}", exc.issues[0].message))
            continue
        issues.extend(_candidate_params(loaded, base, cls, cand))
    return issues


def _candidate_params(loaded: LoadedRecipe, base: str, cls: type, cand) -> list[Issue]:
    from mlctl.train.search import grid_size

    try:
        valid = sorted(cls().get_params(deep=True))
    except Exception as exc:  # a third-party class that cannot be built bare
        return [issue(loaded, base, f"cannot create {cls.__name__}() to check params: {exc}")]
    issues = []
    for section in ("params", "search"):
        for key in getattr(cand, section):
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"valid: {short_list(valid)}"
                issues.append(
                    issue(
                        loaded,
                        f"{base}.{section}.{key}",
                        f"{cls.__name__} has no parameter '{key}'; {hint}",
                    )
                )
    issues += _param_values(loaded, base, cls, cand, valid)
    for key, space in cand.search.items():
        path = f"{base}.search.{key}"
        if isinstance(space, list) and not space:
            issues.append(issue(loaded, path, "empty list of values"))
        elif not isinstance(space, list):
            if space.low > space.high:
                issues.append(
                    issue(loaded, path, f"low ({space.low}) is greater than high ({space.high})")
                )
            if space.is_log and space.low <= 0:
                issues.append(issue(loaded, path, "a log scale needs low > 0"))
    t = loaded.recipe.tuning
    if t.strategy == "grid":
        size = grid_size(cand.search)
        if size is None:
            issues.append(
                issue(loaded, f"{base}.search", "grid search needs lists, not distributions")
            )
        elif size > t.max_grid:
            issues.append(
                issue(
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
            issues.append(issue(loaded, path, problem))
    return list({i.path: i for i in issues}.values())


def _param_problem(cls: type, params: dict, key: str) -> str | None:
    try:
        cls(**params)._validate_params()
    except (ValueError, TypeError) as exc:
        text = str(exc).strip().splitlines()[0]
        return text if f"'{key}'" in text else None
    return None


TRAINING_CHECKS: list[Check] = [_candidates]
