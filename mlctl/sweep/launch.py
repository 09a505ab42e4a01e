"""``mlctl run -m``: a sweep run by Hydra's own sweeper and launcher plugins.

The recipe is Hydra's primary config, so any installed sweeper (basic, Optuna) or
launcher (basic, joblib, Ray, submitit) works unchanged, chosen and configured
with ordinary ``hydra/launcher=joblib``-style overrides. mlctl adds what Hydra does
not know about:

* every override value is composed and validated before any job starts;
* one MLflow run groups the sweep and every job's run is its child;
* jobs that share this machine's cores (joblib) get a share of them each;
* the Optuna sweeper's direction follows the recipe's selection metric;
* at the end the jobs are ranked and only the best job that passed the readiness
  gate is registered (promoted with ``--promote --yes``).

Hydra is imported here and in :mod:`mlctl.recipe.loader` only.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl import interrupts
from mlctl.errors import Issue, MlctlError, RecipeError, UsageError
from mlctl.recipe.loader import (
    check_overrides,
    conf_dirs,
    hydra_overrides,
    read_recipe_file,
)
from mlctl.redact import remember_env_refs
from mlctl.sweep.core import (
    JobContext,
    JobRecord,
    JobResult,
    SweepSummary,
    best_passing,
    merge_records,
    rank,
    read_records,
    run_job,
)
from mlctl.sweep.hydra_checks import check_hydra_classes, check_hydra_settings
from mlctl.text import first_line
from mlctl.train.checks import load_training_recipe

EventFn = Callable[[str, dict[str, Any]], None]
MAX_PROBES_PER_SWEEP = 12  # values of one sweep override composed before the sweep starts


@dataclass
class SweepOptions:
    """Choices made on the command line rather than in the recipe."""

    workspace: str | None = None
    promote: bool = False  # promotion of the best job approved (--promote --yes)


@dataclass
class HydraSetup:
    """What the composed ``hydra`` node says about the sweep."""

    sweeper: str  # the hydra/sweeper choice, e.g. basic, optuna
    launcher: str  # the hydra/launcher choice, e.g. basic, joblib
    launcher_jobs: int | None  # parallel jobs of the launcher, if it says
    n_trials: int | None  # the Optuna sweeper's trial budget
    direction: Any  # the Optuna sweeper's direction
    launcher_target: str = ""  # the launcher's class


def run_sweep(
    path: str | Path,
    overrides: list[str],
    options: SweepOptions,
    on_event: EventFn | None = None,
) -> SweepSummary:
    """Run a recipe once per job of a Hydra sweep; rank, then register the best.

    Raises:
        UsageError: an override does not parse, or a Hydra option does not exist.
        RecipeError: an override value makes an invalid recipe (before any job runs).
        TrackingError: the tracking store is unavailable.
    """
    from mlctl.evaluate.metrics import metrics_for_task
    from mlctl.tracking.sweeps import SweepRun
    from mlctl.tracking.workspace import for_recipe, prepare

    emit = on_event or (lambda kind, data: None)
    started = time.perf_counter()
    recipe_path, _ = read_recipe_file(path)
    check_overrides(overrides)
    task_args = [o for o in overrides if not _is_hydra_override(o)]
    emit("stage", {"message": "composing and checking every override value"})
    base_args, probes, planned = _probe_overrides(task_args)
    base = load_training_recipe(recipe_path, base_args)
    for probe in probes:
        load_training_recipe(recipe_path, probe)
    r = base.recipe
    greater = metrics_for_task(r.task)[r.selection_metric].greater_is_better
    dirs = conf_dirs(recipe_path)
    setup = _hydra_setup(recipe_path, dirs, overrides)
    if setup.sweeper != "basic":
        planned = setup.n_trials
    extra = _extra_overrides(overrides, setup, greater, planned)
    if setup.sweeper == "optuna":
        _quiet_optuna()
    inner_jobs = _inner_jobs(setup, extra, planned)

    ws = for_recipe(base, options.workspace)
    prepare(ws)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    sweep_id = f"{r.name}-{stamp}-{uuid.uuid4().hex[:6]}"
    sweep_dir = ws.root / "sweeps" / sweep_id
    sweep_run = SweepRun(
        ws,
        r.tracking.experiment or r.name,
        f"sweep-{sweep_id}",
        {
            "mlctl.sweep_id": sweep_id,
            "mlctl.recipe": str(recipe_path),
            "mlctl.model_name": r.model_name,
        },
    )
    sweep_run.log_params(
        {
            "sweep.overrides": " ".join(overrides),
            "sweep.sweeper": setup.sweeper,
            "sweep.launcher": setup.launcher,
        }
    )
    summary = SweepSummary(
        recipe=str(recipe_path),
        sweep_id=sweep_id,
        sweep_run_id=sweep_run.run_id,
        sweep_dir=str(sweep_dir),
        experiment_id=sweep_run.experiment_id,
        tracking_uri=ws.tracking_uri,
        sweeper=setup.sweeper,
        launcher=setup.launcher,
        model_name=r.model_name,
        selection_metric=r.selection_metric,
        greater_is_better=greater,
        planned=planned,
        jobs=[],
    )
    emit(
        "sweep_started",
        {
            "sweep_id": sweep_id,
            "run_id": sweep_run.run_id,
            "planned": planned,
            "sweeper": setup.sweeper,
            "launcher": setup.launcher,
            "sweep_dir": str(sweep_dir),
            "inner_jobs": inner_jobs,
            "swept_keys": _swept_keys(task_args),
        },
    )
    ctx = JobContext(
        str(recipe_path), options.workspace, sweep_id, sweep_run.run_id, inner_jobs, ws.tracking_uri
    )
    all_args = [
        *hydra_overrides(dirs, overrides),
        *extra,
        f"hydra.sweep.dir={_quote(str(sweep_dir))}",
    ]
    watcher = _Watcher(sweep_dir, emit)
    watcher.start()
    returned: Any = None
    try:
        returned = _multirun(recipe_path, all_args, functools.partial(_task, ctx))
    except KeyboardInterrupt:
        watcher.stop()
        sweep_run.end("KILLED")
        raise
    except MlctlError:
        watcher.stop()
        sweep_run.end("FAILED")
        raise
    except Exception as exc:  # the launcher or sweeper stopped; report the jobs that ran
        summary.error = first_line(exc)
    finally:
        watcher.stop()
    summary.jobs = rank(merge_records(read_records(sweep_dir), _returned_records(returned)))
    summary.best = best_passing(summary.jobs)
    undo = None
    try:
        if summary.best is not None:
            emit("stage", {"message": f"registering the model of job #{summary.best.job}"})
            undo = _register_best(summary, recipe_path, options, sweep_run)
        _log_sweep(sweep_run, summary)
    except BaseException as exc:
        if undo is not None:  # a failed or interrupted sweep leaves the registry as it was
            undo()
        killed = isinstance(exc, KeyboardInterrupt) or interrupts.received() is not None
        sweep_run.end("KILLED" if killed else "FAILED")
        raise
    sweep_run.end("FINISHED" if summary.error is None else "FAILED")
    summary.seconds = time.perf_counter() - started
    return summary


# ----------------------------------------------------------------------- jobs
def _task(ctx: JobContext, cfg: Any) -> float:
    """Hydra's task function for one job (module level, so launchers can pickle it)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    hc = HydraConfig.get()
    choices = {
        str(k): str(v)
        for k, v in OmegaConf.to_container(hc.runtime.choices).items()
        if not str(k).startswith("hydra/") and v is not None
    }
    composed, error = None, None
    try:
        remember_env_refs(OmegaConf.to_container(cfg, resolve=False))
        composed = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        error = f"cannot resolve the job's recipe: {first_line(exc)}"
    record = run_job(
        ctx,
        composed,
        choices,
        [str(o) for o in hc.overrides.task],
        int(hc.job.num),
        Path(hc.runtime.output_dir),
        error,
    )
    return JobResult(record)


