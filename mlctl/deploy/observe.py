"""The monitoring files of the docker and k8s targets: the Prometheus alerting rules
(:mod:`.alerts`) and the Grafana dashboard (:mod:`.grafana`), from the recipe's SLO."""

from __future__ import annotations

from mlctl.deploy import alerts, grafana
from mlctl.deploy.plan import Facts, GeneratedFile, dump_yaml, header

RULES_FILE = "prometheus-rules.yaml"
DASHBOARD_FILE = "grafana-dashboard.json"


def files(facts: Facts) -> tuple[list[GeneratedFile], list[str]]:
    """The rules and the dashboard, and warnings about the SLO's latency buckets."""
    slo = facts.serve.slo
    rules = alerts.rules(facts.app, facts.model_name, slo)
    out = [
        GeneratedFile(
            RULES_FILE,
            dump_yaml(rules, header(facts, "Prometheus alerting rules (rule_files)")),
            "Prometheus alerting rules",
        ),
        GeneratedFile(
            DASHBOARD_FILE,
            grafana.dashboard_json(facts.app, facts.model_name, slo),
            "Grafana dashboard",
        ),
    ]
    warnings = []
    for key, ms in (("p95_ms", slo.p95_ms), ("p99_ms", slo.p99_ms)):
        note = alerts.bucket_note(ms) if ms is not None else None
        if note:
            warnings.append(f"deploy.serve.slo.{key}: {note}")
    return out, warnings
