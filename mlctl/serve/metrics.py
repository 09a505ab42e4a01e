"""Prometheus metrics of the server, through prometheus-client.

With several worker processes, prometheus-client's multiprocess mode aggregates
every worker's values (``PROMETHEUS_MULTIPROC_DIR``, set by ``mlctl serve``); with
one process the metrics live in a registry of their own.

Besides the ``mlctl_*`` metrics, a scrape has:

- ``mlctl_model_info{name, version, alias, role} 1``: one series per served version
  (the version is a label, never a value), read from the server's state at scrape time,
  so a hot swap replaces the old version's series instead of leaving it behind;
- ``mlctl_monitor_attention{model, version}``: 1 when the latest ``mlctl monitor``
  result of the served model (``serve.monitoring_file``) says ``attention``, else 0;
  ``mlctl_monitor_last_run_timestamp_seconds{model, version}``: when it was generated.
  Both are absent while there is no readable result. The file is read again only when
  its size or modification time changed (a ``stat`` per scrape);
- the process metrics (``process_*``: CPU seconds, memory, open files, start time) and
  ``python_info`` (plus ``python_gc_*`` with one process). With several workers every
  live worker's ``process_*`` series are there, told apart by a ``pid`` label: the
  worker that answers a scrape reads its siblings' ``/proc`` entries, found through
  the files they keep in the multiprocess folder.

The answer is in OpenMetrics when the scraper's ``Accept`` asks for
``application/openmetrics-text``, else in the plain text format
(``prometheus_client.exposition.choose_encoder``).
"""

from __future__ import annotations

import bisect
import collections
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
SCORE_BUCKETS = tuple(i / 10 for i in range(11))


class Metrics:
    """The server's metrics (one instance per process)."""

    content_type = CONTENT_TYPE_PLAIN_0_0_4

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = None if self.multiprocess else CollectorRegistry()
        self.model_info = ModelInfo()
        self.monitor = MonitorResult()
        if self.registry is not None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
            self.registry.register(self.model_info)
            self.registry.register(self.monitor)
        r = {"registry": self.registry} if self.registry is not None else {}
        self.requests = Counter(
            "mlctl_requests_total",
            "HTTP requests by route and status code.",
            ["route", "code"],
            **r,
        )
        self.latency = Histogram(
            "mlctl_request_seconds",
            "Request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            **r,
        )
        self.errors = Counter(
            "mlctl_errors_total",
            "Error responses by route and status code.",
            ["route", "code"],
            **r,
        )
        self.predictions = Counter(
            "mlctl_predictions_total",
            "Rows predicted by model version, variant and class.",
            ["version", "variant", "label"],
            **r,
        )
        self.scores = Histogram(
            "mlctl_prediction_score",
            "Positive-class probability (or value) of predictions.",
            buckets=SCORE_BUCKETS,
            **r,
        )
        self.batch_rows = Histogram(
            "mlctl_batch_rows",
            "Rows per pipeline call (micro-batching).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            **r,
        )
        gauge = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        self.log_queue = Gauge(
            "mlctl_log_queue_depth",
            "Requests waiting for the prediction log's commit.",
            **gauge,
            **r,
        )
        self.log_failed = Counter(
            "mlctl_log_rows_failed_total",
            "Rows the prediction log could not commit (their requests got 503).",
            **r,
        )
        self.rows_dropped = Counter(
            "mlctl_rows_dropped_total",
            "Rows refused without scoring (overload, timeout), by reason.",
            ["reason"],
            **r,
        )
        self.cache_hits = Counter("mlctl_cache_hits_total", "Rows served from the cache.", **r)
        self.cache_rejected = Counter(
            "mlctl_cache_rejected_total",
            "Cache entries refused on read (not an answer the model could give, or not "
            "readable): scored again and overwritten.",
            **r,
        )
        self.receive_refused = Counter(
            "mlctl_connections_refused_total",
            "Requests refused before they reached the app, by reason (headers too large, "
            "too slow to arrive).",
            ["reason"],
            **r,
        )
        self.model_load_failures = Counter(
            "mlctl_model_load_failures_total",
            "Versions that failed to load or to pass their smoke test, by role.",
            ["role"],
            **r,
        )
        self.model_load_retries = Counter(
            "mlctl_model_load_retries_total",
            "Loads of a version that failed before, tried again, by role.",
            ["role"],
            **r,
        )
        self.feedback_unknown = Counter(
            "mlctl_feedback_unknown_total",
            "Feedback for request ids the log does not hold.",
            **r,
        )
        self.challenger_share = Gauge(
            "mlctl_challenger_traffic_ratio",
            "Share of the traffic sent to the challenger, 0 to 1 (a running rollout's step, "
            "else deploy.serve.traffic.challenger_percent; 0 without a challenger).",
            **({"multiprocess_mode": "livemax"} if self.multiprocess else {}),
            **r,
        )

    def predicted(
        self, version: Any, variant: str, labels: list[Any], classes: bool, scores: list[Any]
    ) -> None:
        """Count one request's rows in ``mlctl_predictions_total`` (by label, or
        ``value`` for a regression) and their scores in ``mlctl_prediction_score``: one
        update per distinct label and per score bucket, not two per row (a tenth of a
        100-row request's time on the event loop)."""
        counts = collections.Counter(map(str, labels)) if classes else {"value": len(labels)}
        for name, n in counts.items():
            self.predictions.labels(str(version), variant, name).inc(n)
        observe_many(self.scores, [s for s in scores if s is not None])

    def render(self, accept: str | None = None, state: Any = None) -> tuple[bytes, str]:
        """The exposition for a scrape: (body, content type).

        Args:
            accept: The scraper's ``Accept`` header (OpenMetrics when it asks for it).
            state: The server's :class:`~mlctl.serve.state.ServeState`, for
                ``mlctl_model_info``; None leaves that metric out.
        """
        self.model_info.models = served_models(state)
        self.monitor.path = getattr(state, "monitoring_file", None) if state is not None else None
        encoder, content_type = choose_encoder(accept or "")
        if content_type.startswith("text/"):  # Litestar adds the charset of text/* itself
            content_type = content_type.replace("; charset=utf-8", "")
        if not self.multiprocess:
            return encoder(self.registry), content_type
        from prometheus_client import multiprocess

        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        registry.register(WorkerProcesses(folder))
        PlatformCollector(registry=registry)
        registry.register(self.model_info)
        registry.register(self.monitor)
        return encoder(registry), content_type


