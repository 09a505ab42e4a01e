"""Sweeps (``mlctl run -m``) through Hydra's real sweepers and launchers, on a small
slice of the Telco table and a real SQLite MLflow store.

Bad sweep overrides (unknown key, bad value, unknown launcher, bad syntax) are
broken-recipe fixtures (tests/fixtures/broken_recipes/sweep_*.yaml).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

FAST = [
    "models=fast",
    "evaluation.importance_repeats=0",
    "evaluation.shap=off",
    "readiness.cv_std_k=0.5",
]
LENIENT = [*FAST, "readiness=lenient"]


def mlctl(cwd: Path, *args: str):
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    return subprocess.run(
        [sys.executable, "-m", "mlctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def sweep_json(project: Path, *args: str):
    """``mlctl run -m`` with the lenient quick settings; (process, its JSON document)."""
    res = mlctl(project, "run", "recipes/churn.yaml", "-m", *args, *LENIENT, "--json")
    return res, json.loads(res.stdout) if res.stdout.strip() else None


def query(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql, params).fetchall()


def tags_of(db: Path, run_id: str) -> dict[str, str]:
    return dict(query(db, "select key, value from tags where run_uuid = ?", run_id))


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory, churn_project) -> tuple[Path, dict]:
    """A 2 × 3 sweep on the joblib launcher; half the jobs get an unreachable gate."""
    project = churn_project(tmp_path_factory.mktemp("sweep"), 900)
    res = mlctl(
        project,
        "run",
        "recipes/churn.yaml",
        "-m",
        "hydra/launcher=joblib",
        "readiness.thresholds.min_roc_auc=0.5,0.999",
        "split.seed=1,2,3",
        *FAST,
        "--json",
    )
    assert res.returncode == 0, res.stderr
    return project, json.loads(res.stdout)


def test_joblib_sweep_ranks_six_jobs_and_registers_the_best_passing_one(joblib_sweep) -> None:
    project, doc = joblib_sweep
    assert doc["kind"] == "sweep" and doc["status"] == "ready"
    assert (doc["sweeper"], doc["launcher"], doc["planned_jobs"]) == ("basic", "joblib", 6)
    jobs = doc["jobs"]
    assert sorted(j["job"] for j in jobs) == list(range(6))
    assert [j["rank"] for j in jobs] == [1, 2, 3, 4, 5, 6]
    cvs = [j["cv_mean"] for j in jobs]
    assert cvs == sorted(cvs, reverse=True)  # roc_auc: higher is better
    # The unreachable threshold fails the gate of exactly the three jobs that carry it.
    failing = {j["job"] for j in jobs if j["status"] == "not_ready"}
    assert {
        j["job"] for j in jobs if "++readiness.thresholds.min_roc_auc=0.999" in j["overrides"]
    } == failing
    assert len(failing) == 3 and all(
        j["status"] == "ready" for j in jobs if j["job"] not in failing
    )
    best = next(j for j in jobs if j["status"] == "ready")
    assert doc["best_job"] == best["job"]
    assert doc["model"]["version"] == 1 and doc["model"]["aliases"] == ["challenger"]
    # Two launcher processes shared the two cores.
    assert len({j["pid"] for j in jobs}) == min(2, os.cpu_count() or 1)
    assert all(j["pid"] != os.getpid() for j in jobs)

    db = project / ".mlctl" / "mlflow.db"
    # Only the best passing job was registered, from its own run.
    versions = query(db, "select version, run_id from model_versions where name = 'churn'")
    assert versions == [(1, best["run_id"])]
    # One sweep run; every job's run is its child and carries the sweep id.
    sweep_run = doc["run_id"]
    assert tags_of(db, sweep_run)["mlctl.kind"] == "sweep"
    assert tags_of(db, sweep_run)["mlctl.best_run_id"] == best["run_id"]
    status = dict(query(db, "select run_uuid, status from runs"))
    assert status[sweep_run] == "FINISHED"
    for job in jobs:
        tags = tags_of(db, job["run_id"])
        assert tags["mlflow.parentRunId"] == sweep_run
        assert tags["mlctl.sweep_id"] == doc["sweep_id"]
        assert tags["mlctl.sweep_job"] == str(job["job"])
        assert tags["mlflow.runName"] == f"{doc['sweep_id']}-job{job['job']}"
        assert status[job["run_id"]] == "FINISHED"
    assert tags_of(db, best["run_id"])["mlctl.registered_version"] == "1"
    # Each job left its Hydra output folder and record in the sweep folder.
    for job in jobs:
        folder = Path(job["output_dir"])
        assert folder.parent == Path(doc["sweep_dir"])
        assert (folder / ".hydra" / "overrides.yaml").is_file()


def test_sweep_table_in_the_terminal(tmp_path: Path, churn_project) -> None:
    project = churn_project(tmp_path, 600)
    res = mlctl(
        project,
        "run",
        "recipes/churn.yaml",
        "-m",
        "split.seed=1,2",
        "data.expectations.min_rows=500,99999",
        *LENIENT,
    )
    # A job that fails (here: too few rows for its expectation) is reported and does
    # not stop the others; the sweep still registers the best passing job.
    assert res.returncode == 0, res.stderr
    assert "jobs ranked by cv roc_auc" in res.stdout
    assert res.stdout.count("✗ job #") == 2
    assert "fewer than data.expectations.min_rows (99999)" in res.stdout
    assert "registered churn version 1 (challenger) from job #" in res.stdout
    assert "every job: " in res.stdout and "models=fast" in res.stdout
    assert "4/4 jobs" in res.stderr  # the progress bar counted every job


def test_sweep_that_no_job_passes_exits_not_ready(tmp_path: Path, churn_project) -> None:
    project = churn_project(tmp_path, 600)
    res, doc = sweep_json(project, "split.seed=1,2", "readiness.thresholds.min_roc_auc=0.999")
    assert res.returncode == 3, res.stderr
    assert doc["status"] == "not_ready" and doc["model"]["version"] is None
    assert [j["status"] for j in doc["jobs"]] == ["not_ready", "not_ready"]
    db = project / ".mlctl" / "mlflow.db"
    assert query(db, "select count(*) from model_versions") == [(0,)]


def test_sweep_where_every_job_fails_exits_1(tmp_path: Path, churn_project) -> None:
    project = churn_project(tmp_path, 600)
    res, doc = sweep_json(project, "data.expectations.min_rows=99998,99999")
    assert res.returncode == 1, res.stderr
    assert doc["status"] == "failed"
    assert all("fewer than" in j["error"] for j in doc["jobs"])


def test_optuna_sweeper_from_the_command_line(tmp_path: Path, churn_project) -> None:
    """``hydra/sweeper=optuna`` (the hydra-optuna-sweeper plugin, installed by the README's
    test command) searches recipe keys; mlctl sets the direction from the metric."""
    project = churn_project(tmp_path, 600)
    res = mlctl(
        project,
        "run",
        "recipes/churn.yaml",
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.seed=0",
        "split.seed=range(1,6)",
        "evaluation.threshold=interval(0.3,0.6)",
        *LENIENT,
        "--json",
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["sweeper"], doc["planned_jobs"], len(doc["jobs"])) == ("optuna", 3, 3)
    assert doc["objective"]["direction"] == "maximize"
    for job in doc["jobs"]:
        keys = {o.partition("=")[0].lstrip("+") for o in job["overrides"]}
        assert {"split.seed", "evaluation.threshold"} <= keys
    # Optuna's own summary agrees with mlctl's ranking.
    results = yaml.safe_load((Path(doc["sweep_dir"]) / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(doc["jobs"][0]["cv_mean"])
    hydra_cfg = Path(doc["jobs"][0]["output_dir"]) / ".hydra" / "hydra.yaml"
    assert yaml.safe_load(hydra_cfg.read_text())["hydra"]["sweeper"]["direction"] == "maximize"


def test_submitit_local_launcher_runs_jobs_in_their_own_processes(
    tmp_path: Path, churn_project
) -> None:
    """The submitit launcher (the one behind hydra/launcher=slurm) pickles the task to
    separate processes and collects results from files, as it would on a cluster."""
    project = churn_project(tmp_path, 600)
    res = mlctl(
        project,
        "run",
        "recipes/churn.yaml",
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "split.seed=1,2",
        *LENIENT,
        "--json",
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["launcher"] == "submitit_local"
    assert [j["status"] for j in doc["jobs"]] == ["ready", "ready"]
    assert len({j["pid"] for j in doc["jobs"]}) == 2
    assert doc["model"]["version"] == 1


def test_cluster_launcher_configs_compose() -> None:
    """conf/hydra/launcher/slurm.yaml composes into the submitit SLURM launcher with
    its settings (no cluster needed); ray_cluster.yaml extends the Ray plugin's config."""
    from mlctl.recipe.loader import conf_dirs
    from mlctl.sweep.launch import _hydra_setup

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "churn.yaml"
    setup = _hydra_setup(recipe, conf_dirs(recipe), ["hydra/launcher=slurm"])
    assert (setup.sweeper, setup.launcher) == ("basic", "slurm")
    assert setup.launcher_target.endswith("submitit_launcher.SlurmLauncher")
    conf = recipe.parents[1] / "conf" / "hydra" / "launcher"
    slurm = yaml.safe_load((conf / "slurm.yaml").read_text())
    assert slurm["defaults"] == ["submitit_slurm"] and slurm["timeout_min"] > 0
    ray = yaml.safe_load((conf / "ray_cluster.yaml").read_text())
    assert ray["defaults"] == ["ray"] and ray["ray"]["init"]["address"] == "auto"