def _returned_records(returned: Any) -> list[JobRecord]:
    """Records carried back by the launcher (the basic sweeper returns batches of
    JobReturn; the Optuna sweeper returns nothing: its jobs' folders tell)."""
    from hydra.core.utils import JobReturn, JobStatus

    found: list[JobRecord] = []
    stack = [returned]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, JobReturn) and item.status == JobStatus.COMPLETED:
            value = item._return_value
            if isinstance(value, JobResult):
                found.append(JobRecord.from_dict(value.record))
    return found


def _register_best(
    summary: SweepSummary, recipe_path: Path, options: SweepOptions, sweep_run
) -> Callable[[], None]:
    """Register the best job's model; returns what undoes it (aliases and tags back)."""
    from mlctl.runner import RunOptions, register
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import for_recipe

    best = summary.best
    assert best is not None and best.model_uri and best.run_id
    loaded = load_training_recipe(recipe_path, best.overrides)
    ws = for_recipe(loaded, options.workspace)
    registry, name = Registry(ws), loaded.recipe.model_name
    with interrupts.deferred():  # registered with its alias, or not at all
        before = registry.state(name)
        version, aliases = register(
            registry,
            loaded.recipe,
            best.model_uri,
            best.run_id,
            best.test_metrics,
            best.data_fingerprint or "",
            RunOptions(options.workspace, promote=options.promote),
            before,
        )

    def undo() -> None:
        registry.unregister(name, version, before)

    try:
        sweep_run.set_tags({"mlctl.registered_version": version}, run_id=best.run_id)
    except BaseException:
        undo()
        raise
    summary.model_name = name
    summary.version, summary.aliases = version, aliases
    return undo


