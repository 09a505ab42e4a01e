"""The generated deploy files, for recipe variants: they parse, pass the official schemas,
and say what the recipe says (no registry: the served version is given)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from mlctl.deploy import DeployOptions, Served, facts_for, generate
from mlctl.deploy.plan import Bake
from mlctl.errors import RecipeError, UsageError
from mlctl.recipe.loader import load_recipe

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy_checks as checks  # noqa: E402

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
CHURN = REPO / "recipes" / "churn.yaml"
POSTGRES = "deploy.serve.log.url=postgresql://churn@db.internal:5432/predictions"
REDIS = ["deploy.serve.cache.backend=redis", "deploy.serve.cache.url=redis://127.0.0.1:6379/2"]


def plan(
    target: str,
    *overrides: str,
    bake: bool = False,
    version: int = 3,
    served: Served | None = None,
    out: str = "deploy",
    **options,
):
    loaded = load_recipe(CHURN, list(overrides))
    opts = DeployOptions(target, out=str(REPO / out), context=str(REPO), bake=bake, **options)
    served = served or Served(loaded.recipe.model_name, version, "champion")
    facts = facts_for(loaded, opts, served)
    db = REPO / ".mlctl" / "mlflow.db"
    baked = Bake(REPO / ".mlctl", db, "bake/workspace", served.name, version) if bake else None
    return generate(facts, target, baked if target == "docker" else None)


def files(p) -> dict[str, str]:
    return {f.path: f.content for f in p.files}


def docker_files(*overrides: str, **kw):
    f = files(plan("docker", *overrides, **kw))
    return (
        checks.dockerfile_instructions(f["Dockerfile"]),
        checks.check_compose(f["compose.yaml"]),
        f["Dockerfile.dockerignore"],
    )


def test_dockerfile_serves_the_recipe_as_a_non_root_user() -> None:
    ins, compose, ignore = docker_files("deploy.serve.workers=3")
    words = dict(ins)
    assert words["FROM"] == "python:3.11-slim"
    assert words["USER"] == "10001:10001"
    entry = checks.exec_form(ins, "ENTRYPOINT")
    assert entry[:3] == ["mlctl", "serve", "/app/recipes/churn.yaml"]
    assert entry[entry.index("--workers") + 1] == "3"
    assert entry[entry.index("--host") + 1] == "0.0.0.0"
    assert checks.exec_form(ins, "CMD") == ["deploy.serve.workers=3"]
    health = checks.exec_form(ins, "HEALTHCHECK")
    assert health[:2] == ["python", "-c"] and "/health" in health[2]  # no curl in slim
    compile(health[2], "healthcheck", "exec")
    assert 'io.mlctl.model.name="churn"' in words["LABEL"]
    assert 'io.mlctl.model.version="3"' in words["LABEL"]
    assert "RUN" in words and any(r == "pip install /app" for w, r in ins if w == "RUN")
    assert "**/.mlctl" in ignore.splitlines() and "**/.env" in ignore.splitlines()


def test_compose_has_api_and_monitor_on_the_schedule_with_named_volumes() -> None:
    _, compose, _ = docker_files("monitor.schedule=*/15 * * * *")
    api, monitor = compose["services"]["api"], compose["services"]["monitor"]
    assert set(compose["services"]) == {"api", "monitor"}
    assert api["image"] == monitor["image"] == "churn:v3"
    assert api["restart"] == monitor["restart"] == "unless-stopped"
    assert api["volumes"] == monitor["volumes"] == ["workspace:/data/.mlctl"]
    assert compose["volumes"] == {"workspace": {}}
    assert api["ports"] == ["8000:8000"]
    assert api["stop_grace_period"] == "20s"  # drain_seconds 10 + margin
    entry = monitor["entrypoint"]
    assert entry[:5] == ["python", "-m", "mlctl.deploy.schedule", "--schedule", "*/15 * * * *"]
    assert entry[entry.index("--") + 1 : entry.index("--") + 4] == [
        "mlctl",
        "monitor",
        "/app/recipes/churn.yaml",
    ]
    assert monitor["healthcheck"] == {"disable": True}
    # The recipe's ${oc.env:CHURN_ALERT_WEBHOOK,null} is passed through from the shell.
    assert api["environment"]["CHURN_ALERT_WEBHOOK"] is None


def test_postgres_and_redis_services_without_any_password_in_the_files() -> None:
    p = plan("docker", POSTGRES, *REDIS, "deploy.serve.api_key_env=CHURN_KEY")
    text = "\n".join(f.content for f in p.files)
    compose = checks.check_compose(files(p)["compose.yaml"])
    services = compose["services"]
    assert set(services) == {"api", "monitor", "postgres", "redis"}
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "churn"
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "predictions"
    assert services["api"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    env = services["api"]["environment"]
    assert env["MLCTL_LOG_URL"].startswith("postgresql://churn:${POSTGRES_PASSWORD:?")
    assert env["MLCTL_CACHE_URL"] == "redis://redis:6379/0"
    assert env["CHURN_KEY"].startswith("${CHURN_KEY:?")
    assert "postgres-data" in compose["volumes"]
    # The container's recipe reads those URLs from the environment; compose must not
    # interpolate the recipe's ${...}, so the entrypoint escapes it as $${...}.
    monitor = services["monitor"]["entrypoint"]
    assert "deploy.serve.log.url=$${oc.env:MLCTL_LOG_URL}" in monitor
    assert "deploy.serve.cache.url=$${oc.env:MLCTL_CACHE_URL}" in monitor
    assert "db.internal" not in text  # the machine's URL means nothing in compose


def test_a_password_in_the_recipe_file_is_refused(tmp_path: Path) -> None:
    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.parent.mkdir()
    text = CHURN.read_text().replace(
        "  auto_promote: false",
        "  auto_promote: false\n  serve:\n    log:\n      url: postgresql://u:s3cret@db/x",
    )
    recipe.write_text(text.replace("../data", str(REPO / "data")))
    loaded = load_recipe(recipe, [])
    options = DeployOptions("k8s", out=str(tmp_path / "k8s"), context=str(tmp_path))
    with pytest.raises(RecipeError, match=r"a URL with a password") as info:
        facts_for(loaded, options, Served("churn", 1, "champion"))
    assert "r.yaml:" in str(info.value) and "s3cret" not in str(info.value)


def test_k8s_objects_are_valid_and_wire_probes_grace_secret_and_schedule() -> None:
    p = plan(
        "k8s",
        "deploy.serve.api_key_env=CHURN_KEY",
        "deploy.serve.drain_seconds=42",
        POSTGRES,
        registry="ghcr.io/acme",
        replicas=4,
        namespace="ml",
        schedule="30 2 * * *",
    )
    f = files(p)
    kustomization = yaml.safe_load(f["kustomization.yaml"])
    docs = {name: checks.check_k8s(f[name]) for name in kustomization["resources"]}
    # the rest: the monitoring files (tests/unit/deploy/test_observability.py)
    assert set(f) - set(docs) == {
        "kustomization.yaml",
        "prometheus-rules.yaml",
        "grafana-dashboard.json",
        "prometheus-operator.yaml",
    }
    dep = docs["deployment.yaml"]
    assert dep["metadata"]["namespace"] == "ml" and dep["spec"]["replicas"] == 4
    pod = dep["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 42 + 5  # drain + preStop
    assert pod["securityContext"]["runAsNonRoot"] is True
    [api] = pod["containers"]
    assert api["image"] == "ghcr.io/acme/churn:v3"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    env = {e["name"]: e for e in api["env"]}
    assert env["CHURN_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "churn-secrets",
        "key": "api-key",
    }
    assert env["MLCTL_LOG_URL"]["valueFrom"]["secretKeyRef"]["key"] == "log-url"
    assert dep["metadata"]["labels"]["mlctl.io/model-version"] == "3"
    cron = docs["cronjob.yaml"]
    assert cron["spec"]["schedule"] == "30 2 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    [monitor] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert monitor["command"][:2] == ["mlctl", "monitor"]
    assert "deploy.serve.log.url=${oc.env:MLCTL_LOG_URL}" in monitor["command"]
    cm = docs["configmap.yaml"]
    assert cm["data"]["churn.yaml"] == CHURN.read_text()
    assert docs["service.yaml"]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert any("create secret generic churn-secrets" in s for s in p.next_steps)


def test_k8s_warns_when_pods_would_have_no_registry_and_bake_mounts_nothing() -> None:
    p = plan("k8s")
    assert any("no registry" in w for w in p.warnings)
    baked = plan("k8s", bake=True)
    dep = checks.check_k8s(files(baked)["deployment.yaml"])
    mounts = dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert [m["name"] for m in mounts] == ["recipe"]  # the image's baked workspace is used
    assert not any("the pods have no registry" in w for w in baked.warnings)
    claim = plan("k8s", "deploy.k8s.workspace_claim=churn-ws")
    vols = checks.check_k8s(files(claim)["deployment.yaml"])["spec"]["template"]["spec"]
    assert vols["volumes"][1]["persistentVolumeClaim"] == {"claimName": "churn-ws"}
    assert claim.warnings == [w for w in claim.warnings if "registry" in w]


def test_docker_bake_copies_the_workspace_into_the_image() -> None:
    assert any("starts without a registry" in w for w in plan("docker").warnings)
    assert plan("docker", bake=True).warnings == []
    ins, _, _ = docker_files(bake=True)
    copies = [r for w, r in ins if w == "COPY"]
    assert '--chown=10001:10001 ["deploy/bake/workspace", "/data/.mlctl"]' in copies
    # The JSON form keeps a folder with spaces one source; the next step quotes it too.
    p = plan("docker", bake=True, out="my deploy")
    ins = checks.dockerfile_instructions(files(p)["Dockerfile"])
    assert '--chown=10001:10001 ["my deploy/bake/workspace", "/data/.mlctl"]' in [
        r for w, r in ins if w == "COPY"
    ]
    assert any("'" in step and "my deploy/compose.yaml" in step for step in p.next_steps)


def test_workflow_is_valid_and_gates_with_the_exit_code() -> None:
    p = plan("github-actions", "deploy.github_actions.run_overrides=['models=fast']")
    [f] = p.files
    assert f.path == ".github/workflows/mlctl-churn.yml"
    wf = checks.check_workflow(f.content)
    steps = {s["name"]: s for s in wf["jobs"]["train"]["steps"]}
    assert steps["Install mlctl"]["run"] == "python -m pip install ."
    assert steps["Validate the recipe and its data"]["run"].startswith(
        "mlctl validate recipes/churn.yaml models=fast"
    )
    run = steps["Train, evaluate and gate"]["run"]
    assert run.startswith("mlctl run recipes/churn.yaml models=fast")
    assert "||" not in run and "; true" not in run  # a failing gate fails the job
    assert steps["Upload the evaluation report"]["if"] == "always()"
    assert "default_branch" in steps["Build the image"]["if"]
    assert p.model is None and p.image is None


def test_workflow_pushes_with_a_registry(tmp_path: Path) -> None:
    wf = checks.check_workflow(plan("github-actions", registry="ghcr.io/acme").files[0].content)
    steps = {s["name"]: s for s in wf["jobs"]["train"]["steps"]}
    assert steps["Log in to the image registry"]["with"]["registry"] == "ghcr.io"
    assert plan("k8s", registry="localhost:5000/").image == "localhost:5000/churn:v3"
    assert 'docker push "$IMAGE"' in steps["Build the image and push it"]["run"]
    assert "--registry ghcr.io/acme" in steps["Generate the deployment files"]["run"]


def test_the_schemas_are_not_vacuous() -> None:
    compose = checks.check_compose(files(plan("docker"))["compose.yaml"])
    compose["services"]["api"]["restrat"] = "always"
    assert checks.schema_errors("compose-spec.json", compose)
    wf = checks.check_workflow(plan("github-actions").files[0].content)
    wf["jobs"]["train"]["runs_on"] = wf["jobs"]["train"].pop("runs-on")
    assert checks.schema_errors("github-workflows.json", wf)
    dep = yaml.safe_load(files(plan("k8s"))["deployment.yaml"])
    del dep["spec"]["selector"]
    with pytest.raises(AssertionError, match="selector"):
        checks.check_k8s(yaml.safe_dump(dep))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("monitor.schedule=every hour", "5 fields"),
        ("monitor.schedule=61 * * * *", "not a valid cron"),
        ("monitor.schedule=0 0 L * *", "Kubernetes"),
        ("deploy.image.name=Churn API", "not an image name"),
        ("deploy.image.registry=ghcr.io/Acme", "not an image registry"),
        ("deploy.image.registry='https://ghcr.io/acme'", "not an image registry"),
        ("deploy.k8s.namespace=Prod_NS", "not a Kubernetes namespace"),
        ("deploy.k8s.secret=Churn_Secrets", "not a Kubernetes object name"),
        ("deploy.k8s.workspace_claim=-pvc", "not a Kubernetes object name"),
    ],
)
def test_bad_deploy_settings_name_the_key(override: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(CHURN, [override])


def test_unknown_target_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="valid targets: docker, k8s, github-actions") as info:
        plan("kubernetes")
    assert info.value.hint is None or "did you mean" in info.value.hint
    with pytest.raises(UsageError) as near:
        plan("dokcer")
    assert near.value.hint == "did you mean 'docker'?"


def test_cli_targets_match_the_library() -> None:
    from mlctl.cli.deploy import TARGETS as CLI_TARGETS
    from mlctl.deploy import TARGETS

    assert CLI_TARGETS == TARGETS


def test_a_password_in_an_override_is_refused() -> None:
    with pytest.raises(UsageError, match="deploy.serve.log.url=...' holds a URL") as info:
        plan("docker", "deploy.serve.log.url=postgresql://u:s3cret@db/x")
    assert "s3cret" not in str(info.value)


def test_bake_needs_an_embedded_workspace(tmp_path: Path) -> None:
    from mlctl.deploy.bake import check_bakeable

    with pytest.raises(UsageError, match="--bake copies an embedded workspace") as info:
        check_bakeable(tmp_path, None, "http://mlflow.internal:5000")
    assert "MLCTL_TRACKING_URI" in (info.value.hint or "")
    with pytest.raises(UsageError, match="no tracking database"):
        check_bakeable(tmp_path, tmp_path / "mlflow.db", f"sqlite:///{tmp_path}/mlflow.db")


def test_a_tracking_server_reaches_the_containers_without_its_password() -> None:
    compose = checks.check_compose(
        files(plan("docker", "tracking.uri=http://mlflow.internal:5000"))["compose.yaml"]
    )
    env = compose["services"]["api"]["environment"]
    assert env["MLCTL_TRACKING_URI"] == "${MLCTL_TRACKING_URI:-http://mlflow.internal:5000}"
    dep = checks.check_k8s(
        files(plan("k8s", "tracking.uri=http://mlflow.internal:5000"))["deployment.yaml"]
    )
    [api] = dep["spec"]["template"]["spec"]["containers"]
    assert {"name": "MLCTL_TRACKING_URI", "value": "http://mlflow.internal:5000"} in api["env"]


def test_a_model_name_that_is_no_image_name_asks_for_one() -> None:
    with pytest.raises(UsageError, match="not an image name") as info:
        plan("docker", "deploy.model_name=churn-")
    assert "--image" in (info.value.hint or "")
    assert plan("docker", "deploy.model_name=churn-", image="acme/churn").image == "acme/churn:v3"


def test_the_containers_overrides_compose_with_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the image's CMD and the monitor's command add to the recipe loads in there."""
    ins, _, _ = docker_files(POSTGRES, *REDIS)
    monkeypatch.setenv("MLCTL_LOG_URL", "postgresql://churn:pw@postgres:5432/predictions")
    monkeypatch.setenv("MLCTL_CACHE_URL", "redis://redis:6379/0")
    recipe = load_recipe(CHURN, checks.exec_form(ins, "CMD")).recipe
    assert recipe.deploy.serve.log.url == "postgresql://churn:pw@postgres:5432/predictions"
    assert recipe.deploy.serve.cache.url == "redis://redis:6379/0"
    assert recipe.deploy.serve.cache.backend == "redis"


