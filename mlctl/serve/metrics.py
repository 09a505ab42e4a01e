"""Prometheus metrics of the server, through prometheus-client.

With several worker processes, prometheus-client's multiprocess mode aggregates
every worker's values (``PROMETHEUS_MULTIPROC_DIR``, set by ``mlctl serve``); with
one process the metrics live in a registry of their own.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
SCORE_BUCKETS = tuple(i / 10 for i in range(11))


class Metrics:
    """The server's metrics (one instance per process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = None if self.multiprocess else CollectorRegistry()
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
        version_mode = {"multiprocess_mode": "max"} if self.multiprocess else {}
        self.model_version = Gauge(
            "mlctl_model_version",
            "Model version served, by role.",
            ["role"],
            **version_mode,
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

    def render(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