def _log_sweep(sweep_run, summary: SweepSummary) -> None:
    best = summary.best
    sweep_run.set_tags(
        {
            "mlctl.sweep_status": summary.status,
            "mlctl.best_job": "" if best is None else best.job,
            "mlctl.best_run_id": "" if best is None else best.run_id,
            "mlctl.registered_version": summary.version or "",
        }
    )
    sweep_run.log_metrics(
        {
            "jobs": len(summary.jobs),
            "jobs_ready": sum(j.status == "ready" for j in summary.jobs),
            "jobs_failed": sum(j.status == "failed" for j in summary.jobs),
            f"best_cv_{summary.selection_metric}_mean": best.cv_mean if best else None,
        }
    )
    sweep_run.log_json(summary.to_dict(), "sweep.json")


class _Watcher:
    """Reports each job's record as it appears, whatever process wrote it."""

    def __init__(self, sweep_dir: Path, emit: EventFn, interval: float = 0.5) -> None:
        self.sweep_dir = sweep_dir
        self.emit = emit
        self.interval = interval
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlctl-sweep-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=5)
            self._scan()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._scan()

    def _scan(self) -> None:
        if not self.sweep_dir.is_dir():
            return
        for record in read_records(self.sweep_dir):
            if record.job not in self.seen:
                self.seen.add(record.job)
                self.emit("job_done", {"record": record})