def observe_many(histogram: Histogram, values: list[float]) -> None:
    """``histogram.observe(v)`` for every value, as a few updates: the values are
    counted per bucket (the first whose upper bound is at least the value, as
    ``observe`` does; NaN in none) and the sum grows once. Falls back to ``observe``
    for a few values or a prometheus-client without these attributes.

    Plain Python (``bisect``), not numpy: this runs on the event loop, and numpy lets go
    of the GIL in ``searchsorted``; taking it back waits for the scoring thread's
    switch interval (up to 5 ms), which made one 100-row request 0.7 ms slower."""
    buckets = getattr(histogram, "_buckets", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    total = getattr(histogram, "_sum", None)
    if len(values) < BULK_VALUES or buckets is None or bounds is None or total is None:
        for value in values:
            histogram.observe(value)
        return
    counts = collections.Counter(bisect.bisect_left(bounds, v) for v in values if v == v)
    for i, n in counts.items():
        buckets[i].inc(n)
    total.inc(float(sum(values)))


BULK_VALUES = 8  # from this many values on, observe_many counts per bucket


def served_models(state: Any) -> list[dict[str, str]]:
    """The labels of ``mlctl_model_info``: one set per served role."""
    if state is None:
        return []
    found = []
    for role in ("champion", "challenger"):
        slot = getattr(state, role, None)
        if slot is None:
            continue
        if role == "challenger":
            alias = "challenger"
        else:
            alias = "" if state.fixed_version is not None else str(state.alias)
        model = slot.model
        found.append(
            {"name": str(model.name), "version": str(model.version), "alias": alias, "role": role}
        )
    return found


class ModelInfo:
    """``mlctl_model_info``: the served versions as labels, as they are at scrape time."""

    def __init__(self) -> None:
        self.models: list[dict[str, str]] = []

    def collect(self) -> Iterator[Metric]:
        family = InfoMetricFamily(
            "mlctl_model",
            "Model versions served: name, version, alias and role (champion or challenger).",
            labels=["name", "version", "alias", "role"],
        )
        for labels in self.models:
            family.add_metric(
                [labels["name"], labels["version"], labels["alias"], labels["role"]], {}
            )
        yield family


class MonitorResult:
    """``mlctl_monitor_attention`` and ``mlctl_monitor_last_run_timestamp_seconds`` from
    the latest monitoring result file, read again only when it changed."""

    def __init__(self) -> None:
        self.path: str | None = None
        self._seen: tuple[str, int, int] | None = None
        self._labels: list[str] | None = None  # model, version
        self._values: tuple[float, float | None] = (0.0, None)

    def _read(self) -> None:
        if not self.path:
            self._seen, self._labels = None, None
            return
        try:
            st = os.stat(self.path)
        except OSError:
            self._seen, self._labels = None, None
            return
        key = (self.path, st.st_mtime_ns, st.st_size)
        if key == self._seen:
            return
        self._seen, self._labels = key, None
        try:
            doc = json.loads(Path(self.path).read_bytes())
            model = doc.get("model") or {}
            status = doc["status"]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return  # a damaged or half-written file: absent until it is readable
        if status not in ("healthy", "attention", "not_enough_data"):
            return
        self._labels = [str(model.get("name", "")), str(model.get("version", ""))]
        self._values = (1.0 if status == "attention" else 0.0, _timestamp(doc))

    def collect(self) -> Iterator[Metric]:
        self._read()
        attention = GaugeMetricFamily(
            "mlctl_monitor_attention",
            "1 when the latest mlctl monitor result says attention, else 0 (absent: none).",
            labels=["model", "version"],
        )
        generated = GaugeMetricFamily(
            "mlctl_monitor_last_run_timestamp_seconds",
            "When the latest mlctl monitor result was generated (Unix time).",
            labels=["model", "version"],
        )
        if self._labels is not None:
            value, stamp = self._values
            attention.add_metric(self._labels, value)
            if stamp is not None:
                generated.add_metric(self._labels, stamp)
        yield attention
        yield generated


def _timestamp(doc: dict[str, Any]) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(doc["generated_at"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None


_PID = re.compile(r"_(\d+)\.db$")


class WorkerProcesses:
    """``process_*`` of every live worker, labelled by ``pid`` (multiprocess mode).

    The workers are the processes whose value files are in the multiprocess folder and
    that still run as children of the same parent (a file of a dead worker stays, and
    its pid may be taken by another process since)."""

    def __init__(self, folder: str, proc: str = "/proc") -> None:
        self.folder, self.proc = Path(folder), proc

    def pids(self) -> list[int]:
        found = {int(m.group(1)) for f in self.folder.glob("*.db") if (m := _PID.search(f.name))}
        parent = os.getppid()
        return sorted(p for p in found if p == os.getpid() or self._parent(p) == parent)

    def _parent(self, pid: int) -> int | None:
        try:  # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces
            stat = Path(self.proc, str(pid), "stat").read_text()
            return int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self.pids():
            collector = ProcessCollector(pid=lambda pid=pid: pid, proc=self.proc, registry=None)
            for family in collector.collect():
                target = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                target.samples.extend(_with_pid(family.samples, pid))
        yield from merged.values()


def _with_pid(samples: Iterable[Any], pid: int) -> Iterator[Any]:
    for sample in samples:
        yield sample._replace(labels={**sample.labels, "pid": str(pid)})