def test_the_healthcheck_passes_on_a_live_health_route_and_fails_without_one() -> None:
    import socket
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ins, _, _ = docker_files(f"deploy.serve.port={port}")
    command = [sys.executable, *checks.exec_form(ins, "HEALTHCHECK")[1:]]
    assert subprocess.run(command, capture_output=True, timeout=20).returncode != 0

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert subprocess.run(command, capture_output=True, timeout=20).returncode == 0
    finally:
        server.shutdown()


def test_another_alias_reaches_the_containers_commands() -> None:
    """--model churn@challenger: the pods serve and monitor that alias, not the recipe's."""
    p = plan("k8s", served=Served("churn", 2, "challenger"))
    dep = checks.check_k8s(files(p)["deployment.yaml"])
    [api] = dep["spec"]["template"]["spec"]["containers"]
    assert api["command"][api["command"].index("--model") + 1] == "churn@challenger"
    cron = checks.check_k8s(files(p)["cronjob.yaml"])
    [mon] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert mon["command"][mon["command"].index("--model") + 1] == "churn@challenger"
    assert "--model" not in files(plan("k8s"))["deployment.yaml"]  # the recipe's alias


def test_a_model_name_starting_with_a_digit_gives_valid_object_names() -> None:
    import re

    p = plan("k8s", served=Served("2024_Churn", 1, "champion"), image="churn")
    for name in ("deployment.yaml", "service.yaml", "cronjob.yaml", "configmap.yaml"):
        doc = checks.check_k8s(files(p)[name])
        # A Service name is a DNS-1035 label: it starts with a letter.
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), doc
    assert yaml.safe_load(files(p)["service.yaml"])["metadata"]["name"] == "mlctl-2024-churn"


