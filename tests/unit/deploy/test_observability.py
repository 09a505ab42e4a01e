"""The Grafana dashboard and the Prometheus rules ``mlctl deploy`` writes: structure,
the SLO in them, and the latency buckets (promtool checks them in
tests/integration/test_deploy_observability.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from mlctl.deploy import alerts, grafana
from mlctl.serve.metrics import LATENCY_BUCKETS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_targets import files, plan  # noqa: E402

pytestmark = pytest.mark.unit

SLO = SimpleNamespace(p95_ms=100.0, p99_ms=None, max_error_rate=0.01)


def test_the_buckets_are_the_servers() -> None:
    assert alerts.LATENCY_BUCKETS == LATENCY_BUCKETS


def test_dashboard_structure() -> None:
    board = json.loads(grafana.dashboard_json("churn", "churn", SLO))
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] == "mlctl-churn" and board["title"] == "mlctl: churn"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["current"]["value"] == "churn"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels) >= 14
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert set(g) == {"h", "w", "x", "y"} and all(isinstance(v, int) for v in g.values())
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"panel {p['title']} overlaps another"
        cells |= mine
        assert p["type"] in ("stat", "timeseries", "heatmap") and p["title"]
        assert p["datasource"]["uid"] == "${datasource}" and p["targets"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}" and t["refId"] and t["expr"]
            assert 'job="$job"' in t["expr"]
    by_title = {p["title"]: p for p in panels}
    latency = by_title["Latency of scored requests"]["fieldConfig"]["defaults"]["thresholds"]
    assert latency["steps"][-1]["value"] == 0.1  # the p95 SLO in seconds
    errors = by_title["Error rate (5xx)"]["fieldConfig"]["defaults"]["thresholds"]
    assert errors["steps"][-1]["value"] == 0.01


def test_rules_follow_the_slo() -> None:
    slo = SimpleNamespace(p95_ms=250.0, p99_ms=1000.0, max_error_rate=0.002)
    rules = {r["alert"]: r for r in alerts.rules("churn", "churn", slo)["groups"][0]["rules"]}
    assert rules["MlctlHighErrorRate"]["expr"].endswith("> 0.002")
    assert rules["MlctlLatencyP95AboveSlo"]["expr"].endswith("> 0.25")
    assert rules["MlctlLatencyP99AboveSlo"]["expr"].endswith("> 1")
    assert 'job="churn"' in rules["MlctlNoTraffic"]["expr"]
    no_p95 = SimpleNamespace(p95_ms=None, p99_ms=None, max_error_rate=0.01)
    names = {r["alert"] for r in alerts.rules("churn", "churn", no_p95)["groups"][0]["rules"]}
    assert not any(n.startswith("MlctlLatency") for n in names)
    assert {"MlctlPredictionLogFailures", "MlctlMonitorAttention"} <= names


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (100, None),
        (250, None),
        (150, "between the latency buckets 100 and 250 ms"),
        (20000, "can never fire"),
        (0.5, "below the smallest"),
    ],
)
def test_bucket_note(ms, expected) -> None:
    note = alerts.bucket_note(ms)
    assert note is None if expected is None else expected in note


def test_targets_write_the_files_and_warn_off_bucket() -> None:
    docker = plan("docker", "deploy.serve.slo.p95_ms=150")
    assert {"prometheus-rules.yaml", "grafana-dashboard.json"} <= set(files(docker))
    assert any("deploy.serve.slo.p95_ms: 150 ms falls between" in w for w in docker.warnings)
    k8s = plan("k8s")
    f = files(k8s)
    assert not any("slo" in w for w in k8s.warnings)
    kustomization = yaml.safe_load(f["kustomization.yaml"])
    assert "grafana-dashboard-configmap.yaml" in kustomization["resources"]
    assert "prometheus-operator.yaml" not in kustomization["resources"]  # CRDs may be absent
    cm = yaml.safe_load(f["grafana-dashboard-configmap.yaml"])
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["churn.json"]) == json.loads(f["grafana-dashboard.json"])
    rule, monitor = yaml.safe_load_all(f["prometheus-operator.yaml"])
    assert rule["spec"] == yaml.safe_load(f["prometheus-rules.yaml"])
    service = yaml.safe_load(f["service.yaml"])
    labels = service["metadata"]["labels"]
    assert all(labels[k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert any(s.startswith("kubectl apply -f") for s in k8s.next_steps)
