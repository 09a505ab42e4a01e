"""Helpers for the artifact-integrity and signal tests: the real CLI in its own process
group, paused at a named checkpoint (``MLCTL_TEST_PAUSE_AT``) and sent a real signal,
and the registry read straight from its SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

# tuning=none and no permutation importance: the tests need a registered model, fast.
FAST = [
    "models=fast",
    "tuning=none",
    "evaluation.importance_repeats=0",
    "evaluation.shap=off",  # SHAP is tested where it is the subject,
    "readiness.cv_std_k=0.5",
    "readiness.champion_tolerance=1.0",  # a second run registers whatever v1 scored
    "tuning.n_jobs=1",
]
DELETED = "Deleted_Internal"  # MLflow's soft-deleted model versions


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    env.pop("MLCTL_TRACEBACK", None)
    env.update(extra)
    return env


def mlctl(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
    )


@dataclass
class Stopped:
    returncode: int
    stdout: str
    stderr: str
    paused: bool  # the command reached the checkpoint before the signal


def interrupted(
    cwd: Path,
    args: list[str],
    point: str,
    sig: int,
    marker: Path,
    *,
    group: bool = True,
    timeout: float = 240,
) -> Stopped:
    """Run ``mlctl ARGS`` until it pauses at checkpoint ``point``, then send ``sig`` to
    its whole process group (``group``) or to its main process only."""
    env = clean_env(MLCTL_TEST_PAUSE_AT=point, MLCTL_TEST_PAUSE_FILE=str(marker))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlctl", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: killpg reaches only mlctl
    )
    deadline = time.monotonic() + timeout
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    paused = marker.exists()
    if proc.poll() is None:
        time.sleep(0.2)  # every worker that pauses has paused
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return Stopped(proc.returncode, out, err, paused)


def registry_state(db: Path) -> dict:
    """Every live version with its tags, every alias and model tag, as a plain dict."""
    with sqlite3.connect(db) as con:
        versions = con.execute(
            "select name, version from model_versions where current_stage != ? order by 1, 2",
            (DELETED,),
        ).fetchall()
        vtags = con.execute(
            "select t.name, t.version, t.key, t.value from model_version_tags t join "
            "model_versions v on v.name = t.name and v.version = t.version "
            "where v.current_stage != ? order by 1, 2, 3",
            (DELETED,),
        ).fetchall()
        aliases = con.execute(
            "select name, alias, version from registered_model_aliases order by 1, 2"
        ).fetchall()
        mtags = con.execute(
            "select name, key, value from registered_model_tags order by 1, 2"
        ).fetchall()
        models = con.execute("select name from registered_models order by 1").fetchall()
    return {
        "models": models,
        "versions": versions,
        "version_tags": vtags,
        "aliases": aliases,
        "model_tags": mtags,
    }


def run_statuses(db: Path) -> list[str]:
    """Status of every parent run (mlctl's nested candidate runs left out), oldest first."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select r.status from runs r where not exists (select 1 from tags t where "
            "t.run_uuid = r.run_uuid and t.key = 'mlflow.parentRunId') order by r.start_time"
        ).fetchall()
    return [s for (s,) in rows]


def version_folder(db: Path, name: str, version: int) -> Path:
    """The stored artifact folder of a registered version (its download URI)."""
    with sqlite3.connect(db) as con:
        (location,) = con.execute(
            "select storage_location from model_versions where name = ? and version = ?",
            (name, version),
        ).fetchone()
    return Path(unquote(urlparse(location).path))