def test_env_references_of_overrides_reach_the_containers(monkeypatch) -> None:
    monkeypatch.setenv("HOOK_URL", "https://hooks.example/abc")
    hook = "monitor.alerts.webhook=${oc.env:HOOK_URL}"
    compose = checks.check_compose(files(plan("docker", hook))["compose.yaml"])
    assert "HOOK_URL" in compose["services"]["monitor"]["environment"]
    assert "hooks.example" not in files(plan("docker", hook))["compose.yaml"]
    cron = checks.check_k8s(files(plan("k8s", hook))["cronjob.yaml"])
    [mon] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in mon["env"] if "valueFrom" in e}
    assert refs["HOOK_URL"] == {"name": "churn-secrets", "key": "HOOK_URL", "optional": True}


def test_paths_in_the_way_are_refused_before_writing(tmp_path: Path) -> None:
    from mlctl.deploy import GeneratedFile, Plan, write_plan

    (tmp_path / "a-file").write_text("x")
    (tmp_path / "out" / "compose.yaml").mkdir(parents=True)
    files_ = [GeneratedFile("Dockerfile", "FROM x\n", ""), GeneratedFile("compose.yaml", "", "")]
    for out, message in [
        ("a-file", "is a file, not a folder"),
        ("a-file/deploy", "is a file, not a folder"),
        ("out", "compose.yaml is a folder"),
    ]:
        with pytest.raises(UsageError, match=message):
            write_plan(Plan("docker", tmp_path / out, files_), force=True)
    assert not (tmp_path / "out" / "Dockerfile").exists()  # nothing was written


