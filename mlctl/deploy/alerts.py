"""Prometheus alerting rules for the metrics ``mlctl serve`` exports (docs/operations.md).

The rules read the recipe's SLO (``deploy.serve.slo``) and select the service by its
scrape job, ``job="<app>"`` (the Kubernetes Service's name, which a ServiceMonitor uses
as the job; the docker target's docs name the scrape job the same). Only the scoring
routes count as traffic: probes and scrapes would otherwise hide an idle or failing
model. Every expression is checked by ``promtool check rules`` and each alert by
``promtool test rules`` in ``tests/integration/test_deploy_observability.py``.
"""

from __future__ import annotations

from typing import Any

# The bounds of ``mlctl_request_seconds`` (mlctl/serve/metrics.py's LATENCY_BUCKETS; a
# unit test keeps the two equal, so deploy does not import the server).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# The route labels of scoring requests (mlctl/serve/responses.py's route_label).
SCORING_ROUTES = "/predict|/invocations|/v2/models/.+/infer"
WINDOW = "5m"  # the rate window of the error and latency alerts
IDLE_WINDOW = "15m"  # no scored request in this long: the no-traffic alert
FIVE_XX = 'code=~"5.."'


def selector(job: str, *extra: str) -> str:
    """``{job="...", route=~scoring, ...}`` of the scoring requests of one service."""
    return "{" + ", ".join([f'job="{job}"', f'route=~"{SCORING_ROUTES}"', *extra]) + "}"


def latency_expr(quantile: float, job: str, window: str = WINDOW) -> str:
    """The latency quantile of the scoring routes in seconds, over all instances."""
    return (
        f"histogram_quantile({quantile}, sum by (le) "
        f"(rate(mlctl_request_seconds_bucket{selector(job)}[{window}])))"
    )


def error_ratio_expr(job: str, window: str = WINDOW) -> str:
    """The share of scored requests answered with a 5xx (NaN without traffic)."""
    return (
        f"sum(rate(mlctl_requests_total{selector(job, FIVE_XX)}[{window}])) "
        f"/ sum(rate(mlctl_requests_total{selector(job)}[{window}]))"
    )


def bucket_note(ms: float) -> str | None:
    """Why a latency SLO is measured only roughly by the buckets, or None when one of
    the bounds is the SLO itself (histogram_quantile is then exact at the threshold)."""
    seconds = ms / 1000
    if any(abs(b - seconds) < 1e-9 for b in LATENCY_BUCKETS):
        return None
    if seconds > LATENCY_BUCKETS[-1]:
        return (
            f"{ms:g} ms is above the largest latency bucket ({LATENCY_BUCKETS[-1]:g} s): "
            "the latency alert can never fire"
        )
    if seconds < LATENCY_BUCKETS[0]:
        return f"{ms:g} ms is below the smallest latency bucket ({LATENCY_BUCKETS[0]:g} s)"
    low = max(b for b in LATENCY_BUCKETS if b < seconds)
    high = min(b for b in LATENCY_BUCKETS if b > seconds)
    return (
        f"{ms:g} ms falls between the latency buckets {low * 1000:g} and {high * 1000:g} ms: "
        "the alert's quantile is interpolated there"
    )


def rules(app: str, model: str, slo: Any) -> dict[str, Any]:
    """The rules file (Prometheus' ``rule_files`` format) of one service."""
    job = app
    summary = f"model {model} (job {job})"
    alerts: list[dict[str, Any]] = [
        _alert(
            "MlctlHighErrorRate",
            f"({error_ratio_expr(job)}) > {slo.max_error_rate:g}",
            "5m",
            "page",
            f"{summary}: error rate above the SLO",
            f"{{{{ $value | humanizePercentage }}}} of scored requests answered 5xx over "
            f"{WINDOW} (SLO: at most {slo.max_error_rate * 100:g}%).",
        )
    ]
    for name, q, ms in (("P95", 0.95, slo.p95_ms), ("P99", 0.99, slo.p99_ms)):
        if ms is None:
            continue
        alerts.append(
            _alert(
                f"MlctlLatency{name}AboveSlo",
                f"{latency_expr(q, job)} > {ms / 1000:g}",
                "10m",
                "page" if name == "P95" else "warning",
                f"{summary}: {name.lower()} latency above the SLO",
                f"{name.lower()} latency of scored requests is {{{{ $value | humanizeDuration }}}}"
                f" over {WINDOW} (SLO: {ms:g} ms).",
            )
        )
    failures = f'mlctl_model_load_failures_total{{job="{job}"}}'
    alerts += [
        _alert(
            "MlctlPredictionLogFailures",
            f'sum(increase(mlctl_log_rows_failed_total{{job="{job}"}}[{WINDOW}])) > 0',
            "0m",
            "page",
            f"{summary}: the prediction log fails to commit",
            "{{ $value | humanize }} rows could not be written to the prediction log in "
            f"the last {WINDOW}; their requests got 503 (see the server's console).",
        ),
        _alert(
            "MlctlNoTraffic",
            f"(sum(rate(mlctl_requests_total{selector(job)}[{IDLE_WINDOW}])) or vector(0)) == 0",
            IDLE_WINDOW,
            "warning",
            f"{summary}: no scored requests",
            f"No request reached a scoring route in {IDLE_WINDOW} (or the service is not scraped).",
        ),
        _alert(
            "MlctlModelLoadFailures",
            # increase() misses a series' first sample (the first failure of a role):
            # a series that did not exist 15 minutes ago counts too.
            f"sum by (role) (increase({failures}[15m])) > 0 "
            f"or sum by (role) ({failures} unless {failures} offset 15m) > 0",
            "0m",
            "warning",
            f"{summary}: a version failed to load",
            "A registered version failed to load or to pass its smoke test ({{ $labels.role }}); "
            "the previous version keeps serving (see /ready).",
        ),
        _alert(
            "MlctlMonitorAttention",
            f'max by (model, version) (mlctl_monitor_attention{{job="{job}"}}) == 1',
            "0m",
            "warning",
            f"{summary}: mlctl monitor says attention",
            "The latest mlctl monitor result of version {{ $labels.version }} needs "
            "attention (drift, performance or volume): see GET /monitoring and its report.",
        ),
    ]
    return {"groups": [{"name": f"mlctl-{app}", "rules": alerts}]}


def _alert(
    name: str, expr: str, wait: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def prometheus_rule(app: str, namespace: str, labels: dict[str, str], doc: dict) -> dict:
    """The same groups as a prometheus-operator ``PrometheusRule``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"{app}-alerts", "namespace": namespace, "labels": labels},
        "spec": doc,
    }


def service_monitor(app: str, namespace: str, labels: dict, selector: dict) -> dict:
    """A prometheus-operator ``ServiceMonitor`` scraping the Service's ``/metrics``
    (its job label is the Service's name, which the rules select)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": app, "namespace": namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }
