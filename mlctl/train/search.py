"""Cross-validation and hyperparameter search of each candidate, with sklearn's own search.

Search runs in worker processes (``n_jobs``); each finished fold is reported
back so the terminal can show per-fold progress: through a managed queue on this
machine (:class:`FoldReporter`), through Dask's event log on a Dask cluster
(:class:`ClusterFoldReporter`), where a queue proxy cannot reach its manager.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlctl import interrupts
from mlctl.features.build import MODEL_STEP

ProgressFn = Callable[[str, dict[str, Any]], None]


def grid_size(search: dict[str, Any]) -> int | None:
    """Number of combinations of a tuning space; None if it holds distributions."""
    size = 1
    for space in search.values():
        if not isinstance(space, list):
            return None
        size *= len(space)
    return size


def param_space(search: dict[str, Any]) -> dict[str, Any]:
    """Tuning space in sklearn's form, keys addressed to the pipeline's model step."""
    from scipy import stats

    out: dict[str, Any] = {}
    for key, space in search.items():
        name = f"{MODEL_STEP}__{key}"
        if isinstance(space, list):
            out[name] = list(space)
        elif space.is_int:
            out[name] = stats.randint(int(space.low), int(space.high) + 1)
        elif space.is_log:
            out[name] = stats.loguniform(space.low, space.high)
        else:
            out[name] = stats.uniform(space.low, space.high - space.low)
    return out


class ProgressScorer:
    """A scorer that reports each call (one per fold) to the parent process."""

    def __init__(self, scorer: Callable[..., float], queue: Any, tag: str) -> None:
        self.scorer = scorer
        self.queue = queue
        self.tag = tag

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        interrupts.checkpoint("cv")
        score = self.scorer(estimator, X, y)
        if self.queue is not None:
            # Progress is best effort; never fail a fit for it.
            with contextlib.suppress(Exception):
                self.queue.put(self.tag)
        return score


@dataclass
class Budget:
    """``tuning.time_budget``: seconds for the whole search, shared by all candidates.

    It binds only once some candidate has finished a setting, so a run always has a
    winner: the first setting of the first candidate runs whatever the budget.
    """

    seconds: float | None
    started: float = field(default_factory=time.monotonic)
    scored: bool = False  # a non-baseline candidate has finished a setting

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float | None:
        """Seconds left (None: no budget), never below 0."""
        if self.seconds is None:
            return None
        return max(0.0, self.seconds - self.elapsed())

    def spent(self) -> bool:
        """No new setting may start."""
        return self.seconds is not None and self.scored and self.elapsed() >= self.seconds

    def skip_note(self, skipped: int, total: int) -> str:
        return (
            f"{skipped} of {total} settings skipped: the time budget "
            f"(tuning.time_budget: {self.seconds:g} s) was spent"
        )


@dataclass
class SearchResult:
    """Outcome of one candidate's CV/search."""

    name: str
    estimator: str
    cv_mean: float
    cv_std: float
    best_params: dict[str, Any]
    best_estimator: Any
    n_settings: int
    fit_seconds: float
    cv_scores: list[float] = field(default_factory=list)
    error: str | None = None
    trials: list[dict[str, Any]] = field(default_factory=list)  # Optuna only
    notes: list[str] = field(default_factory=list)  # e.g. some settings failed to fit
    skipped: int = 0  # settings not started: the time budget was spent


class FoldReporter:
    """Listens to fold ticks from worker processes and forwards them to a callback."""

    def __init__(self, on_event: ProgressFn | None) -> None:
        self.on_event = on_event
        self.queue = None
        self._manager = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FoldReporter:
        if self.on_event is None:
            return self
        import multiprocessing.managers

        # The queue's server process ignores the stop signals: when they reach the whole
        # process group, it must outlive the unwinding of this process, which ends it.
        self._manager = multiprocessing.managers.SyncManager()
        self._manager.start(_ignore_stop_signals)
        self.queue = self._manager.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        return self

    def _pump(self) -> None:
        while True:
            try:
                tag = self.queue.get()
            except Exception:
                return
            if tag is None:
                return
            self.on_event("fold_done", {"candidate": tag})

    def finish(self, candidate: str) -> None:
        """A candidate is done (its bar is completed by the caller); nothing to do here."""

    def __exit__(self, *exc: Any) -> None:
        if self._manager is None:
            return
        try:
            with contextlib.suppress(Exception):  # progress is best effort
                self.queue.put(None)
            self._thread.join(timeout=5)
        finally:
            self._manager.shutdown()