def test_a_recipe_file_name_with_a_space_is_a_valid_configmap_key() -> None:
    import dataclasses
    import re

    from mlctl.deploy import k8s

    loaded = load_recipe(CHURN, [])
    opts = DeployOptions("k8s", out=str(REPO / "deploy"), context=str(REPO))
    facts = facts_for(loaded, opts, Served("churn", 3, "champion"))
    facts = dataclasses.replace(facts, recipe_path=REPO / "recipes" / "churn v2.yaml")
    out = {f.path: f.content for f in k8s.generate(facts, "name: churn\n")[0]}
    [key] = checks.check_k8s(out["configmap.yaml"])["data"]
    assert key == "churn-v2.yaml" and re.fullmatch(r"[-._a-zA-Z0-9]+", key)
    dep = checks.check_k8s(out["deployment.yaml"])
    [api] = dep["spec"]["template"]["spec"]["containers"]
    [mount] = [m for m in api["volumeMounts"] if m["name"] == "recipe"]
    assert mount == {
        "name": "recipe",
        "mountPath": "/app/recipes/churn v2.yaml",  # where the image has it
        "subPath": "churn-v2.yaml",
        "readOnly": True,
    }


def test_the_workflow_maps_required_env_references_to_repository_secrets(monkeypatch) -> None:
    monkeypatch.setenv("PG_URL", "postgresql://churn@db/x")
    p = plan("github-actions", "deploy.serve.log.url=${oc.env:PG_URL}")
    env = checks.check_workflow(p.files[0].content)["env"]
    assert env["PG_URL"] == "${{ secrets.PG_URL }}"
    assert "CHURN_ALERT_WEBHOOK" not in env  # it has a default, which an empty secret would hide


def test_the_default_bakes_an_embedded_workspace_and_reads_a_tracking_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlctl.deploy import _bake_choice
    from mlctl.deploy.bake import check_bakeable
    from mlctl.tracking.workspace import resolve_workspace

    for name in ("MLCTL_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)

    embedded = resolve_workspace(tmp_path)
    assert _bake_choice(embedded, None) == (True, [])
    assert _bake_choice(embedded, False) == (False, [])  # --no-bake: no model, on purpose
    server = resolve_workspace(tmp_path, recipe_uri="http://mlflow.internal:5000")
    baking, notes = _bake_choice(server, None)
    assert baking is False
    assert "http://mlflow.internal:5000" in notes[0] and "MLCTL_TRACKING_URI" in notes[0]
    secret = resolve_workspace(tmp_path, recipe_uri="https://u:s3cret@mlflow.internal")
    baking, notes = _bake_choice(secret, None)
    assert baking is False and "s3cret" not in notes[0] and "a tracking server" in notes[0]
    with pytest.raises(UsageError) as info:  # --bake with it: refused, the password unsaid
        check_bakeable(tmp_path, None, "https://u:s3cret@mlflow.internal")
    assert "s3cret" not in str(info.value)
