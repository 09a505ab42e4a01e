"""``mlctl compare`` as a library call: is the challenger better than the champion on
production traffic?

:func:`compare` reads the recipe's prediction log in a time window, finds which
versions answered as champion and as challenger (a traffic split) or scored the same
requests silently (shadow), joins the labels sent back (``POST /feedback`` or
``mlctl feedback``), and hands the rows to :func:`mlctl.compare.analysis.analyse`.
It never prints and never exits. The rollout guard calls it::

    from mlctl.compare import compare
    result = compare(loaded, window="24h", log_run=False)
    if result.verdict == "worse": ...

The result document (:meth:`Comparison.to_dict`, ``schema_version`` 1)::

    {
      "schema_version": 1,
      "status": "compared" | "no_challenger" | "no_labels",
      "verdict": "better" | "worse" | "unknown",
      "message": "challenger better: roc_auc +0.0312 (95 % CI ...), n = ...",
      "mode": "split" | "shadow" | null,
      "recipe": "...", "model": "churn",
      "champion": {"version": 3, "rows": 812, "labelled": 400, "evaluated": 398},
      "challenger": {"version": 4, "rows": ..., "labelled": ..., "evaluated": ...},
      "window": Window.to_dict(), "log": "sqlite:///...",
      "selection_metric": "roc_auc", "alpha": 0.05, "min_labels": 200,
      "metrics": [MetricResult.to_dict(), ...],
      "notes": [...], "generated_at": "...Z", "mlctl_version": "..."
    }
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl import __version__
from mlctl.compare.analysis import SHADOW, SPLIT, UNKNOWN, Analysis, analyse, scored, usable
from mlctl.errors import CompareCannotRun, ExitCode, PredictionLogError, TrackingError
from mlctl.monitor.window import Window
from mlctl.text import iso_utc

COMPARED, NO_CHALLENGER, NO_LABELS = "compared", "no_challenger", "no_labels"
KIND = "compare"
LAST_RUN_TAG = "mlctl.compare.last_run_id"
LAST_STATUS_TAG = "mlctl.compare.last_status"
RESULT_ARTIFACT = "compare/result.json"
REPORT_ARTIFACT = "compare/report.html"
DEFAULT_WINDOW = "7d"

Emit = Callable[[str, dict[str, Any]], None]


@dataclass
class Comparison:
    """The outcome of one comparison (:meth:`to_dict` is the document)."""

    document: dict[str, Any]
    analysis: Analysis | None = None
    report: Path | None = None
    run_id: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.document["status"]

    @property
    def verdict(self) -> str:
        """``better``, ``worse`` or ``unknown`` (also when nothing could be compared)."""
        return self.document["verdict"]

    @property
    def exit_code(self) -> ExitCode:
        """3 when the challenger is worse, 7 when there is nothing to compare (no
        challenger traffic or no labels), else 0."""
        if self.status != COMPARED:
            return ExitCode.CANNOT_RUN
        return ExitCode.NOT_READY if self.verdict == "worse" else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return self.document


def compare(
    loaded: Any,
    window: str | Window = DEFAULT_WINDOW,
    *,
    end: float | datetime | None = None,
    workspace: str | None = None,
    champion_version: int | None = None,
    challenger_version: int | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    report: str | Path | None = None,
    log_run: bool = True,
    on_event: Emit | None = None,
) -> Comparison:
    """Compare the champion and the challenger of ``loaded``'s model on the labelled
    rows of the prediction log in ``window`` (ending at ``end``, default now).

    Args:
        loaded: A :class:`~mlctl.recipe.loaded.LoadedRecipe`.
        window: ``90m``, ``24h``, ``7d``, ``2w`` ending at ``end``, or a
            :class:`~mlctl.monitor.window.Window` (e.g. since a rollout step began).
        champion_version, challenger_version: Compare these versions; default: the
            version that answered most champion rows, and most challenger (or shadow)
            rows, in the window.
        alpha: 1 - the confidence level of the intervals.
        n_resamples: Bootstrap resamples (metrics other than roc_auc and accuracy).
        report: Also write the HTML report there.
        log_run: Record an MLflow run (kind ``compare``) and tag the challenger version.

    Raises:
        CompareCannotRun: the prediction log is missing or unreadable (exit 7).
        UsageError: a window that does not parse, ``alpha`` outside (0, 1).
        TrackingError: only when writing the report fails; a failed MLflow record is a
            warning (the verdict stands).
    """
    from mlctl.monitor.window import parse_window
    from mlctl.tracking.workspace import for_recipe

    if not 0 < alpha < 1:
        from mlctl.errors import UsageError

        raise UsageError(f"alpha must be between 0 and 1, got {alpha}")
    emit = on_event or (lambda kind, data: None)
    r = loaded.recipe
    ws = for_recipe(loaded, workspace)
    if isinstance(window, str):
        span = parse_window(window, time.time() if end is None else end)
    else:  # a Window (e.g. since a rollout step began)
        span = window
    reader = _Reader(r, ws, span)
    emit("stage", {"message": f"reading the prediction log {reader.source.display_url}"})
    counts = reader.counts()
    champ_v = champion_version or _most(counts, ("champion",))
    chall_v = challenger_version or _most(counts, ("challenger", "shadow"), exclude=champ_v)
    doc = _document(loaded, span, reader, counts, champ_v, chall_v, alpha)
    result = Comparison(doc)
    if chall_v is None or champ_v is None:
        doc["status"] = NO_CHALLENGER
        doc["message"] = _no_traffic(r.model_name, span, counts, champ_v)
    else:
        emit("stage", {"message": "joining the labels"})
        mode = SHADOW if counts.get(("shadow", chall_v)) else SPLIT
        doc["mode"] = mode
        if mode == SHADOW and counts.get(("challenger", chall_v)):
            doc["notes"].append(
                f"version {chall_v} also answered {counts[('challenger', chall_v)]:,} requests "
                "as a split challenger in the window: only its shadow rows are compared "
                "(paired with the champion's answers to the same requests)"
            )
        frames = reader.labelled(mode, champ_v, chall_v)
        _analyse(loaded, result, frames, mode, alpha, n_resamples, emit)
    doc["generated_at"] = iso_utc(time.time(), "seconds")
    if report:
        from mlctl.compare.report import write_report

        result.report = write_report(doc, Path(report))
    if log_run and chall_v is not None:
        emit("stage", {"message": "recording the comparison in MLflow"})
        try:
            result.run_id = record(loaded, ws, result)
        except TrackingError as exc:
            result.warnings.append(f"the comparison was not logged to MLflow: {exc.message}")
    return result


# ------------------------------------------------------------------- the log


class _Reader:
    """The recipe's prediction log, read-only, in one window."""

    def __init__(self, r: Any, ws: Any, span: Any) -> None:
        from mlctl.monitor.log_source import LogSource
        from mlctl.predlog.schema import default_url

        self.name, self.span = r.model_name, span
        self.url = r.deploy.serve.log.url or default_url(ws.root)
        try:
            self.source = LogSource(self.url)
            self.source.check()
        except PredictionLogError as exc:
            raise CompareCannotRun(exc.message, hint=exc.hint) from None

    def counts(self) -> dict[tuple[str, int], int]:
        """Rows per (variant, version) of the model in the window."""
        from mlctl.predlog import open_reader

        sql = (
            "SELECT p.variant, p.model_version, count(*) FROM predictions p "
            "WHERE p.ts >= ? AND p.ts < ? AND p.model_name = ? "
            "GROUP BY p.variant, p.model_version"
        )
        try:
            with open_reader(self.url) as db:
                rows = db.fetch(sql, (self.span.start, self.span.end, self.name))
        except PredictionLogError as exc:
            raise CompareCannotRun(exc.message, hint=exc.hint) from None
        return {(str(v), int(m)): int(c) for v, m, c in rows}

    def labelled(self, mode: str, champ_v: int, chall_v: int) -> tuple[Any, Any]:
        """The labelled rows of each version (shadow: only the pairs, aligned)."""
        from mlctl.predlog.schema import SHADOW_SUFFIX

        read = self.source.labelled
        try:
            a = read(self.span, model_name=self.name, model_version=champ_v, variant="champion")
            variant = "shadow" if mode == SHADOW else "challenger"
            b = read(self.span, model_name=self.name, model_version=chall_v, variant=variant)
        except PredictionLogError as exc:
            raise CompareCannotRun(exc.message, hint=exc.hint) from None
        if mode == SPLIT:
            return a, b
        b = b.assign(request_id=b["request_id"].str.removesuffix(SHADOW_SUFFIX))
        pairs = a[["request_id"]].merge(b[["request_id"]], on="request_id")["request_id"]
        a = a.set_index("request_id").loc[pairs].reset_index()
        b = b.set_index("request_id").loc[pairs].reset_index()
        return a, b


