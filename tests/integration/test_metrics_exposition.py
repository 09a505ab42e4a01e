"""``GET /metrics`` of a real ``mlctl serve``, in both exposition formats, parsed by
prometheus-client's own parsers and linted with the rules of ``promtool check metrics``
(client_golang's promlint): HELP on every metric, ``_total`` on counters and only on
them, base units, no unit abbreviations, no type in the name, no colons, snake_case,
valid label names, no reserved histogram suffixes or labels, info metrics named
``*_info``, no duplicate series, and no version as a metric value.

Also: the served version is a label of ``mlctl_model_info`` whose old series goes away
on a hot swap, and with two workers every worker's ``process_*`` series is there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families
from serve_helpers import (
    FAST,
    ROW,
    SECOND_VERSION,
    Server,
    call,
    env_without_tracking,
    move_champion,
    wait_all_ready,
)

pytestmark = pytest.mark.integration

OPENMETRICS = "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"

NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped", "info", "stateset")
# promlint's base units and SI prefixes: a prefixed unit must be the base unit.
BASE_UNITS = ("seconds", "bytes", "meters", "metres", "grams", "amperes", "kelvin", "volts")
PREFIXES = (
    "pico",
    "nano",
    "micro",
    "milli",
    "centi",
    "deci",
    "deca",
    "hecto",
    "kilo",
    "kibi",
    "mega",
    "mebi",
    "giga",
    "gibi",
    "tera",
    "tebi",
    "peta",
    "pebi",
)
OTHER_UNITS = {"minutes", "hours", "days", "weeks", "celsius", "fahrenheit", "percent"}
ABBREVIATIONS = {"s", "ms", "us", "ns", "sec", "secs", "msec", "b", "kb", "mb", "gb", "tb"}


def lint(text: str, openmetrics: bool) -> list[str]:
    """Problems ``promtool check metrics`` would report, plus this service's rules."""
    problems: list[str] = []
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, doc = line[7:].partition(" ")
            helps[name] = doc.strip()
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            types[name] = kind.strip()
    parse = openmetrics_families if openmetrics else text_families
    families = list(parse(text))
    assert families, "no metric families"
    for name, kind in types.items():
        if not helps.get(name):
            problems.append(f"{name}: no help text")
        if kind not in TYPES:
            problems.append(f"{name}: unknown type {kind}")
        if ":" in name or not NAME.match(name):
            problems.append(f"{name}: not a valid metric name without colons")
        if name != name.lower():
            problems.append(f"{name}: not snake_case")
        tokens = name.split("_")
        if kind == "counter" and not openmetrics and not name.endswith("_total"):
            problems.append(f"{name}: counter metrics should have '_total' suffix")
        if kind != "counter" and name.endswith("_total"):
            problems.append(f"{name}: non-counter metrics should not have '_total' suffix")
        if kind not in ("histogram", "summary") and tokens[-1] in ("bucket", "count", "sum"):
            problems.append(
                f"{name}: non-histogram and non-summary metrics should not have "
                f"'_{tokens[-1]}' suffix"
            )
        for token in tokens:
            if token in TYPES[:4] and token != tokens[0]:
                problems.append(f"{name}: metric name should not include type '{token}'")
            if token in ABBREVIATIONS:
                problems.append(f"{name}: metric names should not contain abbreviated units")
            if token in OTHER_UNITS:
                problems.append(f"{name}: use base unit instead of '{token}'")
            for unit in BASE_UNITS:
                if token != unit and token.endswith(unit) and token[: -len(unit)] in PREFIXES:
                    problems.append(f"{name}: use base unit '{unit}' instead of '{token}'")
    seen: set[tuple] = set()
    for family in families:
        kind = family.type
        declared = {family.name, family.name + "_total", family.name + "_info"}
        if not declared & set(types) and not any(s.name in types for s in family.samples):
            problems.append(f"{family.name}: no TYPE line")
        if kind == "info" and not all(s.name.endswith("_info") for s in family.samples):
            problems.append(f"{family.name}: info metrics should be named '*_info'")
        if family.name.endswith("_info") and kind not in ("info", "gauge"):
            problems.append(f"{family.name}: '_info' on a {kind}")
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in seen:
                problems.append(f"{sample.name}{sample.labels}: duplicate series")
            seen.add(key)
            for label in sample.labels:
                if not LABEL.match(label) or label.startswith("__") or label != label.lower():
                    problems.append(f"{sample.name}: invalid label name {label!r}")
                if label == "le" and not sample.name.endswith("_bucket"):
                    problems.append(f"{sample.name}: 'le' label outside a histogram's buckets")
                if label == "quantile" and kind != "summary":
                    problems.append(f"{sample.name}: 'quantile' label outside a summary")
            if kind == "counter" and not sample.name.endswith(("_total", "_created")):
                problems.append(f"{sample.name}: counter sample without '_total'")
            if "version" in sample.name and not sample.name.endswith("_info"):
                problems.append(f"{sample.name}: a version as a value (use an info metric)")
    return problems


