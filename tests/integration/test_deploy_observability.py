"""The Prometheus rules and the Grafana dashboard that ``mlctl deploy`` writes, checked
by ``promtool`` (Debian's ``prometheus``, which .ci/run installs: a failure in CI when
it is missing): the rules pass ``promtool check rules``; ``promtool test rules`` feeds
synthetic series and proves each alert fires when it should and stays quiet when it
should not; every dashboard query parses; and every metric name the rules and the
dashboard use is one a real ``mlctl serve`` exports (its ``/metrics`` scraped), with the
monitor-attention gauge read from the latest monitoring result."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from serve_helpers import FAST, ROW, Server, call

from mlctl.deploy import DeployOptions, Served, facts_for, generate
from mlctl.deploy.grafana import queries
from mlctl.recipe.loader import load_recipe

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCORED = 'route="/predict"'


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (CI is set: .ci/run installs Debian's prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def generated(target: str, *overrides: str) -> dict[str, str]:
    loaded = load_recipe(REPO / "recipes" / "churn.yaml", list(overrides))
    opts = DeployOptions(target, out=str(REPO / "deploy"), context=str(REPO))
    plan = generate(facts_for(loaded, opts, Served("churn", 3, "champion")), target)
    return {f.path: f.content for f in plan.files}


def check_rules(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)
    res = run_promtool("check", "rules", name, cwd=folder)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("target", ["docker", "k8s"])
def test_rules_pass_promtool_check(tmp_path, target) -> None:
    files = generated(target, "deploy.serve.slo.p99_ms=250")
    check_rules(tmp_path, "rules.yaml", files["prometheus-rules.yaml"])
    if target == "k8s":  # the PrometheusRule holds the same groups
        rule, monitor = yaml.safe_load_all(files["prometheus-operator.yaml"])
        assert rule["kind"] == "PrometheusRule" and monitor["kind"] == "ServiceMonitor"
        assert rule["spec"] == yaml.safe_load(files["prometheus-rules.yaml"])
        check_rules(tmp_path, "operator.yaml", yaml.safe_dump(rule["spec"]))


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f'{name}{{job="churn", {labels}}}', "values": values}


def requests(code: str, per_minute: float, route: str = SCORED) -> dict[str, str]:
    return series("mlctl_requests_total", f'{route}, code="{code}"', f"0+{per_minute}x40")


def buckets(slow: bool) -> list[dict[str, str]]:
    """Ten scored requests a minute: all under 50 ms, or all between 100 and 250 ms."""
    if slow:
        counts = {"0.05": "0+0x40", "0.1": "0+0x40", "0.25": "0+10x40", "+Inf": "0+10x40"}
    else:
        counts = {"0.05": "0+10x40", "0.1": "0+10x40", "0.25": "0+10x40", "+Inf": "0+10x40"}
    return [
        series("mlctl_request_seconds_bucket", f'{SCORED}, le="{le}"', v)
        for le, v in counts.items()
    ]


def alert(name: str, at: str, fired: list[dict[str, str]] | None = None) -> dict:
    return {"alertname": name, "eval_time": at, "exp_alerts": fired or []}


def fired(name: str, **labels: str) -> list[dict]:
    return [{"exp_labels": {"alertname": name, **labels}}]


PAGE = {"severity": "page"}
LOG_TAIL = "in the last 5m; their requests got 503 (see the server's console)."
LOAD_FAILED = (
    "A registered version failed to load or to pass its smoke test (challenger); the "
    "previous version keeps serving (see /ready)."
)
ATTENTION = (
    "The latest mlctl monitor result of version 3 needs attention (drift, performance or "
    "volume): see GET /monitoring and its report."
)
IDLE = "No request reached a scoring route in 15m (or the service is not scraped)."
WARN = {"severity": "warning"}


def rule_tests() -> list[dict]:
    """(input series, expected alerts) per case: each alert once firing, once quiet."""
    busy = requests("200", 100)
    return [
        {  # 5 % 5xx on /predict, slow answers, log failures, a load failure, attention
            "interval": "1m",
            "input_series": [
                busy,
                requests("500", 5),
                *buckets(slow=True),
                series("mlctl_log_rows_failed_total", 'instance="a"', "0 0 0 0 0 3 3 3"),
                series("mlctl_model_load_failures_total", 'role="challenger"', "_ _ _ _ _ 1 1 1"),
                series("mlctl_monitor_attention", 'model="churn", version="3"', "1x40"),
            ],
            "alert_rule_test": [
                alert(
                    "MlctlHighErrorRate",
                    "15m",
                    _with(
                        PAGE, "4.762% of scored requests answered 5xx over 5m (SLO: at most 1%)."
                    ),
                ),
                alert(
                    "MlctlLatencyP95AboveSlo",
                    "20m",  # all between 100 and 250 ms: p95 interpolated at 242.5 ms
                    _with(PAGE, "p95 latency of scored requests is 242.5ms over 5m (SLO: 100 ms)."),
                ),
                alert("MlctlLatencyP99AboveSlo", "20m"),  # p99 SLO 250 ms: 249 ms is under
                alert(
                    "MlctlPredictionLogFailures",
                    "6m",
                    _with(PAGE, f"3 rows could not be written to the prediction log {LOG_TAIL}"),
                ),
                alert("MlctlPredictionLogFailures", "20m"),  # 5m window past the failures
                alert(
                    "MlctlModelLoadFailures",
                    "6m",
                    _with(WARN, LOAD_FAILED, role="challenger"),
                ),
                alert(
                    "MlctlMonitorAttention",
                    "1m",
                    _with(WARN, ATTENTION, model="churn", version="3"),
                ),
                alert("MlctlNoTraffic", "35m"),
            ],
        },
        {  # healthy: 0.5 % 5xx, fast, probes failing (not traffic), monitor healthy
            "interval": "1m",
            "input_series": [
                requests("200", 200),
                requests("503", 1),
                requests("503", 300, 'route="/ready"'),
                *buckets(slow=False),
                series("mlctl_log_rows_failed_total", 'instance="a"', "0x40"),
                series("mlctl_model_load_failures_total", 'role="champion"', "1x40"),
                series("mlctl_monitor_attention", 'model="churn", version="3"', "0x40"),
            ],
            "alert_rule_test": [
                alert("MlctlHighErrorRate", "15m"),
                alert("MlctlLatencyP95AboveSlo", "20m"),
                alert("MlctlPredictionLogFailures", "20m"),
                alert("MlctlModelLoadFailures", "30m"),  # one old failure, none new
                alert("MlctlMonitorAttention", "20m"),
                alert("MlctlNoTraffic", "35m"),
            ],
        },
        {  # idle: the counters stand still (or another job's traffic only)
            "interval": "1m",
            "input_series": [
                series("mlctl_requests_total", f'{SCORED}, code="200"', "50x40"),
                {
                    "series": 'mlctl_requests_total{job="other", route="/predict"}',
                    "values": "0+9x40",
                },
            ],
            "alert_rule_test": [
                alert("MlctlNoTraffic", "10m"),  # not idle for 15 minutes yet
                alert("MlctlNoTraffic", "35m", _with(WARN, IDLE)),
                alert("MlctlHighErrorRate", "35m"),  # no traffic: no ratio, no alert
            ],
        },
        {  # no series of this job at all (never scraped): no traffic
            "interval": "1m",
            "input_series": [
                {
                    "series": 'mlctl_requests_total{job="other", route="/predict"}',
                    "values": "0+9x40",
                }
            ],
            "alert_rule_test": [alert("MlctlNoTraffic", "20m", _with(WARN, IDLE))],
        },
    ]


def _with(severity: dict[str, str], said: str, **labels: str) -> list[dict]:
    """One expected alert: its labels, and its description as rendered (promtool
    compares the annotations too, so the templated numbers are checked)."""
    return [{"exp_labels": {**severity, **labels}, "description": said}]


def _fill_annotations(tests: list[dict], rules: dict) -> None:
    """The expected annotations: the rule's summary and the rendered description."""
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for case in tests:
        for t in case["alert_rule_test"]:
            for exp in t["exp_alerts"]:
                summary = by_name[t["alertname"]]["annotations"]["summary"]
                exp["exp_annotations"] = {"summary": summary, "description": exp.pop("description")}


