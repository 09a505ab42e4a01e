"""A Grafana dashboard (JSON model) for the metrics ``mlctl serve`` exports.

It has two variables: ``datasource`` (any Prometheus data source) and ``job`` (the
scrape job, by default the service's, ``<app>``), so it imports as is. Every query is
PromQL over the server's own metric names; ``tests/integration/test_deploy_observability.py``
parses each with ``promtool`` and checks each name against a real server's scrape.
"""

from __future__ import annotations

import json
from typing import Any

from mlctl.deploy.alerts import SCORING_ROUTES

SCHEMA_VERSION = 39  # Grafana 10.4 / 11
RATE = "$__rate_interval"
JOB = 'job="$job"'
SCORED = f'{JOB}, route=~"{SCORING_ROUTES}"'
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def dashboard(app: str, model: str, slo: Any) -> dict[str, Any]:
    """The dashboard of one service; the SLO draws thresholds on the error and latency
    panels."""
    p95 = slo.p95_ms / 1000 if slo.p95_ms is not None else None
    error_share = (
        f'sum(rate(mlctl_requests_total{{{SCORED}, code=~"5.."}}[{RATE}])) '
        f"/ sum(rate(mlctl_requests_total{{{SCORED}}}[{RATE}]))"
    )

    def quantile(q: float, metric: str = "mlctl_request_seconds", sel: str = SCORED) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{sel}}}[{RATE}])))"

    layout = [
        # the headline numbers
        [
            _stat(
                "Served versions",
                [(f"max by (role, version) (mlctl_model_info{{{JOB}}})", "{{role}} v{{version}}")],
                "none",
                text_mode="name",
            ),
            _stat(
                "Scored requests/s",
                [(f"sum(rate(mlctl_requests_total{{{SCORED}}}[{RATE}]))", "")],
                "reqps",
            ),
            _stat("Error rate (5xx)", [(error_share, "")], "percentunit", slo.max_error_rate),
            _stat("Latency p95", [(quantile(0.95), "")], "s", p95),
            _stat(
                "Monitor attention",
                [(f"max(mlctl_monitor_attention{{{JOB}}})", "")],
                "none",
                0.5,
                mappings=[_map("0", "healthy", "green"), _map("1", "attention", "red")],
            ),
            _stat(
                "Log rows failed (1h)",
                [(f"sum(increase(mlctl_log_rows_failed_total{{{JOB}}}[1h]))", "")],
                "short",
                0.5,
            ),
        ],
        [
            _series(
                "Requests by route and code",
                [
                    (
                        f"sum by (route, code) (rate(mlctl_requests_total{{{JOB}}}[{RATE}]))",
                        "{{route}} {{code}}",
                    )
                ],
                "reqps",
            ),
            _series(
                "Latency of scored requests",
                [(quantile(q), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)],
                "s",
                p95,
            ),
        ],
        [
            _series(
                "Error rate (5xx share)", [(error_share, "5xx")], "percentunit", slo.max_error_rate
            ),
            _series(
                "Error responses by route and code",
                [
                    (
                        f"sum by (route, code) (rate(mlctl_errors_total{{{JOB}}}[{RATE}]))",
                        "{{route}} {{code}}",
                    )
                ],
                "reqps",
            ),
        ],
        [
            _series(
                "Predicted rows by version and variant",
                [
                    (
                        "sum by (version, variant) "
                        f"(rate(mlctl_predictions_total{{{JOB}}}[{RATE}]))",
                        "v{{version}} {{variant}}",
                    )
                ],
                "rowsps",
            ),
            _series(
                "Predicted rows by class",
                [
                    (
                        f"sum by (label) (rate(mlctl_predictions_total{{{JOB}}}[{RATE}]))",
                        "{{label}}",
                    )
                ],
                "rowsps",
            ),
        ],
        [
            _heatmap(
                "Prediction scores",
                f"sum by (le) (increase(mlctl_prediction_score_bucket{{{JOB}}}[{RATE}]))",
            ),
            _series(
                "Rows per model call (micro-batching)",
                [(quantile(q, "mlctl_batch_rows", JOB), f"p{round(q * 100)}") for q in (0.5, 0.95)],
                "short",
            ),
        ],
        [
            _series(
                "Prediction log",
                [
                    (f"sum(mlctl_log_queue_depth{{{JOB}}})", "waiting for commit"),
                    (
                        f"sum(rate(mlctl_log_rows_failed_total{{{JOB}}}[{RATE}]))",
                        "rows failed/s",
                    ),
                ],
                "short",
            ),
            _series(
                "Refused and cached",
                [
                    (
                        f"sum by (reason) (rate(mlctl_rows_dropped_total{{{JOB}}}[{RATE}]))",
                        "rows dropped: {{reason}}",
                    ),
                    (
                        f"sum by (reason) (rate(mlctl_connections_refused_total{{{JOB}}}[{RATE}]))",
                        "connections refused: {{reason}}",
                    ),
                    (f"sum(rate(mlctl_cache_hits_total{{{JOB}}}[{RATE}]))", "cache hits"),
                ],
                "rowsps",
            ),
        ],
        [
            _series(
                "Model loads that failed",
                [
                    (
                        f"sum by (role) (increase(mlctl_model_load_failures_total{{{JOB}}}[1h]))",
                        "failed: {{role}}",
                    ),
                    (
                        f"sum by (role) (increase(mlctl_model_load_retries_total{{{JOB}}}[1h]))",
                        "retried: {{role}}",
                    ),
                ],
                "short",
            ),
            _series(
                "Processes",
                [
                    (
                        f"sum by (instance) (rate(process_cpu_seconds_total{{{JOB}}}[{RATE}]))",
                        "CPU {{instance}}",
                    ),
                    (
                        f"sum by (instance) (process_resident_memory_bytes{{{JOB}}}) / 1e9",
                        "memory GB {{instance}}",
                    ),
                ],
                "short",
            ),
        ],
    ]
    panels = _place(layout)
    return {
        "uid": f"mlctl-{app}"[:40],
        "title": f"mlctl: {model}",
        "description": f"mlctl serve of model {model} (generated by mlctl deploy)",
        "tags": ["mlctl", model],
        "timezone": "utc",
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": _variables(app)},
        "annotations": {"list": []},
        "panels": panels,
    }