def _most(counts: dict, variants: tuple[str, ...], exclude: int | None = None) -> int | None:
    found: dict[int, int] = {}
    for (variant, version), n in counts.items():
        if variant in variants and version != exclude:
            found[version] = found.get(version, 0) + n
    if not found:
        return None
    return max(found, key=lambda v: (found[v], v))


def _no_traffic(name: str, span: Any, counts: dict, champ_v: int | None) -> str:
    w = span.to_dict()
    where = f"in {w['start_utc']} .. {w['end_utc']}"
    if champ_v is None and not counts:
        return f"no predictions of model '{name}' {where}: nothing to compare"
    return (
        f"no challenger traffic of model '{name}' {where}: set "
        "deploy.serve.traffic.challenger_percent or deploy.serve.traffic.shadow and serve "
        "a 'challenger' version"
    )


# ------------------------------------------------------------------- analysis


def _analyse(loaded, result: Comparison, frames, mode, alpha, n_resamples, emit) -> None:
    from mlctl.monitor.check import positive_class
    from mlctl.recipe.checks import monitored_metrics

    r = loaded.recipe
    doc = result.document
    a_frame, b_frame = frames
    doc["champion"]["labelled"], doc["challenger"]["labelled"] = len(a_frame), len(b_frame)
    if len(a_frame) == 0 or len(b_frame) == 0:
        doc["status"] = NO_LABELS
        who = (
            "either version"
            if len(a_frame) == len(b_frame) == 0
            else ("the champion" if len(a_frame) == 0 else "the challenger")
        )
        doc["message"] = (
            f"no labels for {who}'s predictions in the window: send ground truth with "
            "mlctl feedback or POST /feedback"
        )
        return
    classes = _classes(a_frame, b_frame) if r.task == "classification" else None
    pos = None
    if classes is not None and len(classes) == 2:
        pos = classes.index(positive_class(r, classes))
    rows = None
    if mode == SHADOW:  # only the pairs both versions' rows can be used of
        rows = usable(a_frame, r.task, classes) & usable(b_frame, r.task, classes)
    a, b = scored(a_frame, r.task, classes, rows), scored(b_frame, r.task, classes, rows)
    emit("stage", {"message": f"comparing on {a.n:,} and {b.n:,} labelled rows"})
    metrics = monitored_metrics(r)
    found = analyse(
        mode,
        a,
        b,
        r.task,
        metrics,
        r.selection_metric,
        classes,
        pos,
        dict(r.readiness.thresholds),
        r.monitor.performance.min_labels,
        alpha,
        n_resamples,
    )
    result.analysis = found
    doc["champion"]["evaluated"], doc["challenger"]["evaluated"] = a.n, b.n
    doc["status"] = COMPARED
    doc["verdict"], doc["message"] = found.verdict, found.message
    doc["metrics"] = [m.to_dict() for m in found.metrics]
    doc["notes"] += found.notes
    unmatched = (len(a_frame) - a.n, len(b_frame) - b.n)
    if any(unmatched):
        doc["notes"].append(
            f"{unmatched[0]} champion and {unmatched[1]} challenger labelled rows have a label "
            "or prediction that names no class of the model: left out"
        )


