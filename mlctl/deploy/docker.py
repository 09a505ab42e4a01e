"""``--target docker``: a Dockerfile, a compose file and the build's ignore file, plus
the Prometheus alerting rules and the Grafana dashboard (:mod:`.observe`)."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

from mlctl.deploy import observe
from mlctl.deploy.plan import (
    CACHE_URL_ENV,
    LOG_URL_ENV,
    TRACKING_URI_ENV,
    UID,
    WORKSPACE_DIR,
    Facts,
    GeneratedFile,
    dump_yaml,
    header,
    url_parts,
)

# Never in the build context: environments, caches, workspaces, local secrets.
IGNORED = [
    ".git",
    ".github",
    ".venv",
    "venv",
    "**/__pycache__",
    "**/*.py[cod]",
    "**/.pytest_cache",
    "**/.ruff_cache",
    "**/*.egg-info",
    "**/.mlctl",
    "**/mlruns",
    "**/outputs",
    "**/multirun",
    "**/.env",
    "**/.env.*",
    "**/*.rejects.csv",
]


def generate(
    facts: Facts, bake_dest: str | None
) -> tuple[list[GeneratedFile], list[str], list[str]]:
    """The files, warnings and next steps."""
    dockerfile = _dockerfile(facts, bake_dest)
    same = facts.out == facts.context
    ignore_name = ".dockerignore" if same else "Dockerfile.dockerignore"
    files = [
        GeneratedFile("Dockerfile", dockerfile, "image: mlctl serve"),
        GeneratedFile("compose.yaml", _compose(facts), "compose: api, monitor and services"),
        GeneratedFile(ignore_name, _ignore(facts), "build context exclusions"),
    ]
    monitoring, warnings = observe.files(facts)
    files += monitoring
    compose = _rel(facts.out / "compose.yaml", os.getcwd())
    steps = [f"docker compose -f {shlex.quote(compose)} up -d --build"]
    if facts.serve.api_key_env:
        steps.insert(0, f"export {facts.serve.api_key_env}=...   # the API key")
    if facts.log_kind == "postgresql":
        steps.insert(0, "export POSTGRES_PASSWORD=...   # the prediction log's database")
    if not facts.bake and not facts.remote_tracking:
        warnings.append(
            "--no-bake: the image has no model, and the 'workspace' volume starts without a "
            "registry; fill it before starting (docs/deployment.md#where-the-container-finds-"
            "the-model), or rerun without --no-bake"
        )
    return files, warnings, steps


def _dockerfile(facts: Facts, bake_dest: str | None) -> str:
    req = facts.recipe.deploy.image.mlctl_requirement
    labels = " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in facts.labels.items())
    lines = [
        "# syntax=docker/dockerfile:1",
        header(facts, "Image of mlctl serve"),
        f"FROM {facts.recipe.deploy.image.base}",
        "",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \\",
        "    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\",
        f"    {TRACKING_URI_ENV}={facts.embedded_tracking_uri()}",
        f"LABEL {labels}",
        "",
        "# A fixed non-root user: volumes and Kubernetes' runAsUser use the same id.",
        f"RUN groupadd --system --gid {UID} mlctl \\",
        f" && useradd --system --uid {UID} --gid mlctl --home-dir /app --no-create-home mlctl",
        "WORKDIR /app",
    ]
    if req == ".":
        lines += [
            "# The build context is an mlctl checkout holding the project: install it.",
            f"COPY --chown={UID}:{UID} . /app",
            "RUN pip install /app",
        ]
    else:
        lines += [
            f"RUN pip install {json.dumps(req)}",
            f"COPY --chown={UID}:{UID} . /app",
        ]
    if bake_dest:
        rel = _rel(facts.out / bake_dest, facts.context)
        lines += [
            f"# The baked registry: model {facts.model_name} version {facts.version} only, "
            "so the image needs no registry.",
            # The JSON form: a path with spaces stays one source.
            f"COPY --chown={UID}:{UID} {json.dumps([rel, str(WORKSPACE_DIR)])}",
        ]
    lines += [
        f"RUN mkdir -p {WORKSPACE_DIR} && chown -R {UID}:{UID} {WORKSPACE_DIR.parent}",
        f"VOLUME {WORKSPACE_DIR}",
        f"USER {UID}:{UID}",
        f"EXPOSE {facts.serve.port}",
        "# /health answers as soon as the process is up; python, since slim has no curl.",
        "HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\",
        f"  CMD {json.dumps(facts.healthcheck_command())}",
        f"ENTRYPOINT {json.dumps(facts.serve_command())}",
        f"CMD {json.dumps(facts.recipe_overrides())}",
        "",
    ]
    return "\n".join(lines)


def _compose(facts: Facts) -> str:
    d = facts.recipe.deploy.docker
    build = {
        "context": _rel(facts.context, facts.out),
        "dockerfile": _rel(facts.out / "Dockerfile", facts.context),
    }
    env = _environment(facts)
    depends: dict[str, Any] = {}
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {"workspace": {}}
    api = {
        "build": build,
        "image": facts.image,
        "restart": d.restart,
        "environment": env,
        "ports": [f"{d.host_port or facts.serve.port}:{facts.serve.port}"],
        "volumes": [f"workspace:{WORKSPACE_DIR}"],
        # Docker sends SIGTERM, waits this long, then kills: the server's drain fits in it.
        "stop_grace_period": f"{facts.grace_seconds}s",
        "labels": facts.labels,
    }
    monitor = {
        "image": facts.image,
        "build": build,
        "restart": d.restart,
        # The schedule loop ships with mlctl: no cron daemon (which needs root) in the image.
        "entrypoint": _escape(
            [
                "python",
                "-m",
                "mlctl.deploy.schedule",
                "--schedule",
                facts.recipe.monitor.schedule,
                "--",
                *facts.monitor_command(),
            ]
        ),
        "environment": env,
        "volumes": [f"workspace:{WORKSPACE_DIR}"],
        "healthcheck": {"disable": True},  # the image's HEALTHCHECK probes the API
        "labels": facts.labels,
    }
    if facts.log_kind == "postgresql":
        user, db = url_parts(facts.serve.log.url or "")
        services["postgres"] = {
            "image": d.postgres_image,
            "restart": d.restart,
            "environment": {
                "POSTGRES_USER": user or "mlctl",
                "POSTGRES_DB": db or "mlctl",
                "POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}",
            },
            "volumes": ["postgres-data:/var/lib/postgresql/data"],
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-U", user or "mlctl", "-d", db or "mlctl"],
                "interval": "5s",
                "timeout": "3s",
                "retries": 10,
            },
        }
        volumes["postgres-data"] = {}
        depends["postgres"] = {"condition": "service_healthy"}
    if facts.uses_redis:
        services["redis"] = {
            "image": d.redis_image,
            "restart": d.restart,
            "healthcheck": {
                "test": ["CMD", "redis-cli", "ping"],
                "interval": "5s",
                "timeout": "3s",
                "retries": 10,
            },
        }
        depends["redis"] = {"condition": "service_healthy"}
    if depends:
        api["depends_on"] = depends
        monitor["depends_on"] = dict(depends)
    document = {
        "name": facts.app,
        "services": {"api": api, "monitor": monitor, **services},
        "volumes": volumes,
    }
    return dump_yaml(document, header(facts, "docker compose: the API and its monitor"))


def _environment(facts: Facts) -> dict[str, str | None]:
    """Values are compose interpolations: secrets come from the shell or an .env file."""
    env: dict[str, str] = {}
    if facts.remote_tracking:
        default = facts.tracking_default()
        env[TRACKING_URI_ENV] = (
            f"${{{TRACKING_URI_ENV}:-{default}}}"
            if default
            else f"${{{TRACKING_URI_ENV}:?set {TRACKING_URI_ENV}}}"
        )
    if facts.log_kind == "postgresql":
        user, db = url_parts(facts.serve.log.url or "")
        env[LOG_URL_ENV] = (
            f"postgresql://{user or 'mlctl'}:${{POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}}"
            f"@postgres:5432/{db or 'mlctl'}"
        )
    if facts.uses_redis:
        env[CACHE_URL_ENV] = "redis://redis:6379/0"
    key = facts.serve.api_key_env
    if key:
        env[key] = f"${{{key}:?set {key} (the API key)}}"
    for name in facts.env_refs:
        env.setdefault(name, None)  # passed through from the shell when it is set
    return env


def _escape(args: list[str]) -> list[str]:
    """Compose interpolates ``$`` in every string; the recipe's own ``${...}`` stays."""
    return [a.replace("$", "$$") for a in args]


def _ignore(facts: Facts) -> str:
    return "\n".join(
        [
            "# Generated by mlctl deploy: what the image build never sees.",
            *IGNORED,
            "",
        ]
    )


def _rel(path: Any, start: Any) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")
