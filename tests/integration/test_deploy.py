"""``mlctl deploy`` on a real trained workspace: every target's files are written, parse
and pass the official schemas; the baked registry serves the model from its new place;
bad input says what exists."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

from mlctl.cli.main import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "deploy"))
import deploy_checks as checks  # noqa: E402

pytestmark = pytest.mark.integration

REQ = "--mlctl-requirement=mlctl==0.1.0"  # the project is not an mlctl checkout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, churn_project) -> Path:
    """The churn project with version 1 registered as champion (~20 s)."""
    root = churn_project(tmp_path_factory.mktemp("deploy"), 700)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "mlctl"),
            "run",
            "recipes/churn.yaml",
            "models=fast",
            "tuning=none",
            "readiness=lenient",
            "evaluation.importance_repeats=0",
            "--promote",
            "--yes",
            "--quiet",
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root


def deploy(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(project)
    return CliRunner().invoke(cli, ["deploy", "recipes/churn.yaml", *args], catch_exceptions=False)


def test_docker_bake_writes_valid_files_and_a_registry_that_works_in_its_new_place(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = deploy(project, monkeypatch, REQ, "--target", "docker", "--bake", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == {"name": "churn", "version": 1, "alias": "champion"}
    assert summary["image"] == "churn:v1"
    out = project / "deploy"
    ins = checks.dockerfile_instructions((out / "Dockerfile").read_text())
    assert '--chown=10001:10001 ["deploy/bake/workspace", "/data/.mlctl"]' in [
        r for w, r in ins if w == "COPY"
    ]
    compose = checks.check_compose((out / "compose.yaml").read_text())
    assert compose["services"]["api"]["build"] == {
        "context": "..",
        "dockerfile": "deploy/Dockerfile",
    }
    assert (out / "Dockerfile.dockerignore").exists()

    # The baked database points at /data/.mlctl: move it to a folder of this machine
    # the same way, with the original workspace out of reach, and load from it.
    from mlctl.deploy.bake import relocate
    from mlctl.monitor.profile import load_profile
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import Workspace

    baked = tmp_path / "baked"
    shutil.copytree(out / "bake" / "workspace", baked)
    db = baked / "mlflow.db"
    with sqlite3.connect(db) as con:
        sources = [r[0] for r in con.execute("SELECT storage_location FROM model_versions")]
    assert sources and all(s.startswith("file:///data/.mlctl/artifacts/") for s in sources)
    relocate(db, PurePosixPath("/data/.mlctl"), PurePosixPath(str(baked)))
    original = project / ".mlctl"
    hidden = project / ".mlctl-hidden"
    original.rename(hidden)
    try:
        registry = Registry(Workspace(baked, f"sqlite:///{db}", (baked / "artifacts").as_uri()))
        model = registry.load_reference("churn@champion", verify=True)
        assert model.version == 1
        assert load_profile(registry, "churn", 1).columns  # the monitor's reference
    finally:
        hidden.rename(original)

    again = deploy(project, monkeypatch, REQ, "--target", "docker", "--bake")
    assert again.exit_code == 2
    assert "already exist" in again.stderr and "deploy/Dockerfile" in again.stderr
    assert "--overwrite" in again.stderr
    forced = deploy(project, monkeypatch, REQ, "--target", "docker", "--bake", "--overwrite")
    assert forced.exit_code == 0, forced.output
    assert "churn version 1 (champion)" in forced.stdout


def test_k8s_objects_are_valid(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = deploy(
        project,
        monkeypatch,
        "--target",
        "k8s",
        "--registry",
        "ghcr.io/acme",
        "--namespace",
        "ml",
        "deploy.serve.api_key_env=CHURN_API_KEY",
    )
    assert result.exit_code == 0, result.output
    out = project / "deploy" / "k8s"
    kinds = {}
    for name in ("deployment.yaml", "service.yaml", "cronjob.yaml", "configmap.yaml"):
        doc = checks.check_k8s((out / name).read_text())
        kinds[doc["kind"]] = doc
    assert set(kinds) == {"Deployment", "Service", "CronJob", "ConfigMap"}
    [api] = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert api["image"] == "ghcr.io/acme/churn:v1"
    assert kinds["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"
    assert kinds["CronJob"]["spec"]["schedule"] == "0 * * * *"
    assert "the pods have no registry" not in result.stderr  # the image holds the model
    steps = result.stdout.split("next:")[1]
    assert "--target docker --registry ghcr.io/acme" in steps and "bake" not in steps
    bare = deploy(project, monkeypatch, "--target", "k8s", "--no-bake", "--overwrite")
    assert bare.exit_code == 0, bare.output
    assert "warning: the pods have no registry" in bare.stderr
    assert "--no-bake && docker build" in bare.stdout


def test_github_actions_workflow_is_valid(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = deploy(project, monkeypatch, REQ, "models=fast", "--target", "github-actions")
    assert result.exit_code == 0, result.output
    wf = checks.check_workflow((project / ".github/workflows/mlctl-churn.yml").read_text())
    runs = [s.get("run", "") for s in wf["jobs"]["train"]["steps"]]
    assert "python -m pip install mlctl==0.1.0" in runs
    assert any("--mlctl-requirement mlctl==0.1.0 --target docker" in r for r in runs)
    assert any(r.startswith("mlctl run recipes/churn.yaml models=fast") for r in runs)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--target", "helm"], 2, "valid targets: docker, k8s, github-actions"),
        (["--target", "k8s", "--model", "churn@challenger"], 4, "versions: 1 (champion)"),
        (["--target", "k8s", "--model", "churn/7"], 4, "versions: 1"),
        (["--target", "k8s", "--model", "fraud"], 4, "registered models: churn"),
        (["--target", "k8s", "--workspace", "nowhere"], 4, "no tracking database"),
        (["--target", "k8s", "--schedule", "hourly"], 4, "monitor.schedule"),
        (["--target", "docker"], 2, "not an mlctl checkout"),
        (["--target", "github-actions", "--bake", REQ], 2, "--bake is for"),
    ],
)
def test_bad_input_says_what_exists(
    project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, message: str
) -> None:
    result = deploy(project, monkeypatch, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def doc_examples() -> list[tuple[str, str]]:
    """(command, first output line) of every ``$ mlctl deploy`` in a console block."""
    import re

    out = []
    for block in re.findall(r"```console\n(.*?)\n```", DOC.read_text(), re.S):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ mlctl deploy "):
                out.append((line[2:], lines[i + 1]))
    return out


def test_the_docs_examples_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    examples = doc_examples()
    assert len(examples) >= 4
    for command, first in examples:
        args = shlex.split(command)[3:]  # after "mlctl deploy RECIPE"
        if "k8s" not in args:
            args.append(REQ)
        result = deploy(project, monkeypatch, *args, "--force")
        shown = (result.stderr if first.startswith("error:") else result.stdout).splitlines()
        assert shown and shown[0] == first, (command, result.output)
        assert (result.exit_code == 0) != first.startswith("error:"), (command, result.output)
