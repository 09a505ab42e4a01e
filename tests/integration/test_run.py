"""End to end: the real CLI on a small slice of the real Telco table, a real SQLite
MLflow store, then the registered model loaded back through ``mlflow.pyfunc``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_forks import run_mlctl

from mlctl.tracking.runs import use_store

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
FAST = [
    "models=fast",
    "evaluation.importance_repeats=1",
    "tuning.n_jobs=2",
    "readiness.cv_std_k=0.5",
]
# For the tests about the registry and the gate, not about training: no importance and
# no worker processes (serve_helpers.FAST; a run costs ~2 s less wall and ~3 s less CPU).
# test_run_registers_a_loadable_model keeps FAST, so the parallel path stays covered.
QUICK = [
    "models=fast",
    "evaluation.importance_repeats=0",
    "tuning.n_jobs=1",
    "readiness.cv_std_k=0.5",
]


def mlctl(cwd: Path, *args: str, env: dict[str, str] | None = None, fresh: bool = False):
    """``python -m mlctl *args``: forked from this worker's pre-imported helper
    (``cli_forks.run_mlctl``), or on a new interpreter (``fresh``)."""
    full_env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    full_env.update(env or {})
    if not fresh:
        return run_mlctl(cwd, *args, env=full_env, timeout=600)
    return subprocess.run(
        [sys.executable, "-m", "mlctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=full_env,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory, churn_project) -> Path:
    """A copy of the project layout with the first 900 rows of the Telco table."""
    return churn_project(tmp_path_factory.mktemp("project"), 900)


def runs(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("select run_uuid, name, status from runs").fetchall()


def test_run_registers_a_loadable_model(project: Path) -> None:
    res = mlctl(project, "run", "recipes/churn.yaml", *FAST, "--json", fresh=True)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # stdout holds only the JSON document
    assert doc["status"] == "ready"
    assert doc["model"] == {
        "name": "churn",
        "version": 1,
        "aliases": ["challenger"],
        "uri": doc["model"]["uri"],
    }
    assert doc["test_metrics"]["roc_auc"] > 0.75
    assert {row["candidate"] for row in doc["leaderboard"]} == {"baseline", "logreg"}
    assert doc["gate"]["passed"] is True
    assert {c["name"] for c in doc["gate"]["checks"]} >= {
        "test min_roc_auc",
        "beats baseline",
        "not worse than champion",
    }
    assert Path(doc["report"]["html"]).is_file()
    html = Path(doc["report"]["html"]).read_text()
    assert "data:image/png;base64" in html

    import mlflow

    uri = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    parent = client.get_run(doc["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["mlctl.recipe_hash"] == doc["recipe_hash"]
    assert len(parent.data.tags["mlctl.data_hash"]) == 64
    children = client.search_runs(
        [doc["experiment_id"]], f"tags.mlflow.parentRunId = '{doc['run_id']}'"
    )
    assert {c.info.run_name for c in children} == {"baseline", "logreg"}
    assert all("cv_roc_auc_mean" in c.data.metrics for c in children)
    artifacts = {a.path for a in client.list_artifacts(doc["run_id"])}
    assert {"recipe.yaml", "report"} <= artifacts
    # The data is an MLflow dataset input of the run: both splits, their schema with the
    # target, their sizes and a digest from the data files' SHA-256.
    inputs = {
        i.tags[0].value: i.dataset for i in parent.inputs.dataset_inputs if i.tags
    }  # context -> dataset
    assert set(inputs) == {"training", "evaluation"}
    digest = parent.data.tags["mlctl.data_hash"][:16]
    assert inputs["training"].digest == f"{digest}-training"
    assert inputs["training"].name == "churn-training"
    columns = {c["name"] for c in json.loads(inputs["training"].schema)["mlflow_colspec"]}
    assert {"tenure", "Contract", "Churn"} <= columns
    train_rows = json.loads(inputs["training"].profile)["num_rows"]
    test_rows = json.loads(inputs["evaluation"].profile)["num_rows"]
    assert train_rows + test_rows == doc["data"]["rows"] and test_rows > 0
    # The version's description says what won, how it scored, the gate and the data.
    described = client.get_model_version("churn", "1").description
    assert described.startswith("logreg (logistic_regression), chosen on cross-validated roc_auc")
    assert "Readiness gate: passed" in described and doc["run_id"] in described
    # The test metrics are one tag a person reads in the UI, not one tag per metric.
    version_tags = client.get_model_version("churn", "1").tags
    assert not [k for k in version_tags if k.startswith("mlctl.metric.")]
    tagged = json.loads(version_tags["mlctl.test_metrics"])
    assert tagged["roc_auc"] == pytest.approx(doc["test_metrics"]["roc_auc"], rel=1e-5)
    assert set(tagged) == {k for k, v in doc["test_metrics"].items() if v is not None}

    restore = use_store(uri)  # MLflow's fluent API, for this test only
    try:
        model = mlflow.pyfunc.load_model("models:/churn@challenger")
    finally:
        restore()
    raw = pd.read_csv(TELCO).tail(50)
    raw["TotalCharges"] = pd.to_numeric(raw["TotalCharges"], errors="coerce")
    preds = model.predict(raw.drop(columns=["Churn", "customerID"]))
    assert set(preds) <= {"Yes", "No"} and len(preds) == 50
    # Unknown categories never crash the pipeline.
    odd = raw.drop(columns=["Churn", "customerID"]).head(3).copy()
    odd["Contract"] = "Ten year"
    odd["PaymentMethod"] = "Barter"
    assert len(model.predict(odd)) == 3


def test_promote_rollback_and_list(project: Path) -> None:
    first = mlctl(project, "run", "recipes/churn.yaml", *QUICK, "--promote", "--yes", "--json")
    assert first.returncode == 0, first.stderr
    v_first = json.loads(first.stdout)["model"]
    assert v_first["aliases"] == ["champion"]
    second = mlctl(
        project,
        "run",
        "recipes/churn.yaml",
        *QUICK,
        "split.seed=7",
        "readiness.champion_tolerance=1.0",  # registered whatever the champion scores
        "--json",
    )
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    champion_check = next(
        c for c in doc["gate"]["checks"] if c["name"] == "not worse than champion"
    )
    assert f"champion v{v_first['version']}" in champion_check["detail"]

    listed = mlctl(project, "models", "list", "churn", "--json")
    assert listed.returncode == 0, listed.stderr
    versions = {v["version"]: v for v in json.loads(listed.stdout)}
    assert "champion" in versions[v_first["version"]]["aliases"]

    other = max(v for v in versions if v != v_first["version"])
    promoted = mlctl(project, "models", "promote", "churn", str(other), "--yes")
    assert promoted.returncode == 0, promoted.stderr
    assert "now champion" in promoted.stderr
    back = mlctl(project, "models", "rollback", "churn", "--yes", "--reason", "bad canary")
    assert back.returncode == 0, back.stderr
    described = json.loads(mlctl(project, "models", "describe", "churn", "--json").stdout)
    assert described["version"] == v_first["version"]
    assert "bad canary" in described["tags"]["mlctl.restored_reason"]

    missing = mlctl(project, "models", "promote", "churn", "99", "--yes")
    assert missing.returncode == 4
    assert "no version or alias '99'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_not_ready_registers_nothing(project: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    res = mlctl(
        project,
        "run",
        "recipes/churn.yaml",
        *QUICK,
        "readiness.thresholds.min_roc_auc=0.999",
        "--workspace",
        str(ws),
    )
    assert res.returncode == 3, res.stderr
    assert "NOT READY" in res.stdout
    assert "test min_roc_auc" in res.stdout
    assert all(status == "FINISHED" for _, _, status in runs(ws / "mlflow.db"))
    with sqlite3.connect(ws / "mlflow.db") as con:
        assert con.execute("select count(*) from model_versions").fetchone()[0] == 0


def test_validate_and_show(project: Path) -> None:
    res = mlctl(project, "validate", "recipes/churn.yaml", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["valid"] is True
    assert doc["data"]["rows"] == 900
    assert doc["data"]["positive_class"] == "Yes"
    shown = mlctl(project, "show", "recipes/churn.yaml", "models=fast", "split.seed=7")
    assert shown.returncode == 0, shown.stderr
    assert "seed: 7" in shown.stdout
    assert "candidates:\n    logreg:" in shown.stdout
    assert not (project / ".mlctl-untouched").exists()


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from mlctl.cli.main import cli\n"
        "try:\n    cli(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('mlflow', 'pandas', 'sklearn', 'hydra') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_terminated_run_is_marked_killed(project: Path, tmp_path: Path) -> None:
    import signal
    import time

    ws = tmp_path / "ws"
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlctl", "run", "recipes/churn.yaml", "--workspace", str(ws)],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline:  # wait until the MLflow run exists
        line = proc.stderr.readline()
        seen += line
        if "MLflow run" in line or proc.poll() is not None:
            break
    assert "MLflow run" in seen, seen
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    statuses = {status for _, _, status in runs(ws / "mlflow.db")}
    assert statuses == {"KILLED"}
    with sqlite3.connect(ws / "mlflow.db") as con:
        assert con.execute("select count(*) from model_versions").fetchone()[0] == 0


def test_optuna_tuning_logs_trials(project: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    res = mlctl(
        project,
        "run",
        "recipes/churn.yaml",
        *FAST,
        "tuning=optuna",
        "tuning.n_trials=4",
        "--workspace",
        str(ws),
        "--json",
    )
    assert res.returncode in (0, 3), res.stderr
    doc = json.loads(res.stdout)
    logreg = next(row for row in doc["leaderboard"] if row["candidate"] == "logreg")
    assert logreg["settings_tried"] == 4
    assert 0.1 <= logreg["best_params"]["C"] <= 10.0  # conf/models/fast.yaml's choices

    import mlflow

    uri = f"sqlite:///{ws / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    (child,) = client.search_runs(
        [doc["experiment_id"]],
        f"tags.mlflow.parentRunId = '{doc['run_id']}' and attributes.run_name = 'logreg'",
    )
    assert "trials.json" in {a.path for a in client.list_artifacts(child.info.run_id)}
    history = client.get_metric_history(child.info.run_id, "trial_cv_roc_auc")
    assert len(history) >= 1