def _classes(*frames: Any) -> list[str]:
    """The model's classes, as the log names them: the keys of the logged probabilities
    (written in the model's class order); without probabilities, every predicted class."""
    for frame in frames:
        for text in frame.get("probabilities", []):
            if isinstance(text, str):
                with contextlib.suppress(ValueError):
                    obj = json.loads(text)
                    if isinstance(obj, dict) and obj:
                        return list(obj)
    seen = {str(p) for f in frames for p in f["prediction"].dropna()}
    return sorted(seen)


def _document(loaded, span, reader, counts, champ_v, chall_v, alpha) -> dict[str, Any]:
    r = loaded.recipe

    def rows(version: int | None, variants: tuple[str, ...]) -> int:
        return sum(n for (v, m), n in counts.items() if m == version and v in variants)

    return {
        "schema_version": 1,
        "status": NO_CHALLENGER,
        "verdict": UNKNOWN,
        "message": "",
        "mode": None,
        "recipe": str(loaded.path),
        "model": r.model_name,
        "champion": {
            "version": champ_v,
            "rows": rows(champ_v, ("champion",)),
            "labelled": 0,
            "evaluated": 0,
        },
        "challenger": {
            "version": chall_v,
            "rows": rows(chall_v, ("challenger", "shadow")),
            "labelled": 0,
            "evaluated": 0,
        },
        "window": span.to_dict(),
        "log": reader.source.display_url,
        "selection_metric": r.selection_metric,
        "alpha": alpha,
        "min_labels": r.monitor.performance.min_labels,
        "metrics": [],
        "notes": [],
        "generated_at": None,
        "mlctl_version": __version__,
    }