def _ignore_stop_signals() -> None:
    """Initializer of the progress queue's process (see :class:`FoldReporter`)."""
    import signal

    for sig in interrupts.SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def keep_resource_tracker_through_sighup() -> None:
    """Start joblib's resource tracker process now, with SIGHUP blocked in it.

    It ignores SIGINT and SIGTERM, but a SIGHUP to the process group (a closed terminal)
    would kill it; joblib would then start a new one while cleaning up, which does not
    know the temporary folders it is told to forget and prints a traceback. A blocked
    signal stays blocked across exec, and the tracker unblocks only SIGINT and SIGTERM;
    it still ends with this process (its pipe closes). Here a SIGHUP is only delayed.
    """
    import signal

    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return
    from joblib.externals.loky.backend import resource_tracker

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ClusterFoldReporter:
    """:class:`FoldReporter` for a Dask session: fold ticks travel as Dask events.

    ``queue`` is an :class:`~mlctl.compute.session.EventChannel`: picklable, and its
    ``put`` never raises or blocks, so a fold on a worker cannot fail or hang for
    progress. Events arrive asynchronously; ticks of a candidate that is already
    finished are dropped, so a bar never counts past its total.
    """

    def __init__(self, session: Any, on_event: ProgressFn | None) -> None:
        self.session = session
        self.on_event = on_event
        self.queue = None
        self._finished: set[str] = set()
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ClusterFoldReporter:
        if self.on_event is not None:
            self.queue = self._stack.enter_context(self.session.channel(self._tick))
        return self

    def _tick(self, tag: Any) -> None:
        with self._lock:
            if tag not in self._finished:
                self.on_event("fold_done", {"candidate": tag})

    def finish(self, candidate: str) -> None:
        """Drop late ticks of ``candidate`` from now on."""
        with self._lock:
            self._finished.add(candidate)

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()


def cv_splitter(task: str, strategy: str, folds: int, seed: int):
    """Folds matching the split: time-ordered for time splits, stratified for classes."""
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

    if strategy == "time":
        return TimeSeriesSplit(n_splits=folds)
    if task == "classification":
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def run_search(
    name: str,
    estimator_label: str,
    pipeline: Any,
    space: dict[str, Any],
    *,
    X: Any,
    y: Any,
    scorer: Callable[..., float],
    metric_sign: float,
    cv: Any,
    strategy: str,
    n_iter: int,
    n_jobs: int,
    seed: int,
    queue: Any = None,
    budget: Budget | None = None,
) -> SearchResult:
    """CV (and search, when the space is non-empty) of one candidate, then refit.

    Scores are returned in the metric's natural direction (e.g. log_loss positive).
    With a time ``budget`` the settings are cross-validated one after the other, and
    none starts once the budget is spent (:func:`run_budgeted`).
    """
    from sklearn.exceptions import FitFailedWarning
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    started = time.perf_counter()
    wrapped = ProgressScorer(scorer, queue, name)
    if budget is not None and budget.seconds is not None:
        settings = sampled_settings(space, strategy, n_iter, seed)
        return run_budgeted(
            name, estimator_label, pipeline, settings, X=X, y=y, scorer=wrapped,
            metric_sign=metric_sign, cv=cv, n_jobs=n_jobs, budget=budget,
        )  # fmt: skip
    if not space or strategy == "none":
        search = GridSearchCV(pipeline, {}, scoring=wrapped, cv=cv, n_jobs=n_jobs, refit=True)
    elif strategy == "grid":
        search = GridSearchCV(pipeline, space, scoring=wrapped, cv=cv, n_jobs=n_jobs, refit=True)
    else:
        size = grid_size(space)
        search = RandomizedSearchCV(
            pipeline,
            space,
            n_iter=min(n_iter, size) if size else n_iter,
            scoring=wrapped,
            cv=cv,
            n_jobs=n_jobs,
            refit=True,
            random_state=seed,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitFailedWarning)
        search.fit(X, y)
    # sklearn's report of failed fits is a page of tracebacks: keep one line of it, and
    # drop its follow-up "test scores are non-finite", which says the same.
    notes = [
        fit_failure_note(str(w.message)) for w in caught if issubclass(w.category, FitFailedWarning)
    ]
    for w in caught:
        redundant = notes and "test scores are non-finite" in str(w.message)
        if not issubclass(w.category, FitFailedWarning) and not redundant:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    best = search.best_index_
    res = search.cv_results_
    n_splits = search.n_splits_
    scores = [float(res[f"split{i}_test_score"][best]) * metric_sign for i in range(n_splits)]
    mean = float(np.mean(scores))
    std = float(np.std(scores))
    params = {k.removeprefix(f"{MODEL_STEP}__"): _plain(v) for k, v in search.best_params_.items()}
    return SearchResult(
        name=name,
        estimator=estimator_label,
        cv_mean=mean if math.isfinite(mean) else float("nan"),
        cv_std=std,
        best_params=params,
        best_estimator=search.best_estimator_,
        n_settings=len(res["params"]),
        fit_seconds=time.perf_counter() - started,
        cv_scores=scores,
        notes=notes,
    )