def test_each_alert_fires_when_it_should_and_only_then(tmp_path) -> None:
    files = generated("k8s", "deploy.serve.slo.p99_ms=250")
    (tmp_path / "rules.yaml").write_text(files["prometheus-rules.yaml"])
    rules = yaml.safe_load(files["prometheus-rules.yaml"])
    tests = rule_tests()
    _fill_annotations(tests, rules)
    doc = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    res = run_promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    tested = {t["alertname"] for c in tests for t in c["alert_rule_test"]}
    assert tested == {r["alert"] for g in rules["groups"] for r in g["rules"]}


def test_dashboard_queries_parse(tmp_path) -> None:
    board = json.loads(generated("docker")["grafana-dashboard.json"])
    exprs = [_concrete(e) for e in queries(board)]
    assert len(exprs) >= 20
    group = {
        "name": "dashboard",
        "rules": [{"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)],
    }
    check_rules(tmp_path, "dashboard.yaml", yaml.safe_dump({"groups": [group]}))


def _concrete(expr: str) -> str:
    """A panel's query as Prometheus receives it from Grafana."""
    return expr.replace("$__rate_interval", "5m").replace("$job", "churn")


NAME = re.compile(r"\b((?:mlctl|process)_[a-z_]+)\b")
SUFFIXES = ("_bucket", "_count", "_sum")


def used_names(text: str) -> set[str]:
    """Metric names in PromQL (histogram series by their family's name)."""
    names = set()
    for name in NAME.findall(text):
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
        names.add(name)
    return names


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project):
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("observe"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


def scrape(url: str) -> tuple[str, set[str]]:
    text = call(url + "/metrics").body.decode()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "info":
            names.add(family.name + "_info")
    return text, names


def test_every_metric_used_is_one_the_server_exports(project) -> None:
    latest = project / ".mlctl" / "monitoring" / "churn" / "latest.json"
    srv = Server(project, "recipes/churn.yaml")
    try:
        srv.wait_ready()
        assert srv.post("/predict", {"records": [ROW]}).status == 200
        text, names = scrape(srv.url)
        assert "mlctl_monitor_attention{" not in text  # no result yet: absent
        latest.parent.mkdir(parents=True, exist_ok=True)
        doc = {"status": "attention", "model": {"name": "churn", "version": 1}}
        latest.write_text(json.dumps({**doc, "generated_at": "2026-12-05T21:00:00Z"}))
        text, names = scrape(srv.url)
        assert 'mlctl_monitor_attention{model="churn",version="1"} 1.0' in text
        assert 'mlctl_monitor_last_run_timestamp_seconds{model="churn",version="1"} 1.7' in text
        latest.write_text(json.dumps({**doc, "status": "healthy", "extra": "changed size"}))
        assert 'mlctl_monitor_attention{model="churn",version="1"} 0.0' in scrape(srv.url)[0]
        latest.write_text("{not json")  # damaged: absent, never a failed scrape
        assert "mlctl_monitor_attention{" not in scrape(srv.url)[0]
    finally:
        assert srv.stop() == 0, srv.output()
    files = generated("k8s")
    board = json.loads(files["grafana-dashboard.json"])
    used = used_names(" ".join(queries(board))) | used_names(files["prometheus-rules.yaml"])
    used |= used_names(json.dumps(board["templating"]))
    assert used - names == set()
    assert {"mlctl_requests_total", "mlctl_monitor_attention", "mlctl_model_info"} <= used
