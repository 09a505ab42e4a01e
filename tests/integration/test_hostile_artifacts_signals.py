"""Hostile cases of issue 13, as a user or an attacker would meet them.

Artifacts: every way the files of a registered version (or the digest recorded with
them) can change after registration, met by ``predict``, ``monitor``, ``models promote``
and ``models rollback``: refused with exit 8 before anything is deserialized, naming
the version, nothing written, the registry unchanged.

Signals: SIGINT, SIGTERM and SIGHUP at each phase of ``mlctl run`` (data, CV, report,
registration with promotion) and of ``models promote``, to the main process or to the
whole process group: exit 130, no traceback, the MLflow run KILLED, the registry
exactly as before; a run killed with SIGKILL (even while the store is being created)
needs no cleanup before the next run.

The regression tests of issue 13 (they were test_artifacts_signals.py, whose module
fixture trained the same two versions again): a tampered non-champion version is
refused by predict and monitor; SIGINT while registering keeps the existing
challenger; concurrent first runs on an empty workspace all register; SIGTERM to the
whole process group during CV ends the run as KILLED with exit 130.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
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
MODEL_REJECTED = 8
INTERRUPTED = 130
RUN = ["run", "recipes/churn.yaml", *FAST]


@pytest.fixture(scope="module")
def project(tmp_path_factory, churn_project) -> Path:
    """Champion v1 and challenger v2 in the project's .mlctl workspace, 100 unseen rows."""
    root = churn_project(tmp_path_factory.mktemp("hostile"), 900)
    for extra in (["--promote", "-y"], ["split.seed=7"]):
        res = mlctl(root, *RUN, *extra, "-q")
        assert res.returncode == 0, res.stderr
    raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    raw.iloc[900:1000].to_csv(root / "unseen.csv", index=False)
    return root


@pytest.fixture(scope="module")
def pristine(project, tmp_path_factory) -> Path:
    """A copy of the module's store and model files, taken once."""
    keep = tmp_path_factory.mktemp("pristine")
    shutil.copy2(project / ".mlctl" / "mlflow.db", keep / "mlflow.db")
    shutil.copytree(project / ".mlctl" / "artifacts" / "models", keep / "models")
    return keep


@pytest.fixture()
def ws(project, pristine) -> Iterator[Path]:
    """The module's workspace, put back as it was after each test."""
    yield project / ".mlctl"
    shutil.copy2(pristine / "mlflow.db", project / ".mlctl" / "mlflow.db")
    models = project / ".mlctl" / "artifacts" / "models"
    shutil.rmtree(models)
    shutil.copytree(pristine / "models", models)


# ------------------------------------------------------------------- tamperings
def _folder(ws: Path, version: int) -> Path:
    return version_folder(ws / "mlflow.db", "churn", version)


def truncate(ws: Path) -> None:
    f = _folder(ws, 2) / "model.skops"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def flip_a_bit(ws: Path) -> None:
    f = _folder(ws, 2) / "model.skops"
    data = bytearray(f.read_bytes())
    data[-100] ^= 0x80
    f.write_bytes(bytes(data))


def swap_between_versions(ws: Path) -> None:
    a, b = _folder(ws, 1) / "model.skops", _folder(ws, 2) / "model.skops"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)


def add_a_file(ws: Path) -> None:
    (_folder(ws, 2) / "notes.txt").write_text("harmless?\n")


def plant_download_metadata(ws: Path) -> None:
    """The one name the digest leaves out (MLflow writes it into downloads only)."""
    (_folder(ws, 2) / "registered_model_meta").write_text("model_name: evil\n")


def remove_a_file(ws: Path) -> None:
    (_folder(ws, 2) / "input_example.json").unlink()


def edit_mlmodel(ws: Path) -> None:
    f = _folder(ws, 2) / "MLmodel"
    f.write_text(f.read_text().replace("skops", "pickle"))


def edit_requirements(ws: Path) -> None:
    f = _folder(ws, 2) / "requirements.txt"
    f.write_text(f.read_text() + "evil-package==6.6.6\n")


def remove_the_folder(ws: Path) -> None:
    shutil.rmtree(_folder(ws, 2))


