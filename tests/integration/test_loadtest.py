"""``mlctl loadtest`` for real: a churn model trained by ``mlctl run``, a real
``mlctl serve`` (started by loadtest itself, or by the test for ``--url``), a few
seconds of load each, the SLO verdict, the MLflow record, and wrk as the reference."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from serve_helpers import FAST, ROW, Server, env_without_tracking, free_port, mlctl, version_tags

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("loadtest"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def server(project):
    srv = Server(project, "recipes/churn.yaml")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()


def logged_rows(project: Path) -> int:
    path = project / ".mlctl" / "predictions.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as con:
        return con.execute("select count(*) from predictions").fetchone()[0]


def predicted(server: Server) -> float:
    text = server.get("/metrics").body.decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mlctl_requests_total{") and 'route="/predict"' in line
    )


def test_it_starts_the_service_passes_the_slo_and_records_it_on_the_version(project) -> None:
    before = logged_rows(project)
    started = time.monotonic()
    res = mlctl(
        project, "loadtest", "recipes/churn.yaml", "--duration", "2", "--clients", "2", "--json"
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["status"] == "pass" and doc["verdict"].startswith("pass: p95 ")
    assert doc["service"]["started"] and doc["model"] == {"name": "churn", "version": 1}
    assert doc["load"]["mode"] == "closed" and doc["load"]["rows_per_request"] == 1
    assert doc["load"]["rows_source"].startswith("the recipe's data")
    results = doc["results"]
    assert results["ok"] == results["requests"] > 50 and results["error_rate"] == 0
    assert results["statuses"] == {"200": results["ok"]}
    latency = results["latency_ms"]
    assert 0 < latency["p50_ms"] <= latency["p90_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    assert doc["generator"]["cpu_us_per_request"] > 0
    tags = version_tags(project, 1)
    assert tags["mlctl.loadtest.last_run_id"] == doc["mlflow_run_id"]
    assert tags["mlctl.loadtest.last_status"] == doc["verdict"]
    # its own temporary prediction log: nothing reached the workspace's, nothing left over
    assert logged_rows(project) == before
    assert not list((project / ".mlctl").glob(".loadtest-*"))
    assert time.monotonic() - started < 90


def test_a_missed_slo_exits_3_and_says_which_check(server, project) -> None:
    """Also: without the recipe's data at hand, the served model's input example."""
    data = project / "data"
    data.rename(project / "data.away")
    try:
        res = mlctl(
            project,
            "loadtest",
            "recipes/churn.yaml",
            "deploy.serve.slo.p95_ms=0.001",
            "deploy.serve.slo.min_throughput_rps=1000000",
            "--url",
            server.url,
            "--rate",
            "50",
            "--duration",
            "1",
        )
    finally:
        (project / "data.away").rename(data)
    assert res.returncode == 3, res.stderr
    assert "SLO not met" in res.stdout and "open loop, 50 requests/s" in res.stdout
    assert "from the served model's input example" in res.stdout
    assert "fail: p95 " in res.stdout and "> 0.001 ms" in res.stdout
    tags = version_tags(project, 1)
    assert tags["mlctl.loadtest.last_status"].startswith("fail: p95 ")


def test_errors_a_user_can_cause_are_one_line_and_an_exit_code(server, project, tmp_path) -> None:
    extra = tmp_path / "rows.csv"
    pd.DataFrame([{**ROW, "Churn": "No"}]).to_csv(extra, index=False)
    cases = [
        (["--url", f"http://127.0.0.1:{free_port()}"], 7, "cannot reach the service"),
        (["--url", server.url, "--rows", str(extra)], 4, "does not take: Churn"),
        (["--url", server.url, "--clients", "2", "--rate", "5"], 2, "choose one"),
        (["--url", "localhost:8000"], 2, "--url must be an http:// or https:// URL"),
        # the service it starts cannot: mlctl serve's message and exit code
        (["--workspace", str(tmp_path / "none")], 4, "could not start (mlctl serve exited 4)"),
    ]
    for args, code, message in cases:
        res = mlctl(project, "loadtest", "recipes/churn.yaml", *args, "--duration", "1")
        assert res.returncode == code, (args, res.stderr)
        assert message in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_ctrl_c_stops_it_with_partial_results(server, project) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlctl", "loadtest", "recipes/churn.yaml", "--url", server.url]
        + ["--duration", "60", "--clients", "1", "--json", "--no-mlflow"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_without_tracking(),
    )
    before, deadline = predicted(server), time.monotonic() + 60
    while predicted(server) < before + 200 and time.monotonic() < deadline:
        time.sleep(0.2)  # the imports, the checks, then the load
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["status"] == "interrupted" and doc["interrupted"] is True
    assert doc["results"]["ok"] > 0 and doc["results"]["elapsed_s"] < 30


# ---------------------------------------------------------------- against wrk

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("WRK_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  local out = io.open(os.getenv("WRK_OUT"), "w")
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(value, " ", count, "\\n")
  end
  out:close()
end
"""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        message = "wrk is not installed (apt-get install wrk)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: .ci/run installs it)")
        pytest.skip(message)
    return path


