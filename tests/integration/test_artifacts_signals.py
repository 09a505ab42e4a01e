"""Regression tests of issue 13: a tampered model is never loaded by predict or monitor;
an interrupted run leaves the registry exactly as it was; concurrent first runs all
register; SIGTERM to the whole process group ends the run as KILLED with exit 130.

Real ``python -m mlctl`` processes, a real SQLite MLflow store, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from signal_helpers import (
    FAST,
    clean_env,
    interrupted,
    mlctl,
    registry_state,
    run_statuses,
    version_folder,
)

pytestmark = pytest.mark.integration

TELCO = Path(__file__).resolve().parents[2] / "data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"
MODEL_REJECTED = 8  # mlctl.errors.ExitCode.MODEL_REJECTED
INTERRUPTED = 130


@pytest.fixture(scope="module")
def project(tmp_path_factory, churn_project) -> Path:
    """Champion v1 and challenger v2 of ``churn`` in the project's .mlctl workspace."""
    root = churn_project(tmp_path_factory.mktemp("project"), 900)
    first = mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "-y", "-q")
    assert first.returncode == 0, first.stderr
    second = mlctl(root, "run", "recipes/churn.yaml", *FAST, "split.seed=7", "-q")
    assert second.returncode == 0, second.stderr
    raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    raw.iloc[900:1000].to_csv(root / "unseen.csv", index=False)
    return root


def flip_a_byte(path: Path) -> bytes:
    original = path.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return original


def test_predict_refuses_a_tampered_non_champion_version(project: Path) -> None:
    skops = version_folder(project / ".mlctl" / "mlflow.db", "churn", 2) / "model.skops"
    original = flip_a_byte(skops)
    try:
        res = mlctl(
            project,
            "predict",
            "recipes/churn.yaml",
            "--input",
            "unseen.csv",
            "--output",
            "tampered.csv",
            "--model",
            "churn/2",
        )
    finally:
        skops.write_bytes(original)
    assert res.returncode == MODEL_REJECTED, res.stderr
    assert "Traceback" not in res.stderr
    assert "churn version 2" in res.stderr and "model.skops" in res.stderr
    assert "expected" in res.stderr and "found" in res.stderr
    assert not (project / "tampered.csv").exists()


def test_monitor_refuses_a_tampered_version(project: Path) -> None:
    skops = version_folder(project / ".mlctl" / "mlflow.db", "churn", 2) / "model.skops"
    original = flip_a_byte(skops)
    try:
        res = mlctl(
            project,
            "monitor",
            "recipes/churn.yaml",
            "--current",
            "unseen.csv",
            "--label-column",
            "Churn",
            "--model",
            "churn/2",
            "--no-mlflow",
        )
    finally:
        skops.write_bytes(original)
    assert res.returncode == MODEL_REJECTED, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert "churn version 2" in res.stderr and "model.skops" in res.stderr


def test_sigint_while_registering_keeps_the_existing_challenger(project, tmp_path) -> None:
    ws = tmp_path / "ws"
    first = mlctl(project, "run", "recipes/churn.yaml", *FAST, "--workspace", str(ws), "-q")
    assert first.returncode == 0, first.stderr
    before = registry_state(ws / "mlflow.db")
    assert [a[1:] for a in before["aliases"]] == [("challenger", 1)]
    args = ["run", "recipes/churn.yaml", *FAST, "split.seed=3", "--workspace", str(ws), "-q"]
    stopped = interrupted(project, args, "register", signal.SIGINT, tmp_path / "paused")
    assert stopped.paused, stopped.stderr
    assert stopped.returncode == INTERRUPTED, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert registry_state(ws / "mlflow.db") == before
    assert run_statuses(ws / "mlflow.db") == ["FINISHED", "KILLED"]


def test_concurrent_first_runs_on_an_empty_workspace_all_register(project, tmp_path) -> None:
    ws = tmp_path / "empty"
    cmd = [sys.executable, "-m", "mlctl", "run", "recipes/churn.yaml", *FAST]
    procs = [
        subprocess.Popen(
            [*cmd, f"split.seed={seed}", "--workspace", str(ws), "-q"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        for seed in (1, 2, 3)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0, 0, 0], results
    versions = registry_state(ws / "mlflow.db")["versions"]
    assert sorted(v for _, v in versions) == [1, 2, 3]


def test_sigterm_to_the_process_group_during_cv_is_a_clean_kill(project, tmp_path) -> None:
    ws = tmp_path / "ws"
    # Worker processes (tuning.n_jobs=2) and the progress display's queue process: the
    # signal reaches them all, as from systemd or a cancelled CI job.
    fast = [o for o in FAST if not o.startswith("tuning.n_jobs")]
    args = ["run", "recipes/churn.yaml", *fast, "tuning.n_jobs=2", "--workspace", str(ws)]
    stopped = interrupted(project, args, "cv", signal.SIGTERM, tmp_path / "paused")
    assert stopped.paused, stopped.stderr
    assert stopped.returncode == INTERRUPTED, stopped.stderr
    assert "Traceback" not in stopped.stderr and "unexpected error" not in stopped.stderr
    assert run_statuses(ws / "mlflow.db") == ["KILLED"]
    assert registry_state(ws / "mlflow.db")["versions"] == []