def dashboard_json(app: str, model: str, slo: Any) -> str:
    return json.dumps(dashboard(app, model, slo), indent=2) + "\n"


def queries(doc: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard's panels (for checks)."""
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def _variables(app: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        },
        {
            "name": "job",
            "label": "Job",
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": "label_values(mlctl_model_info, job)", "refId": "job"},
            "definition": "label_values(mlctl_model_info, job)",
            "current": {"text": app, "value": app},
            "refresh": 1,
            "hide": 0,
        },
    ]


def _targets(exprs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "datasource": DATASOURCE,
            "expr": e,
            "legendFormat": legend or "__auto",
            "refId": chr(65 + i),
        }
        for i, (e, legend) in enumerate(exprs)
    ]


def _thresholds(limit: float | None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if limit is not None:
        steps.append({"color": "red", "value": limit})
    return {"mode": "absolute", "steps": steps}


def _stat(
    title: str,
    exprs: list[tuple[str, str]],
    unit: str,
    limit: float | None = None,
    text_mode: str = "auto",
    mappings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "datasource": DATASOURCE,
        "targets": _targets(exprs),
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": _thresholds(limit),
                "mappings": mappings or [],
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": text_mode,
            "colorMode": "value",
        },
        "_size": (4, 4),
    }


def _series(
    title: str, exprs: list[tuple[str, str]], unit: str, limit: float | None = None
) -> dict[str, Any]:
    custom: dict[str, Any] = {"drawStyle": "line", "fillOpacity": 10}
    if limit is not None:  # the SLO as a dashed line
        custom["thresholdsStyle"] = {"mode": "dashed"}
    return {
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "targets": _targets(exprs),
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": _thresholds(limit), "custom": custom},
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "_size": (12, 8),
    }


def _heatmap(title: str, expr: str) -> dict[str, Any]:
    target = _targets([(expr, "{{le}}")])[0]
    target["format"] = "heatmap"
    return {
        "type": "heatmap",
        "title": title,
        "datasource": DATASOURCE,
        "targets": [target],
        "options": {"calculate": False, "yAxis": {"unit": "percentunit"}},
        "fieldConfig": {"defaults": {}, "overrides": []},
        "_size": (12, 8),
    }


def _map(value: str, text: str, color: str) -> dict[str, Any]:
    return {"type": "value", "options": {value: {"text": text, "color": color}}}


def _place(rows: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Panels left to right, row under row, on Grafana's 24-column grid; ids from 1."""
    out, y = [], 0
    for row in rows:
        x, height = 0, 0
        for panel in row:
            w, h = panel.pop("_size")
            panel["id"] = len(out) + 1
            panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            x, height = x + w, max(height, h)
            out.append(panel)
        y += height
    return out


def configmap(app: str, namespace: str, labels: dict[str, str], text: str) -> dict[str, Any]:
    """The dashboard in a ConfigMap labelled ``grafana_dashboard: "1"``, which Grafana's
    dashboard sidecar (kube-prometheus-stack, the Grafana chart) loads."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{app}-grafana-dashboard",
            "namespace": namespace,
            "labels": {**labels, "grafana_dashboard": "1"},
        },
        "data": {f"{app}.json": text},
    }