# ------------------------------------------------------------------- record


def short_status(doc: dict[str, Any]) -> str:
    """What the version tag says: ``better: roc_auc +0.031 (95 % CI ...)``."""
    if doc["status"] != COMPARED:
        return f"unknown: {doc['status'].replace('_', ' ')}"
    return f"{doc['verdict']}: {doc['message'].split(': ', 1)[-1]}"[:250]


def record(loaded: Any, ws: Any, result: Comparison) -> str:
    """An MLflow run of kind ``compare`` in the recipe's experiment, and the
    ``mlctl.compare.last_run_id``/``last_status`` tags on the challenger's version."""
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.runs import ParentRun

    doc = result.document
    r = loaded.recipe
    name, version = r.model_name, doc["challenger"]["version"]
    tags = {
        "mlctl.kind": KIND,
        "mlctl.recipe": str(loaded.path),
        "mlctl.model_name": name,
        "mlctl.model_version": str(version),
        "mlctl.compare.champion_version": str(doc["champion"]["version"]),
        "mlctl.compare.verdict": doc["verdict"],
        "mlctl.compare.status": doc["status"],
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with ParentRun(ws, r.tracking.experiment or r.name, f"compare-{name}-{stamp}", tags) as run:
        run.log_text(json.dumps(doc, indent=2, allow_nan=False), RESULT_ARTIFACT)
        if result.report and result.report.is_file():
            run.log_text(result.report.read_text(encoding="utf-8"), REPORT_ARTIFACT)
        run.log_metrics(key_metrics(doc))
        run_id = run.run_id
    client = Registry(ws).client
    with contextlib.suppress(Exception):  # the run is logged; a tag is a convenience
        client.set_model_version_tag(name, str(version), LAST_RUN_TAG, run_id)
        client.set_model_version_tag(name, str(version), LAST_STATUS_TAG, short_status(doc))
    return run_id


def key_metrics(doc: dict[str, Any]) -> dict[str, float]:
    out: dict[str, Any] = {
        "worse": 1.0 if doc["verdict"] == "worse" else 0.0,
        "better": 1.0 if doc["verdict"] == "better" else 0.0,
        "champion_labelled": doc["champion"]["evaluated"],
        "challenger_labelled": doc["challenger"]["evaluated"],
    }
    for m in doc["metrics"]:
        for role in ("champion", "challenger", "difference"):
            for part in ("value", "low", "high"):
                out[f"{m['name']}_{role}" + ("" if part == "value" else f"_{part}")] = m[role][part]
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float) and math.isfinite(v)}
