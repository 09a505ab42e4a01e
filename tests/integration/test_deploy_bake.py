"""``mlctl deploy`` without flags ships the served model: the baked registry holds only
that version (same number, aliases, tags, SHA-256, reference profile), and ``mlctl serve``
and ``mlctl monitor`` run from it, moved to another folder as the container would see it,
with the original workspace out of reach."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import pandas as pd
import pytest
from serve_helpers import FAST, ROW, Server, call, env_without_tracking, free_port, mlctl

pytestmark = pytest.mark.integration

REQ = "--mlctl-requirement=mlctl==0.1.0"  # the project is not an mlctl checkout
CONTAINER = PurePosixPath("/data/.mlctl")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, churn_project) -> Path:
    """Two registered versions: 1 promoted, then 2 promoted (the champion), ~40 s."""
    root = churn_project(tmp_path_factory.mktemp("bake"), 600)
    for _ in range(2):
        done = mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "--yes", "--quiet")
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def moved(baked: Path, to: Path) -> Path:
    """The baked workspace where a container would mount it, here at ``to``."""
    from mlctl.deploy.bake import relocate

    shutil.copytree(baked, to)
    relocate(to / "mlflow.db", CONTAINER, PurePosixPath(str(to)))
    return to


def test_default_docker_deploy_bakes_only_the_served_version_and_it_serves(
    project: Path, tmp_path: Path
) -> None:
    ws = project / ".mlctl"
    result = mlctl(project, "deploy", "recipes/churn.yaml", "--target", "docker", REQ, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["model"] == {"name": "churn", "version": 2, "alias": "champion"}
    assert summary["bake"] == str(project / "deploy" / "bake" / "workspace")
    assert not any("without a registry" in w for w in summary["warnings"])
    dockerfile = (project / "deploy" / "Dockerfile").read_text()
    assert '["deploy/bake/workspace", "/data/.mlctl"]' in dockerfile
    baked = project / "deploy" / "bake" / "workspace"

    # Only version 2: its model files and its run's artifacts, nothing of version 1.
    source = {v: (run, model) for v, run, model in rows(ws / "mlflow.db", VERSIONS)}
    (run1, model1), (run2, model2) = source[1], source[2]
    names = {p.name for p in baked.rglob("*")}
    assert {run2, model2} <= names and not {run1, model1} & names
    assert "predictions.db" not in names and "reports" not in names
    before, after = size(ws), size(baked)
    print(f"\nworkspace {before} bytes, baked {after} bytes")
    assert after < before
    db = baked / "mlflow.db"
    assert rows(db, VERSIONS) == [(2, run2, model2)]
    assert rows(db, "SELECT alias, version FROM registered_model_aliases") == [("champion", 2)]
    assert [r for (r,) in rows(db, "SELECT run_uuid FROM runs")] == [run2]
    tags = dict(rows(db, "SELECT key, value FROM model_version_tags"))
    original = dict(rows(ws / "mlflow.db", TAGS_OF_2))
    assert tags == original and len(tags["mlctl.sha256"]) == 64
    assert rows(db, "SELECT value FROM registered_model_tags") == [("[2]",)]

    # Serve and monitor from it as the container does, the original workspace hidden.
    where = moved(baked, tmp_path / "container" / ".mlctl")
    env = {"MLCTL_TRACKING_URI": f"sqlite:///{where / 'mlflow.db'}"}
    ws.rename(project / ".mlctl-hidden")
    try:
        server = Server(project, "recipes/churn.yaml", "--workspace", str(where), env=env)
        try:
            server.wait_ready()
            res = server.post("/predict", {"records": [ROW]})
            assert res.status == 200, res.body
            assert res.json["model"]["version"] == 2 and res.headers["x-model-version"] == "2"
        finally:
            server.stop()
        current = tmp_path / "current.csv"
        pd.read_csv(next((project / "data" / "telco").glob("*.csv"))).head(200).to_csv(
            current, index=False
        )
        watch = mlctl(
            project,
            "monitor",
            "recipes/churn.yaml",
            "--workspace",
            str(where),
            "--current",
            str(current),
            "--no-mlflow",
            "--json",
            env=env,
        )
        assert watch.returncode in (0, 3), watch.stdout + watch.stderr
        assert json.loads(watch.stdout)["model"]["version"] == 2
        back = mlctl(
            project, "models", "rollback", "churn", "--yes", "--workspace", str(where), env=env
        )
        assert back.returncode == 4 and "no earlier champion than version 2" in back.stderr
    finally:
        (project / ".mlctl-hidden").rename(ws)


def test_a_tracking_server_is_read_not_baked_and_says_why(project: Path, tmp_path: Path) -> None:
    """A real MLflow server on a copy of the registry: the default does not bake, prints
    the reason, and hands the server to the containers; --bake is refused."""
    db = tmp_path / "server.db"
    shutil.copy(project / ".mlctl" / "mlflow.db", db)
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        env=env_without_tracking(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while not _answers(uri + "/health"):
            assert server.poll() is None and time.monotonic() < deadline, "no MLflow server"
            time.sleep(0.5)
        env = {"MLCTL_TRACKING_URI": uri}
        args = ("deploy", "recipes/churn.yaml", "--target", "docker", REQ, "--out", "d-server")
        result = mlctl(project, *args, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"note: the model is not baked into the image: the registry is {uri}" in (
            result.stderr
        )
        assert "warning" not in result.stderr and "Traceback" not in result.stderr
        assert not (project / "d-server" / "bake").exists()
        compose = (project / "d-server" / "compose.yaml").read_text()
        assert f"MLCTL_TRACKING_URI: ${{MLCTL_TRACKING_URI:-{uri}}}" in compose
        refused = mlctl(project, *args, "--bake", "--overwrite", env=env)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "--bake copies an embedded workspace" in refused.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def deploy_here(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    from click.testing import CliRunner

    from mlctl.cli.main import cli

    for name in ("MLCTL_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(project)
    return CliRunner().invoke(
        cli, ["deploy", "recipes/churn.yaml", "--target", "docker", REQ, *args]
    )


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_digest(db: Path) -> None:
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM model_version_tags WHERE version = 2 AND key = 'mlctl.sha256'")


FAULTS = {
    # fault: (break it, exit code, message)
    "bit-flipped model": ("flip", 4, "do not match the SHA-256 recorded at registration"),
    "truncated model": ("truncate", 4, "do not match the SHA-256 recorded at registration"),
    "extra file in the model": ("extra", 4, "do not match the SHA-256 recorded at registration"),
    "no recorded digest": ("digest", 4, "has no recorded SHA-256 (mlctl.sha256)"),
    "model files missing": ("missing", 4, "its model files are missing at"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_version_that_cannot_be_baked_is_refused_and_nothing_is_written(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fault: str
) -> None:
    how, code, message = FAULTS[fault]
    ws = project / ".mlctl"
    backup = tmp_path / "backup"
    shutil.copytree(ws, backup)
    (_, model2) = dict((v, (r, m)) for v, r, m in rows(ws / "mlflow.db", VERSIONS))[2]
    files = ws / "artifacts" / "models" / model2 / "artifacts"
    try:
        if how == "flip":
            _flip_a_byte(files / "model.skops")
        elif how == "truncate":
            (files / "model.skops").write_bytes((files / "model.skops").read_bytes()[:100])
        elif how == "extra":
            (files / "evil.pkl").write_bytes(b"cos\nsystem\n")
        elif how == "digest":
            _drop_digest(ws / "mlflow.db")
        else:
            shutil.rmtree(files.parent)
        result = deploy_here(project, monkeypatch, "--out", f"d-{how}")
        assert result.exit_code == code, result.output
        assert message in result.stderr and "churn version 2" in result.stderr
        assert "Traceback" not in result.output
        assert not (project / f"d-{how}").exists()
    finally:
        shutil.rmtree(ws)
        shutil.copytree(backup, ws)


def test_model_files_outside_the_workspace_are_named(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A copy of the workspace whose database still points at the original folder."""
    copy = tmp_path / "copy"
    shutil.copytree(project / ".mlctl", copy)
    result = deploy_here(project, monkeypatch, "--workspace", str(copy), "--out", "d-outside")
    assert result.exit_code == 2, result.output
    assert f"outside the workspace {copy}" in result.stderr and "--no-bake" in result.stderr
    assert not (project / "d-outside").exists()