def _tag(ws: Path, sql: str, *args: str) -> None:
    with sqlite3.connect(ws / "mlflow.db") as con:
        con.execute(sql, args)


def remove_the_digest_tag(ws: Path) -> None:
    _tag(ws, "delete from model_version_tags where version = 2 and key = 'mlctl.sha256'")


def edit_the_digest_tag(ws: Path) -> None:
    _tag(
        ws,
        "update model_version_tags set value = ? where version = 2 and key = 'mlctl.sha256'",
        "0" * 64,
    )


def bit_flip_and_matching_file_record(ws: Path) -> None:
    """The attacker also rewrites the per-file record: the tree digest still refuses."""
    flip_a_bit(ws)
    with sqlite3.connect(ws / "mlflow.db") as con:
        (value,) = con.execute(
            "select value from model_version_tags where version = 2 and key = ?",
            ("mlctl.files_sha256",),
        ).fetchone()
        record = json.loads(value)
        record["model.skops"] = hashlib.sha256(
            (_folder(ws, 2) / "model.skops").read_bytes()
        ).hexdigest()
        con.execute(
            "update model_version_tags set value = ? where version = 2 and key = ?",
            (json.dumps(record), "mlctl.files_sha256"),
        )


PREDICT = ["predict", "recipes/churn.yaml", "--input", "unseen.csv", "--model", "churn/2"]
MONITOR = [
    "monitor",
    "recipes/churn.yaml",
    "--current",
    "unseen.csv",
    "--model",
    "churn/2",
    "--no-mlflow",
]
CASES: dict[str, tuple[Callable[[Path], None], list[str], str]] = {
    # name: (tampering, command, what the message must name)
    "truncated/predict": (truncate, PREDICT, "model.skops"),
    "bit flip/monitor": (flip_a_bit, MONITOR, "model.skops"),
    "swapped between versions/predict": (swap_between_versions, PREDICT, "model.skops"),
    "extra file/promote": (add_a_file, ["models", "promote", "churn", "2", "-y"], "notes.txt"),
    "planted download metadata/predict": (
        plant_download_metadata,
        PREDICT,
        "registered_model_meta",
    ),
    "file removed/monitor": (remove_a_file, MONITOR, "input_example.json"),
    "MLmodel edited/predict": (edit_mlmodel, PREDICT, "MLmodel"),
    "requirements edited/promote": (
        edit_requirements,
        ["models", "promote", "churn", "2", "-y"],
        "requirements.txt",
    ),
    "folder removed/predict": (remove_the_folder, PREDICT, "cannot be read"),
    "digest tag removed/predict": (remove_the_digest_tag, PREDICT, "no recorded SHA-256"),
    "digest tag edited/monitor": (edit_the_digest_tag, MONITOR, "mlctl.sha256 tag was changed"),
    "file record rewritten too/predict": (
        bit_flip_and_matching_file_record,
        PREDICT,
        "each file matches",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampered_version_is_refused(case: str, project: Path, ws: Path, tmp_path) -> None:
    tamper, command, named = CASES[case]
    tamper(ws)
    before = registry_state(ws / "mlflow.db")
    out = tmp_path / "scores.csv"
    args = [*command, "--output", str(out)] if command[0] == "predict" else command
    res = mlctl(project, *args)
    assert res.returncode == MODEL_REJECTED, res.stdout + res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert "churn version 2" in res.stderr and named in res.stderr, res.stderr
    assert not out.exists()  # not one row scored by a tampered model
    assert registry_state(ws / "mlflow.db") == before


def test_rollback_to_a_tampered_champion_is_refused(project: Path, ws: Path) -> None:
    promoted = mlctl(project, "models", "promote", "churn", "2", "-y")
    assert promoted.returncode == 0, promoted.stderr
    flip = _folder(ws, 1) / "model.skops"
    flip.write_bytes(flip.read_bytes()[:-1])
    before = registry_state(ws / "mlflow.db")
    res = mlctl(project, "models", "rollback", "churn", "-y")
    assert res.returncode == MODEL_REJECTED, res.stderr
    assert "churn version 1" in res.stderr and "model.skops" in res.stderr
    assert "Traceback" not in res.stderr
    assert registry_state(ws / "mlflow.db") == before  # champion still version 2


# ------------------------------------------------------------------- signals
SIGNAL_CASES = {
    # name: (checkpoint, signal, whole process group?, extra run arguments)
    "SIGINT while loading data": ("data", signal.SIGINT, True, []),
    "SIGHUP to the group during CV with workers": (
        "cv",
        signal.SIGHUP,
        True,
        ["tuning.n_jobs=2"],
    ),
    "SIGTERM to the main pid while writing the report": ("report", signal.SIGTERM, False, []),
    "SIGTERM to the group while registering with --promote": (
        "register",
        signal.SIGTERM,
        True,
        ["--promote", "-y"],
    ),
    "SIGINT inside the promotion of a run": ("promote", signal.SIGINT, True, ["--promote", "-y"]),
}


@pytest.mark.parametrize("case", sorted(SIGNAL_CASES))
def test_interrupted_run_leaves_the_registry_as_it_was(
    case: str, project: Path, ws: Path, tmp_path
) -> None:
    point, sig, group, extra = SIGNAL_CASES[case]
    given = {e.split("=")[0] for e in extra}
    fast = [o for o in FAST if o.split("=")[0] not in given]
    before = registry_state(ws / "mlflow.db")
    runs_before = run_statuses(ws / "mlflow.db")
    args = ["run", "recipes/churn.yaml", *fast, *extra, "split.seed=11"]
    stopped = interrupted(project, args, point, sig, tmp_path / "paused", group=group)
    assert stopped.paused, stopped.stderr
    assert stopped.returncode == INTERRUPTED, stopped.stderr
    text = stopped.stdout + stopped.stderr
    assert "Traceback" not in text and "unexpected error" not in text
    assert registry_state(ws / "mlflow.db") == before
    statuses = run_statuses(ws / "mlflow.db")
    expected = runs_before if point == "data" else [*runs_before, "KILLED"]
    assert statuses == expected
    assert "RUNNING" not in statuses


def test_sigint_during_models_promote_is_all_or_nothing(project: Path, ws: Path, tmp_path) -> None:
    args = ["models", "promote", "churn", "2", "-y", "--reason", "canary"]
    stopped = interrupted(project, args, "promote", signal.SIGINT, tmp_path / "paused")
    assert stopped.paused, stopped.stderr
    assert stopped.returncode == INTERRUPTED, stopped.stderr
    assert "Traceback" not in stopped.stderr
    state = registry_state(ws / "mlflow.db")
    aliases = {alias: v for _, alias, v in state["aliases"]}
    tags = {(v, k): val for _, v, k, val in state["version_tags"]}
    history = json.loads(dict((k, v) for _, k, v in state["model_tags"])["mlctl.champion_history"])
    # The signal came in the middle: the promotion was finished, never left half done.
    assert aliases["champion"] == 2 and history[-1] == 2
    assert tags[(2, "mlctl.promoted_reason")] == "canary"


def test_killed_while_creating_the_store_then_a_rerun_needs_no_cleanup(
    project: Path, tmp_path
) -> None:
    ws = tmp_path / "ws"
    args = [*RUN, "--workspace", str(ws), "-q"]
    stopped = interrupted(project, args, "create_store", signal.SIGKILL, tmp_path / "paused")
    assert stopped.paused and stopped.returncode == -signal.SIGKILL
    assert not (ws / "mlflow.db").exists()  # no half-created store under the real name
    rerun = mlctl(project, *args)
    assert rerun.returncode == 0, rerun.stderr
    assert [v for _, v in registry_state(ws / "mlflow.db")["versions"]] == [1]


def test_killed_while_registering_then_a_rerun_registers(project: Path, tmp_path) -> None:
    ws = tmp_path / "ws"
    args = [*RUN, "--workspace", str(ws), "-q"]
    stopped = interrupted(project, args, "register", signal.SIGKILL, tmp_path / "paused")
    assert stopped.paused and stopped.returncode == -signal.SIGKILL
    rerun = mlctl(project, *args, "split.seed=5")
    assert rerun.returncode == 0, rerun.stderr
    state = registry_state(ws / "mlflow.db")
    assert ("churn", "challenger", 2) in state["aliases"]
    assert run_statuses(ws / "mlflow.db")[-1] == "FINISHED"


# ------------------------------------------------- regressions of issue 13
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