def test_percentiles_agree_with_wrk_on_the_same_server(server, tmp_path) -> None:
    """Same server, same body (400 rows), one keep-alive connection each, closed loop,
    the same 3 s: wrk and our generator run side by side, so both see the same moments
    of this shared 2-core machine (run one after the other, a burst of another process
    lands in one tool's window only and moves its p99 by more than 10 % by itself).
    400 rows a request make the service's time (~15 ms) dominate what each client
    costs on a loaded machine: on 100 rows (~5 ms) under a full test suite, our Python
    client's ~0.4 ms put its p50 7 % and its p95 13 % above wrk's; on 1-row requests
    (~1 ms) the scheduling jitter is itself 10-20 % of the tail. Their p50, p95 and p99 must agree within 10 %, in one attempt or in all
    attempts so far pooled; up to four attempts, every figure is printed."""
    from hdrh.histogram import HdrHistogram

    from mlctl.loadtest import generator, rows
    from mlctl.loadtest.http import Target, encode_post

    wrk = require_wrk()
    target = Target.parse(server.url)
    batch = [{**ROW, "tenure": i % 72, "MonthlyCharges": 20.0 + i} for i in range(400)]
    body = rows.bodies(rows.Rows(batch, "test"), 400)[0]
    (tmp_path / "body.json").write_bytes(body)
    (tmp_path / "raw.lua").write_text(WRK_SCRIPT)
    env = {**os.environ, "WRK_BODY": str(tmp_path / "body.json"), "WRK_OUT": str(tmp_path / "out")}
    plan = generator.Plan([encode_post(target, "/predict", body, {})], 400, 3.0, clients=1)
    attempts = []
    pooled = (HdrHistogram(1, 60_000_000, 3), HdrHistogram(1, 60_000_000, 3))
    for _ in range(4):
        ref = subprocess.Popen(
            [wrk, "-t1", "-c1", "-d3s", "-s", str(tmp_path / "raw.lua"), server.url + "/predict"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        ours = generator.run(plan, target)
        assert ref.wait(timeout=30) == 0
        theirs = HdrHistogram(1, 60_000_000, 3)
        for line in (tmp_path / "out").read_text().splitlines():
            value, count = line.split()
            theirs.record_value(int(value), int(count))
        assert not ours.failures and ours.statuses.keys() == {200}
        pooled[0].add(theirs)
        pooled[1].add(ours.histogram)
        for name, (a, b) in (("attempt", (theirs, ours.histogram)), ("pooled", pooled)):
            figures = {
                p: (a.get_value_at_percentile(p) / 1000, b.get_value_at_percentile(p) / 1000)
                for p in (50, 95, 99)
            }
            attempts.append((name, figures))
            shown = {
                p: f"{x:.3f} / {y:.3f} ({100 * (y - x) / x:+.1f} %)"
                for p, (x, y) in figures.items()
            }
            print(f"wrk / mlctl loadtest, ms, {name}:", shown)
            if all(abs(y - x) <= 0.10 * x for x, y in figures.values()):
                return
    pytest.fail(f"p50/p95/p99 (wrk ms, ours ms) never within 10 %: {attempts}")