def sampled_settings(
    space: dict[str, Any], strategy: str, n_iter: int, seed: int
) -> list[dict[str, Any]]:
    """The settings sklearn's search would try, in its order."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if not space or strategy == "none":
        return [{}]
    if strategy == "grid":
        return list(ParameterGrid(space))
    size = grid_size(space)
    n = min(n_iter, size) if size else n_iter
    return list(ParameterSampler(space, n_iter=n, random_state=seed))


def run_budgeted(
    name: str,
    estimator_label: str,
    pipeline: Any,
    settings: list[dict[str, Any]],
    *,
    X: Any,
    y: Any,
    scorer: Callable[..., float],
    metric_sign: float,
    cv: Any,
    n_jobs: int,
    budget: Budget,
) -> SearchResult:
    """Cross-validate ``settings`` one by one until the budget is spent; refit the best.

    Each setting's folds run in parallel (``n_jobs``; on Dask through joblib's Dask
    backend). A setting that started finishes; the refit of the best one always runs.
    Returns an error result (not an exception) when the budget was spent before any
    setting finished.
    """
    from sklearn.base import clone
    from sklearn.exceptions import FitFailedWarning
    from sklearn.model_selection import cross_validate

    started = time.perf_counter()
    rows: list[tuple[dict[str, Any], list[float]]] = []
    notes: list[str] = []
    for params in settings:
        if budget.spent():
            break
        model = clone(pipeline).set_params(**params)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FitFailedWarning)
            try:
                out = cross_validate(model, X, y, scoring=scorer, cv=cv, n_jobs=n_jobs)
                scores = [float(v) for v in out["test_score"]]
            except ValueError as exc:
                if "fits failed" not in str(exc):
                    raise
                notes.append(fit_failure_note(str(exc)))
                scores = [float("nan")]
        notes += [
            fit_failure_note(str(w.message))
            for w in caught
            if issubclass(w.category, FitFailedWarning)
        ]
        rows.append((params, scores))
        if math.isfinite(float(np.mean(scores))):
            budget.scored = True
    skipped = len(settings) - len(rows)
    if skipped:
        notes.append(budget.skip_note(skipped, len(settings)))
    finite = [(p, s) for p, s in rows if math.isfinite(float(np.mean(s)))]
    if not finite:
        if rows:
            raise ValueError(f"All the {len(rows)} settings failed to fit. {' '.join(notes)}")
        nan = float("nan")
        return SearchResult(
            name, estimator_label, nan, nan, {}, None, 0, time.perf_counter() - started,
            error=f"the time budget (tuning.time_budget: {budget.seconds:g} s) was spent "
            f"before any of its {len(settings)} settings started",
            notes=notes, skipped=skipped,
        )  # fmt: skip
    best_params, best_scores = max(finite, key=lambda row: float(np.mean(row[1])))
    refit = clone(pipeline).set_params(**best_params).fit(X, y)
    scores = [s * metric_sign for s in best_scores]
    return SearchResult(
        name=name,
        estimator=estimator_label,
        cv_mean=float(np.mean(scores)),
        cv_std=float(np.std(scores)),
        best_params={k.removeprefix(f"{MODEL_STEP}__"): _plain(v) for k, v in best_params.items()},
        best_estimator=refit,
        n_settings=len(rows),
        fit_seconds=time.perf_counter() - started,
        cv_scores=scores,
        notes=list(dict.fromkeys(notes)),
        skipped=skipped,
    )


def fit_failure_note(text: str) -> str:
    """sklearn's FitFailedWarning text → "9 of 18 fits failed (...): ValueError: ..."."""
    counts = re.search(r"(\d+) fits failed out of a total of (\d+)", text)
    errors = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^\s*[A-Za-z_][\w.]*(Error|Exception): ", line)
    ]
    head = f"{counts.group(1)} of {counts.group(2)} fits failed" if counts else "some fits failed"
    cause = errors[-1] if errors else "see --traceback"
    return f"{head} (those settings score NaN and are not chosen): {cause[:300]}"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def expected_fits(
    space: dict[str, Any], strategy: str, n_iter: int, folds: int, n_trials: int = 0
) -> int:
    """Folds a candidate will score, for the progress bar (Optuna: at most; pruning
    and timeouts stop trials early)."""
    if not space or strategy == "none":
        return folds
    if strategy == "optuna":
        return n_trials * folds
    size = grid_size(space)
    if strategy == "grid":
        return (size or 1) * folds
    return (min(n_iter, size) if size else n_iter) * folds