def scrape(url: str, accept: str | None = None) -> tuple[str, str]:
    res = call(url + "/metrics", headers={"Accept": accept} if accept else None)
    assert res.status == 200, res.body[:300]
    return res.body.decode(), res.headers["content-type"]


def samples(text: str, name: str, openmetrics: bool = False) -> list:
    parse = openmetrics_families if openmetrics else text_families
    return [s for f in parse(text) for s in f.samples if s.name == name]


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project):
    """Two registered versions; @champion on the second."""
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("metrics"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [sys.executable, "-c", SECOND_VERSION],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env_without_tracking(),
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def server(project):
    srv = Server(project, "recipes/churn.yaml", "deploy.serve.poll_seconds=0.5")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()


def test_both_formats_parse_and_lint_clean(server) -> None:
    assert server.post("/predict", {"records": [ROW]}).status == 200
    assert server.post("/predict", {"records": []}).status == 422
    text, ctype = scrape(server.url)
    assert ctype.startswith("text/plain; version=0.0.4") and ctype.count("charset") == 1
    assert lint(text, openmetrics=False) == []
    om, om_type = scrape(server.url, OPENMETRICS)
    assert om_type.startswith("application/openmetrics-text; version=1.0.0")
    assert om.endswith("# EOF\n")
    assert lint(om, openmetrics=True) == []
    names = {f.name for f in openmetrics_families(om)}
    assert {"mlctl_requests", "mlctl_request_seconds", "mlctl_model"} <= names
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= names
    assert "process_start_time_seconds" in names and "python_gc_objects_collected" in names
    [info] = [f for f in openmetrics_families(om) if f.name == "mlctl_model"]
    assert info.type == "info"
    # a scraper that asks for plain text (or anything else) gets plain text
    assert scrape(server.url, "text/plain")[1].startswith("text/plain; version=0.0.4")
    assert scrape(server.url, "*/*")[1].startswith("text/plain; version=0.0.4")


def test_promtool_check_metrics_is_clean(server) -> None:
    """Prometheus' own linter on the text format (Debian's ``prometheus`` package, which
    .ci/run installs): skipped on a machine without it, a failure in CI."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (CI is set: .ci/run installs Debian's prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    assert server.post("/predict", {"records": [ROW]}).status == 200
    text, _ = scrape(server.url)
    res = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_the_linter_catches_what_promtool_would() -> None:
    bad = (
        "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests 1\n"
        "# HELP a_size_total \n# TYPE a_size_total gauge\na_size_total 1\n"
        "# HELP a_latency_milliseconds Latency.\n# TYPE a_latency_milliseconds gauge\n"
        "a_latency_milliseconds 1\n"
        "# HELP a_model_version Version.\n# TYPE a_model_version gauge\na_model_version 3\n"
    )
    found = "\n".join(lint(bad, openmetrics=False))
    assert "a_requests: counter metrics should have '_total' suffix" in found
    assert "a_size_total: no help text" in found
    assert "a_size_total: non-counter metrics should not have '_total' suffix" in found
    assert "use base unit 'seconds' instead of 'milliseconds'" in found
    assert "a_model_version: a version as a value" in found


def test_the_version_is_an_info_label_and_a_hot_swap_replaces_it(server, project) -> None:
    text, _ = scrape(server.url)
    [info] = samples(text, "mlctl_model_info")
    assert info.value == 1
    assert info.labels == {"name": "churn", "version": "2", "alias": "champion", "role": "champion"}
    assert not [line for line in text.splitlines() if line.startswith("mlctl_model_version")]
    move_champion(project, 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text, _ = scrape(server.url)
        versions = [s.labels["version"] for s in samples(text, "mlctl_model_info")]
        if versions == ["1"]:
            break
        time.sleep(0.2)
    assert versions == ["1"], text  # the series of version 2 is gone, not left at 0 or 1
    om, _ = scrape(server.url, OPENMETRICS)
    assert [s.labels["version"] for s in samples(om, "mlctl_model_info", True)] == ["1"]
    move_champion(project, 2)


def test_two_workers_show_each_workers_process_metrics(project) -> None:
    srv = Server(project, "recipes/churn.yaml", "--workers", "2")
    try:
        wait_all_ready(srv, 2)
        for accept, openmetrics in ((None, False), (OPENMETRICS, True)):
            text, _ = scrape(srv.url, accept)
            assert lint(text, openmetrics) == [], text
            name = "process_resident_memory_bytes"
            pids = {s.labels["pid"] for s in samples(text, name, openmetrics)}
            assert len(pids) == 2, text
            assert [s.labels["version"] for s in samples(text, "mlctl_model_info", openmetrics)]
            assert samples(text, "python_info", openmetrics)
    finally:
        assert srv.stop() == 0, srv.output()