def test_a_pinned_version_bakes_that_version_alone(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = deploy_here(project, monkeypatch, "--model", "churn/1", "--out", "d-pinned", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"]["version"] == 1 and summary["bake_bytes"] > 0
    db = project / "d-pinned" / "bake" / "workspace" / "mlflow.db"
    assert [v for v, _, _ in rows(db, VERSIONS)] == [1]
    assert rows(db, "SELECT alias FROM registered_model_aliases") == []  # champion is 2
    entry = (project / "d-pinned" / "Dockerfile").read_text()
    assert '"--model", "churn/1"' in entry


def test_out_outside_the_build_context_asks_for_no_bake(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = deploy_here(project, monkeypatch, "--out", str(tmp_path / "elsewhere"))
    assert result.exit_code == 2, result.output
    assert "outside the build context" in result.stderr and "--no-bake" in result.stderr
    bare = deploy_here(project, monkeypatch, "--out", str(tmp_path / "elsewhere"), "--no-bake")
    assert bare.exit_code == 0, bare.output
    assert not (tmp_path / "elsewhere" / "bake").exists()


def _answers(url: str) -> bool:
    try:
        return call(url, timeout=2).status == 200
    except OSError:
        return False


VERSIONS = (
    "SELECT version, run_id, substr(source, length('models:/') + 1) FROM model_versions "
    "ORDER BY version"
)
TAGS_OF_2 = "SELECT key, value FROM model_version_tags WHERE version = 2"