# ---------------------------------------------------------------------- hydra
def _is_hydra_override(override: str) -> bool:
    key = override.partition("=")[0].lstrip("+~")
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def _probe_overrides(task_args: list[str]) -> tuple[list[str], list[list[str]], int | None]:
    """(overrides of a first job, one override list per other value to check, planned jobs).

    Every value of every sweep is composed once with the other sweeps at their
    first value, so a bad value or key fails before any job starts.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(task_args)
    values: dict[str, list[str]] = {}  # like Hydra's sweepers: a later override of a key wins
    for arg, override in zip(task_args, parsed, strict=True):
        key = override.get_key_element()
        if not override.is_sweep_override():
            values[key] = [arg.partition("=")[2]]
            continue
        try:
            options = list(override.sweep_string_iterator())
        except Exception:  # an interval (Optuna) has no list of values: probe its ends
            sweep = override.value()
            options = [str(getattr(sweep, "start", "")), str(getattr(sweep, "end", ""))]
        if not options:
            raise UsageError(f"override '{arg}' sweeps over no values")
        values[key] = options
    discrete = all(o.is_discrete_sweep() for o in parsed if o.is_sweep_override())
    planned = math.prod(len(v) for v in values.values()) if discrete else None
    items = list(values.items())
    base = [f"{key}={opts[0]}" for key, opts in items]
    probes = []
    for i, (key, opts) in enumerate(items):
        others = opts[1:]
        if len(others) > MAX_PROBES_PER_SWEEP:  # first, last and an even spread
            step = len(others) / MAX_PROBES_PER_SWEEP
            others = [others[int(j * step)] for j in range(MAX_PROBES_PER_SWEEP - 1)] + [others[-1]]
        for value in others:
            probe = list(base)
            probe[i] = f"{key}={value}"
            probes.append(probe)
    return base, probes, planned


def _swept_keys(task_args: list[str]) -> list[str]:
    """Keys the command line sweeps over (``key=a,b``, ``key=range(...)``...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(task_args)
    return [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]


def _hydra_setup(recipe_path: Path, dirs: list[Path], overrides: list[str]) -> HydraSetup:
    """Compose the multirun's ``hydra`` node once, to learn the sweeper and launcher."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    def inspect(hydra: Any) -> HydraSetup:
        cfg = hydra.compose_config(
            config_name=recipe_path.stem,
            overrides=hydra_overrides(dirs, overrides),
            run_mode=RunMode.MULTIRUN,
            with_log_configuration=False,
        )
        h = cfg.hydra
        check_hydra_classes(OmegaConf.to_container(h, resolve=False))
        sweep = OmegaConf.to_container(h.sweep, resolve=False)
        check_hydra_settings(OmegaConf.to_container(h.job, resolve=False), str(sweep["subdir"]))
        choices = h.runtime.choices
        return HydraSetup(
            sweeper=str(choices.get("hydra/sweeper") or "basic"),
            launcher=str(choices.get("hydra/launcher") or "basic"),
            launcher_jobs=_int_or_none(h.launcher.get("n_jobs")),
            n_trials=_int_or_none(h.sweeper.get("n_trials")),
            direction=h.sweeper.get("direction"),
            launcher_target=str(h.launcher.get("_target_") or ""),
        )

    return _with_hydra(recipe_path, inspect)


def _extra_overrides(
    overrides: list[str], setup: HydraSetup, greater: bool, planned: int | None
) -> list[str]:
    """Hydra settings mlctl chooses unless the command line sets them."""
    given = {o.partition("=")[0].lstrip("+~") for o in overrides}
    extra = ["hydra.job.chdir=False"]
    for group in ("hydra/job_logging", "hydra/hydra_logging"):
        if group not in given:
            extra.append(f"{group}=disabled")  # the terminal shows mlctl's own progress
    if setup.sweeper == "optuna":
        wanted = "maximize" if greater else "minimize"
        if "hydra.sweeper.direction" in given:
            if str(setup.direction).lower().split(".")[-1] != wanted:
                raise UsageError(
                    f"hydra.sweeper.direction={setup.direction} contradicts the recipe's "
                    f"selection metric, which is better when {'higher' if greater else 'lower'}",
                    hint=f"drop the override; mlctl sets direction={wanted}",
                )
        else:
            extra.append(f"hydra.sweeper.direction={wanted}")
    if setup.launcher_jobs is not None and "hydra.launcher.n_jobs" not in given:
        cpus = os.cpu_count() or 1
        extra.append(f"hydra.launcher.n_jobs={max(1, min(cpus, planned or cpus))}")
    return extra


def _inner_jobs(setup: HydraSetup, extra: list[str], planned: int | None) -> int | None:
    """Cores each job may use when the launcher runs several jobs on this machine."""
    if setup.launcher_jobs is None or setup.launcher not in {"joblib", "submitit_local"}:
        return None
    jobs = setup.launcher_jobs
    for o in extra:
        if o.startswith("hydra.launcher.n_jobs="):
            jobs = int(o.partition("=")[2])
    cpus = os.cpu_count() or 1
    parallel = jobs if jobs > 0 else cpus
    if planned:
        parallel = min(parallel, planned)
    return max(1, cpus // max(1, parallel))


def _multirun(recipe_path: Path, overrides: list[str], task: Callable[[Any], Any]) -> Any:
    def go(hydra: Any) -> Any:
        return hydra.multirun(config_name=recipe_path.stem, task_function=task, overrides=overrides)

    return _with_hydra(recipe_path, go)


def _with_hydra(recipe_path: Path, fn: Callable[[Any], Any]) -> Any:
    """Call ``fn(hydra)`` with Hydra initialised on the recipe's folder.

    Raises:
        UsageError: Hydra refused a ``hydra/...`` option or setting (e.g. a plugin
            that is not installed).
        RecipeError: the recipe does not compose.
    """
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with initialize_config_dir(config_dir=str(recipe_path.parent), version_base="1.3"):
                return fn(GlobalHydra.instance().hydra)
    except MissingConfigException as exc:
        text = " ".join(str(exc).split()).split(" Config search path")[0]
        raise UsageError(
            text,
            hint="launchers and sweepers are Hydra plugins: is the plugin installed? "
            "(docs/sweeps.md)",
        ) from None
    except (HydraException, OmegaConfBaseException) as exc:
        message = first_line(exc)
        if "hydra" in message.lower():
            raise UsageError(f"Hydra refused the sweep: {message}") from None
        raise RecipeError([Issue("", message, str(recipe_path))]) from None
    finally:
        GlobalHydra.instance().clear()


# -------------------------------------------------------------------- helpers
def _quiet_optuna() -> None:
    """Optuna logs every trial to stderr; mlctl reports jobs itself."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _quote(value: str) -> str:
    """A path as a Hydra override value (quoted if it holds special characters)."""
    if all(c.isalnum() or c in "/._-" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
