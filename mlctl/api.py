"""The public Python API: what a notebook, a pipeline script or an orchestrator task
calls instead of the CLI.

It does what ``mlctl run``, ``mlctl monitor`` and ``mlctl validate --no-data`` do, without printing or
exiting: results come back as objects, failures as :class:`mlctl.errors.MlctlError`
subclasses (``RecipeError``, ``DataError``, ``TrackingError``, ...), each with the
message the CLI would print and the exit code it would use (``error.exit_code``).

Example::

    from mlctl.api import run

    summary = run("recipes/churn.yaml", ["models=fast"], promote=True)
    if summary.ready:
        print(summary.model_name, summary.version, summary.test_metrics["roc_auc"])

Everything else in the package may change between releases; these names will not
without a deprecation period.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlctl.recipe.loader import LoadedRecipe

if TYPE_CHECKING:
    from mlctl.monitor.run import MonitorOptions, MonitorResult
    from mlctl.runner import RunSummary

__all__ = ["LoadedRecipe", "RunSummary", "load", "monitor", "run"]


def __getattr__(name: str) -> Any:
    # RunSummary is imported on first use: the runner imports scikit-learn, which a
    # monitoring check (mlctl.api.monitor, the CLI's monitor) mostly never needs.
    if name == "RunSummary":
        from mlctl.runner import RunSummary

        return RunSummary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(recipe: str | Path, overrides: Sequence[str] = ()) -> LoadedRecipe:
    """Compose and check a recipe with Hydra-style ``key=value`` overrides (what
    ``mlctl validate --no-data`` and ``mlctl show`` do); reads no data.

    Raises:
        RecipeError: every problem found, each naming its key and file:line.
    """
    from mlctl.recipe.loader import load_recipe

    return load_recipe(recipe, list(overrides))


def run(
    recipe: str | Path | LoadedRecipe,
    overrides: Sequence[str] = (),
    *,
    workspace: str | None = None,
    promote: bool = False,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Train, evaluate, gate and register what a recipe describes (``mlctl run``).

    Args:
        recipe: a recipe file, or one already loaded with :func:`load`.
        overrides: ``key=value`` overrides (only with a file).
        workspace: the workspace folder; default: the recipe's, as for the CLI.
        promote: make the new version ``champion`` when the gate passes (the CLI's
            ``--promote --yes``); otherwise it is registered as ``challenger``.
        on_event: called with ``(kind, data)`` as the run progresses (stages, folds).

    Returns:
        The run's summary; ``summary.ready`` is False when the readiness gate failed
        (then nothing is registered, as with exit code 3).

    Raises:
        MlctlError: a bad recipe or data, an unreachable tracking store, ...
    """
    from mlctl.runner import RunOptions
    from mlctl.runner import run as run_recipe

    if isinstance(recipe, LoadedRecipe):
        if overrides:
            raise TypeError("overrides go with a recipe file, not a loaded recipe")
        loaded = recipe
    else:
        from mlctl.recipe.loader import load_recipe

        loaded = load_recipe(recipe, list(overrides), data_first=True)  # data errors first
    return run_recipe(loaded, RunOptions(workspace, promote), on_event)


def monitor(
    recipe: str | Path | LoadedRecipe,
    options: MonitorOptions | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    *,
    overrides: Sequence[str] = (),
) -> MonitorResult:
    """Check drift, performance and volume of a recipe's served model (``mlctl monitor``).

    Args:
        recipe: a recipe file, or one already loaded with :func:`load`.
        options: what the command line would choose
            (:class:`mlctl.monitor.run.MonitorOptions`); default: the recipe's window,
            the served alias, the prediction log.
        on_event: called with ``(kind, data)`` as the check progresses.
        overrides: ``key=value`` overrides (only with a file).

    Returns:
        The result: ``result.status`` is ``healthy``, ``attention`` or
        ``not_enough_data``; ``result.to_dict()`` is the JSON document. A retrain the
        ``monitor.retrain`` policy (or ``options.retrain``) asks for runs
        :func:`mlctl.runner.run`, unpromoted.

    Raises:
        MonitorCannotRun: nothing to judge (no log, no rows, no profile) or another
            run holds the lock (exit 7).
        MlctlError: a bad recipe, an unreachable tracking store, ...
    """
    from mlctl.monitor.run import MonitorOptions
    from mlctl.monitor.run import monitor as run_monitor

    if isinstance(recipe, LoadedRecipe):
        if overrides:
            raise TypeError("overrides go with a recipe file, not a loaded recipe")
        loaded = recipe
    else:
        from mlctl.recipe.loader import load_recipe

        loaded = load_recipe(recipe, list(overrides), training=False)
    return run_monitor(loaded, options or MonitorOptions(), on_event, train=_train_unpromoted)


def _train_unpromoted(
    loaded: LoadedRecipe,
    workspace: str | None,
    tags: dict[str, str],
    on_event: Callable[[str, dict[str, Any]], None],
) -> RunSummary:
    """The monitor's retraining run (:data:`mlctl.monitor.retrain.Trainer`)."""
    from mlctl.runner import RunOptions
    from mlctl.runner import run as run_recipe

    return run_recipe(loaded, RunOptions(workspace, promote=False, tags=tags), on_event)
