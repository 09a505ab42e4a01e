"""``mlctl monitor`` end to end, through the real CLI.

One quick ``mlctl run`` (one logistic regression, 900 Telco rows) promoted to
champion; then prediction logs written through the server's own writer
(``PredictionLog`` + ``rows_for``) with Telco rows the model never trained on, scored
by the registered model itself, in a fixed past window (2024-05-01, 24 h). Each case
points ``deploy.serve.log.url`` at its own log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import TELCO
from serve_helpers import FAST, env_without_tracking, mlctl

from mlctl.errors import ExitCode
from mlctl.paths import latest_path
from mlctl.predlog import PredictionLog, rows_for

pytestmark = pytest.mark.integration

T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z
DAY = 86400
END = str(int(T0 + DAY))
INPUTS = [
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    """The churn project (900 rows) with a promoted quick model, trained once for the
    session (conftest.trained_churn_project)."""
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("monitor"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def model(project) -> Any:
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import resolve_workspace

    old = {k: os.environ.pop(k) for k in list(os.environ) if "TRACKING_URI" in k}
    try:
        return Registry(resolve_workspace(project / ".mlctl")).load_reference("churn@champion")
    finally:
        os.environ.update(old)


@pytest.fixture(scope="module")
def unseen() -> pd.DataFrame:
    """Telco rows after the 900 the model trained on, as a client sends them."""
    raw = pd.read_csv(TELCO)
    rows = raw.iloc[2000:3200].reset_index(drop=True)
    rows["TotalCharges"] = pd.to_numeric(rows["TotalCharges"], errors="coerce")
    return rows


def write_log(
    path: Path | str, model: Any, frame: pd.DataFrame, start: float = T0, span: float = DAY
) -> list[str]:
    """Score ``frame`` with the model and log it as requests of 4 rows spread over
    ``[start, start + span)``; returns the request ids (with the true labels' order)."""
    X = frame[[c["name"] for c in model.input_schema]]
    proba = model.pipeline.predict_proba(X)
    classes = [str(c) for c in model.pipeline.classes_]
    pred = model.pipeline.predict(X)
    pos = classes.index("Yes")
    sent = frame[INPUTS]  # what clients send (the server logs it all)
    records = sent.astype(object).where(sent.notna(), None).to_dict("records")
    log = PredictionLog(_url(path))
    log.open()
    ids: list[str] = []
    try:
        rows: list[tuple] = []
        for start_i in range(0, len(X), 4):
            idx = list(range(start_i, min(start_i + 4, len(X))))
            ts = start + span * start_i / len(X)
            rid = f"r{start_i:06d}"
            req = [f"{rid}-{i}" for i in range(len(idx))]
            ids += req
            rows += rows_for(
                req,
                rid,
                ts,
                "churn",
                model.version,
                "champion",
                [records[i] for i in idx],
                [pred[i] for i in idx],
                [float(proba[i, pos]) for i in idx],
                [dict(zip(classes, map(float, proba[i]), strict=True)) for i in idx],
                3.0,
            )
        log.write(rows).result(timeout=60)
    finally:
        log.close()
    return ids


def _url(log: Path | str) -> str:
    return log if isinstance(log, str) else f"sqlite:///{log}"


def give_feedback(path: Path | str, ids: list[str], labels: list[str]) -> None:
    log = PredictionLog(_url(path))
    log.open()
    try:
        log.feedback(list(zip(ids, labels, strict=True)))
    finally:
        log.close()


def monitor(project: Path, log: Path | str | None, *args: str, env: dict | None = None):
    extra = [f"deploy.serve.log.url='{_url(log)}'"] if log else []
    return mlctl(project, "monitor", "recipes/churn.yaml", *extra, *args, env=env, timeout=300)


def one_json(stdout: str) -> dict:
    """stdout holds exactly one JSON document and nothing else."""
    doc, end = json.JSONDecoder().raw_decode(stdout.strip())
    assert stdout.strip()[end:].strip() == ""
    return doc


@pytest.fixture(scope="module")
def same_log(project, model, unseen, tmp_path_factory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("same") / "predictions.db"
    return path, write_log(path, model, unseen)


# ------------------------------------------------------------------ (a) healthy


def test_same_distribution_is_healthy_exit_0(project, same_log) -> None:
    log, _ = same_log
    res = monitor(project, log, "--window", "24h", "--end", END, "--json")
    assert res.returncode == ExitCode.OK, res.stderr + res.stdout
    doc = one_json(res.stdout)
    assert doc["schema_version"] == 1 and doc["status"] == "healthy" and doc["reasons"] == []
    assert doc["source"]["kind"] == "log" and doc["source"]["rows"] == 1200
    assert doc["model"]["name"] == "churn" and doc["model"]["alias"] == "champion"
    assert doc["window"]["start"] == T0 and doc["window"]["end"] == T0 + DAY
    assert not doc["drift"]["dataset_drift"] and doc["drift"]["n_tested"] == len(INPUTS)
    assert {c["column"] for c in doc["prediction_drift"]["columns"]} == {"score", "prediction"}
    assert doc["performance"]["status"] == "not_enough_labels"  # no feedback yet
    assert doc["volume"]["status"] == "not_enough_history"
    latest = latest_path(project / ".mlctl", "churn")
    assert json.loads(latest.read_text())["drift"] == doc["drift"]


def test_terminal_summary_and_quiet(project, same_log) -> None:
    log, _ = same_log
    res = monitor(project, log, "--window", "24h", "--end", END, "--no-mlflow")
    assert res.returncode == 0, res.stderr
    assert "Monitoring: healthy" in res.stdout and "churn v1 (@champion)" in res.stdout
    quiet = monitor(project, log, "--window", "24h", "--end", END, "--quiet", "--no-mlflow")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


# ------------------------------------------------------------------ (b) shifted


def test_shifted_rows_need_attention_exit_3(project, model, unseen, tmp_path) -> None:
    shifted = unseen.assign(
        MonthlyCharges=unseen["MonthlyCharges"] * 1.5, Contract="Month-to-month"
    )
    log = tmp_path / "predictions.db"
    write_log(log, model, shifted)
    res = monitor(project, log, "--window", "24h", "--end", END, "--no-mlflow")
    assert res.returncode == ExitCode.NOT_READY, res.stderr + res.stdout
    assert "attention needed" in res.stdout and "Drifted columns" in res.stdout
    doc = json.loads(latest_path(project / ".mlctl", "churn").read_text())
    drifted = {c["column"] for c in doc["drift"]["columns"] if c["drifted"]}
    assert {"MonthlyCharges", "Contract"} <= drifted
    assert doc["status"] == "attention" and doc["reasons"]
    # A lower drift_share makes these two columns a dataset drift on their own.
    res = monitor(
        project,
        log,
        "--window",
        "24h",
        "--end",
        END,
        "--json",
        "--no-mlflow",
        "monitor.drift.drift_share=0.1",
    )
    doc = one_json(res.stdout)
    assert res.returncode == 3 and doc["drift"]["dataset_drift"]
    assert any(r.startswith("data drift:") and "MonthlyCharges" in r for r in doc["reasons"])


# ------------------------------------------------------------------ (c) labels


def test_feedback_labels_give_performance(project, model, unseen, tmp_path) -> None:
    log = tmp_path / "predictions.db"
    ids = write_log(log, model, unseen)
    give_feedback(log, ids[:600], unseen["Churn"].iloc[:600].tolist())
    res = monitor(project, log, "--window", "24h", "--end", END, "--json", "--no-mlflow")
    assert res.returncode in (0, 3), res.stderr
    perf = one_json(res.stdout)["performance"]
    assert perf["n_labelled"] == 600 and perf["n_evaluated"] == 600
    assert perf["status"] in ("ok", "degraded")
    roc = perf["metrics"]["roc_auc"]
    assert roc["trained"] is not None and 0.6 < roc["production"] <= 1.0
    assert perf["model_versions"] == {"1": 600}


# ------------------------------------------------------------------ (d) a file


def test_current_file_with_labels(project, unseen, tmp_path) -> None:
    batch = tmp_path / "new_batch.parquet"
    unseen.to_parquet(batch)
    res = monitor(
        project, None, "--current", str(batch), "--label-column", "Churn", "--json", "--no-mlflow"
    )
    assert res.returncode in (0, 3), res.stderr
    doc = one_json(res.stdout)
    assert doc["source"]["kind"] == "file" and doc["source"]["rows"] == len(unseen)
    assert doc["window"] is None and doc["volume"] is None
    assert doc["performance"]["n_evaluated"] == len(unseen)
    assert doc["prediction_drift"]["rows"] == len(unseen)
    shifted = tmp_path / "shifted.csv"
    unseen.assign(MonthlyCharges=unseen["MonthlyCharges"] * 1.5).to_csv(shifted, index=False)
    # Without prediction drift and labels nothing needs the model: it is not loaded.
    res = monitor(
        project,
        None,
        "monitor.prediction_drift.enabled=false",
        "--current",
        str(shifted),
        "--json",
        "--no-mlflow",
    )
    doc = one_json(res.stdout)
    assert any(c["column"] == "MonthlyCharges" and c["drifted"] for c in doc["drift"]["columns"])
    assert doc["performance"] is None and doc["prediction_drift"] is None
    assert doc["source"]["rows"] == doc["source"]["monitored_version_rows"] == len(unseen)


# ------------------------------------------------------------------ (e, f) JSON


def test_closed_window_twice_gives_the_same_document(project, same_log) -> None:
    log, _ = same_log
    args = ("--window", "24h", "--end", END, "--json", "--no-mlflow")
    first, second = monitor(project, log, *args), monitor(project, log, *args)
    assert first.returncode == second.returncode == 0, first.stderr
    a, b = one_json(first.stdout), one_json(second.stdout)
    assert first.stderr == ""  # --json: nothing but the document, not even progress
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b


# ------------------------------------------------------------------ (g) cannot run


def test_empty_window_missing_log_missing_profile_exit_7(project, same_log, tmp_path) -> None:
    log, _ = same_log
    empty = monitor(project, log, "--window", "1h", "--end", str(int(T0 - DAY)))
    assert empty.returncode == ExitCode.CANNOT_RUN == 7
    assert "no predictions of model 'churn' to monitor in 2024-04-29T23:00:00Z" in empty.stderr
    assert "Traceback" not in empty.stderr and empty.stdout == ""

    missing = monitor(project, tmp_path / "nope.db")
    assert missing.returncode == 7 and "no prediction log at" in missing.stderr
    assert not (tmp_path / "nope.db").exists()

    # A registered version whose run has no profile (trained before profiles existed).
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import resolve_workspace

    script = (
        "import sys\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "import pandas as pd\n"
        "from mlctl.tracking.registry import Registry\n"
        "from mlctl.tracking.runs import ParentRun\n"
        "from mlctl.tracking.workspace import resolve_workspace\n"
        "ws = resolve_workspace(sys.argv[1])\n"
        "X = pd.DataFrame({'tenure': [0.0, 1.0, 2.0, 3.0]})\n"
        "m = LogisticRegression().fit(X, ['No', 'No', 'Yes', 'Yes'])\n"
        "with ParentRun(ws, 'old', 'before-profiles', {}) as run:\n"
        "    uri = run.log_model(m, X.head(2))\n"
        "    Registry(ws).register(uri, 'churn', run.run_id, {'mlctl.gate': 'passed'})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(project / ".mlctl")],
        env=env_without_tracking(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    old = {k: os.environ.pop(k) for k in list(os.environ) if "TRACKING_URI" in k}
    try:
        version = Registry(resolve_workspace(project / ".mlctl")).versions("churn")[0].version
    finally:
        os.environ.update(old)
    res = monitor(project, log, "--model", f"churn/{version}", "--end", END)
    assert res.returncode == 7
    assert f"version {version} was trained before reference profiles existed" in res.stderr


# ------------------------------------------------------------------ (h) lock


def test_second_overlapping_run_exits_7_at_once(project, same_log) -> None:
    log, _ = same_log
    lock = latest_path(project / ".mlctl", "churn").with_name("monitor.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from mlctl.monitor.lock import MonitorLock\n"
            "with MonitorLock(sys.argv[1]):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(120)\n",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        res = monitor(project, log, "--end", END)
        assert res.returncode == 7, res.stderr
        assert f"another mlctl monitor run (pid {holder.pid}) holds the lock at {lock}" in (
            " ".join(res.stderr.split())
        )
        assert time.monotonic() - started < 30
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(10)
    # The kernel released the killed holder's lock: the next run goes ahead.
    res = monitor(project, log, "--window", "24h", "--end", END, "--quiet", "--no-mlflow")
    assert res.returncode == 0, res.stderr


def test_two_real_monitor_runs_at_once_one_waits_out(project, same_log) -> None:
    log, _ = same_log
    cmd = [
        sys.executable,
        "-m",
        "mlctl",
        "monitor",
        "recipes/churn.yaml",
        f"deploy.serve.log.url=sqlite:///{log}",
        "--window",
        "24h",
        "--end",
        END,
        "--quiet",
        "--no-mlflow",
    ]
    procs = [
        subprocess.Popen(
            cmd,
            cwd=project,
            env=env_without_tracking(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = sorted(p.wait(300) for p in procs)
    errs = " ".join(p.stderr.read() for p in procs)
    # Both finish cleanly: either one ran while the other found the lock (0 and 7), or
    # they did not overlap at all (0 and 0).
    assert codes in ([0, 7], [0, 0]), errs
    if codes == [0, 7]:
        assert "holds the lock" in errs


# ------------------------------------------------------------------ (i) alerts


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    mode = "ok"

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"body": json.loads(body), "type": self.headers["Content-Type"]})
        if type(self).mode == "hang":
            time.sleep(5)
        code = 500 if type(self).mode == "fail" else 204
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "mode": "ok"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook?token=secret", handler
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_and_command_alerts(project, same_log, hook, tmp_path) -> None:
    log, _ = same_log
    url, handler = hook
    seen = tmp_path / "seen.txt"
    script = tmp_path / "alert.py"
    script.write_text(
        "import os, json, pathlib\n"
        "doc = json.loads(pathlib.Path(os.environ['MLCTL_MONITOR_RESULT']).read_text())\n"
        f"pathlib.Path({str(seen)!r}).write_text(os.environ['MLCTL_MONITOR_STATUS'] + ' ' + doc['status'])\n"
    )
    alerts = [
        f"monitor.alerts.webhook='{url}'",
        f"monitor.alerts.command=['{sys.executable}','{script}']",
        "monitor.alerts.when=always",
    ]
    res = monitor(project, log, "--window", "24h", "--end", END, "--json", "--no-mlflow", *alerts)
    assert res.returncode == 0, res.stderr
    doc = one_json(res.stdout)
    assert [a["kind"] for a in doc["alerts"]] == ["webhook", "command"]
    assert all(a["ok"] for a in doc["alerts"]), doc["alerts"]
    assert doc["alerts"][0]["target"] == url.split("?")[0]  # no token in the result
    assert handler.received[0]["type"] == "application/json"
    body = handler.received[0]["body"]
    assert body["status"] == "healthy" and body["model"]["version"] == 1
    assert body["window"]["end"] == T0 + DAY and body["reasons"] == []
    assert seen.read_text() == "healthy healthy"

    # Only when attention is needed, by default: nothing sent now.
    handler.received.clear()
    res = monitor(
        project, log, "--window", "24h", "--end", END, "--json", "--no-mlflow", *alerts[:2]
    )
    assert res.returncode == 0 and one_json(res.stdout)["alerts"] == [] and not handler.received


def test_failing_alerts_are_recorded_never_fatal(project, same_log, hook, tmp_path) -> None:
    log, _ = same_log
    url, handler = hook
    common = (
        "--window",
        "24h",
        "--end",
        END,
        "--json",
        "--no-mlflow",
        "monitor.alerts.when=always",
    )
    handler.mode = "fail"
    res = monitor(
        project,
        log,
        *common,
        f"monitor.alerts.webhook='{url}'",
        f"monitor.alerts.command=['{sys.executable}','-c','import sys; sys.exit(3)']",
    )
    assert res.returncode == 0, res.stderr
    webhook, command = one_json(res.stdout)["alerts"]
    assert not webhook["ok"] and webhook["status"] == 500 and "HTTP 500" in webhook["detail"]
    assert not command["ok"] and command["status"] == 3
    assert "warning: alert webhook" in res.stderr and "HTTP 500" in res.stderr

    handler.mode = "hang"
    started = time.monotonic()
    res = monitor(
        project, log, *common, f"monitor.alerts.webhook='{url}'", "monitor.alerts.timeout_seconds=1"
    )
    assert res.returncode == 0, res.stderr
    (webhook,) = one_json(res.stdout)["alerts"]
    assert not webhook["ok"] and webhook["detail"] == "no answer within 1 s"
    assert time.monotonic() - started < 60

    res = monitor(project, log, *common, "monitor.alerts.webhook='http://127.0.0.1:9/nothing'")
    (webhook,) = one_json(res.stdout)["alerts"]
    assert res.returncode == 0 and not webhook["ok"] and "cannot reach it" in webhook["detail"]


# ------------------------------------------------------------------ (j) MLflow


def test_monitoring_run_in_mlflow(project, same_log) -> None:
    from mlflow import MlflowClient

    log, _ = same_log
    res = monitor(project, log, "--window", "24h", "--end", END, "--quiet")
    assert res.returncode == 0, res.stderr
    uri = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name("churn")
    runs = client.search_runs(
        [exp.experiment_id], "tags.`mlctl.kind` = 'monitoring'", order_by=["start_time DESC"]
    )
    assert runs, "no monitoring run"
    run = runs[0]
    assert run.data.tags["mlctl.model_name"] == "churn"
    assert run.data.tags["mlctl.model_version"] == "1"
    assert run.data.tags["mlctl.monitoring.status"] == "healthy"
    assert run.data.metrics["rows"] == 1200 and run.data.metrics["attention"] == 0
    assert "drift_share" in run.data.metrics
    files = {a.path for a in client.list_artifacts(run.info.run_id, "monitoring")}
    assert "monitoring/result.json" in files
    version = client.get_model_version("churn", "1")
    assert version.tags["mlctl.monitoring.last_run_id"] == run.info.run_id
    assert version.tags["mlctl.monitoring.last_status"] == "healthy"


# ------------------------------------------------------------------ report


def test_report_is_written_and_logged(project, same_log, tmp_path) -> None:
    from mlflow import MlflowClient

    log, _ = same_log
    report = tmp_path / "reports" / "churn.html"
    res = monitor(project, log, "--window", "24h", "--end", END, "--report", str(report))
    assert res.returncode == 0, res.stderr
    assert report.is_file() and "<html" in report.read_text().lower()
    assert str(report) in " ".join(res.stdout.split()) or report.name in res.stdout
    uri = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id = client.get_model_version("churn", "1").tags["mlctl.monitoring.last_run_id"]
    files = {a.path for a in client.list_artifacts(run_id, "monitoring")}
    assert {"monitoring/result.json", "monitoring/report.html"} <= files


# ------------------------------------------------------------------ retrain


WEAK = [
    "features.numeric=[tenure]",
    "features.categorical=[gender]",
    "features.derived=[]",
    "evaluation.segments=[]",  # the recipe's segments name a column dropped here
    "~monitor.drift.columns",  # the recipe's override names a column dropped here
]


def test_retrain_promotes_only_a_winner(tmp_path, churn_project, unseen) -> None:
    """A weak champion (two features); --retrain with the full recipe registers a
    better model, compares both on the window's labelled rows and promotes it; a
    second --retrain trains the same model again: it does not beat the new champion,
    so it stays challenger; with too few labels nothing is compared."""
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import resolve_workspace

    root = churn_project(tmp_path / "p", 900)
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, *WEAK, "--promote", "--yes")
    assert res.returncode == 0, res.stderr
    old = {k: os.environ.pop(k) for k in list(os.environ) if "TRACKING_URI" in k}
    try:
        registry = Registry(resolve_workspace(root / ".mlctl"))
        weak = registry.load_reference("churn@champion")
    finally:
        os.environ.update(old)
    log = tmp_path / "predictions.db"
    ids = write_log(log, weak, unseen)
    give_feedback(log, ids, unseen["Churn"].tolist())

    args = ("--window", "24h", "--end", END, "--json", "--no-mlflow", *FAST)
    few = monitor(root, log, *args, "--retrain", "monitor.performance.min_labels=5000")
    assert few.returncode in (0, 3), few.stderr
    block = one_json(few.stdout)["retrain"]
    assert block["trigger"] == "--retrain" and block["gate"] == "passed" and block["version"] == 2
    assert block["outcome"] == "stays_challenger" and not block["promoted"]
    assert block["reason"].startswith("not enough labels to compare: 1200 of 5000 needed")

    res = monitor(root, log, *args, "--retrain")
    assert res.returncode in (0, 3), res.stderr
    block = one_json(res.stdout)["retrain"]
    cmp = block["comparison"]
    assert block["outcome"] == "promoted" and block["promoted"] and block["version"] == 3
    assert cmp["metric"] == "roc_auc" and cmp["rows"] == 1200 and cmp["beats"]
    assert cmp["challenger"] > cmp["champion"] and cmp["champion_version"] == 1
    os.environ.pop("MLCTL_TRACKING_URI", None)
    try:
        info = registry.version("churn", "champion")
    finally:
        os.environ.update(old)
    assert info.version == 3 and "beats champion v1" in info.tags["mlctl.promoted_reason"]

    again = monitor(root, log, *args, "--retrain", "--model", "churn/1")
    block = one_json(again.stdout)["retrain"]
    assert block["outcome"] == "stays_challenger" and block["version"] == 4
    assert "does not beat champion v3" in block["reason"]


def test_before_any_training_is_a_clear_error(tmp_path, churn_project) -> None:
    root = churn_project(tmp_path / "fresh", 900)
    res = mlctl(root, "monitor", "recipes/churn.yaml")
    assert res.returncode == ExitCode.BAD_INPUT, res.stderr
    assert "no tracking database at" in res.stderr and "mlctl run RECIPE" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


# ------------------------------------------------------------------ PostgreSQL


def test_a_postgresql_log(project, model, unseen) -> None:
    """The same checks on a PostgreSQL log (a schema of its own, dropped afterwards)."""
    import uuid

    import psycopg
    from serve_helpers import PG_ADMIN, pg_url, require

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_monitor_run_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = pg_url(schema)
        ids = write_log(url, model, unseen)
        give_feedback(url, ids[:300], unseen["Churn"].iloc[:300].tolist())
        res = monitor(project, url, "--window", "24h", "--end", END, "--json", "--no-mlflow")
        assert res.returncode == 0, res.stderr
        doc = one_json(res.stdout)
        assert doc["source"]["kind"] == "log" and doc["source"]["rows"] == len(unseen)
        assert doc["source"]["location"].startswith("postgresql://")
        assert doc["performance"]["n_evaluated"] == 300
        assert doc["volume"]["status"] == "not_enough_history"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_an_unreachable_postgresql_log_exits_7_without_the_password(project) -> None:
    res = monitor(project, "postgresql://mon:s3cret@127.0.0.1:1/nowhere", "--end", END)
    assert res.returncode == 7, res.stderr
    assert "cannot connect to the PostgreSQL prediction log at 127.0.0.1:1" in res.stderr
    assert "s3cret" not in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------------ issues 13 and 19


def test_missing_columns_in_a_current_file_drift_on_the_rest(project, unseen, tmp_path) -> None:
    """Issue 13: --current without some input columns: data drift on the columns that
    are there, prediction drift and performance skipped with a note, exit 0/3."""
    batch = tmp_path / "no_tenure.csv"
    unseen.drop(columns=["tenure", "Contract"]).to_csv(batch, index=False)
    res = monitor(
        project, None, "--current", str(batch), "--label-column", "Churn", "--json", "--no-mlflow"
    )
    assert res.returncode in (ExitCode.OK, ExitCode.NOT_READY), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    doc = one_json(res.stdout)
    status = {c["column"]: c["status"] for c in doc["drift"]["columns"]}
    assert status["tenure"] == status["Contract"] == "missing_column"
    assert doc["drift"]["n_tested"] == len(INPUTS) - 2
    assert doc["prediction_drift"] is None and doc["performance"] is None
    note = next(n for n in doc["notes"] if "missing_column" in n or "lacks" in n)
    assert "tenure" in note and "Contract" in note and "not scored" in note


def test_three_logged_rows_are_not_enough_data_exit_0(project, model, unseen, tmp_path) -> None:
    """Issue 13: 3 logged rows are too few to test: no column drifts, status
    not_enough_data, exit 0 (nothing wrong was seen)."""
    log = tmp_path / "predictions.db"
    write_log(log, model, unseen.head(3))
    res = monitor(project, log, "--window", "24h", "--end", END, "--json", "--no-mlflow")
    assert res.returncode == ExitCode.OK, res.stderr + res.stdout
    doc = one_json(res.stdout)
    assert doc["status"] == "not_enough_data" and doc["reasons"] == []
    assert doc["drift"]["n_drifted"] == 0 and doc["drift"]["status"] == "not_enough_data"
    assert {c["status"] for c in doc["drift"]["columns"]} == {"not_enough_data"}
    assert all(not c["drifted"] for c in doc["prediction_drift"]["columns"])
    assert any("not enough data" in n and "min_rows" in n for n in doc["notes"])
    text = monitor(project, log, "--window", "24h", "--end", END, "--no-mlflow")
    assert text.returncode == 0 and "not enough data" in text.stdout


def test_volume_counts_the_rows_logged_just_now(project, model, unseen, tmp_path) -> None:
    """Issue 19 item 4: right after 1,200 rows were logged, the volume line said
    0.0 predictions/hour in the last 6 h (the hour still filling up was left out)."""
    log = tmp_path / "predictions.db"
    now = time.time()
    write_log(log, model, unseen, start=now - 120, span=60)
    res = monitor(project, log, "--json", "--no-mlflow")
    assert res.returncode == ExitCode.OK, res.stderr + res.stdout
    vol = one_json(res.stdout)["volume"]
    assert vol["recent"]["total"] == len(unseen)
    assert vol["recent"]["per_hour"] == pytest.approx(len(unseen) / 6)
    assert vol["status"] == "not_enough_history"
    assert f"{len(unseen) / 6:.1f} predictions/hour in the last 6 h" in vol["message"]
