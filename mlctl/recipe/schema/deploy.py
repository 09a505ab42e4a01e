"""The recipe's ``deploy`` section: registration, promotion, and the files of
`mlctl deploy` (image, Docker, Kubernetes, GitHub Actions)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from mlctl.recipe.schema.base import Strict
from mlctl.recipe.schema.serve import Serve

#: One path component of a Docker image reference (lower case, '.', '_', '__', '-').
IMAGE_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


class DeployImage(Strict):
    """The container image `mlctl deploy` describes (docs/deployment.md#the-image)."""

    name: str | None = Field(
        None,
        description="Image repository name: lower-case letters, digits, `.`, `_`, `-` and "
        "`/`; default the model name in lower case.",
    )
    registry: str | None = Field(
        None,
        description="Registry and namespace the image is pushed to, e.g. `ghcr.io/acme`; "
        "none: a local image.",
    )
    base: str = Field(
        "python:3.11-slim", description="Base image: a slim Python of a supported version."
    )
    mlctl_requirement: str = Field(
        ".",
        description="What `pip install` installs mlctl from inside the image: `.` (the build "
        "context is an mlctl checkout, with its pyproject.toml), or a pip requirement such "
        "as `mlctl @ git+https://github.com/acme/mlctl@v0.1.0` or a wheel in the context.",
    )

    @field_validator("name")
    @classmethod
    def _image_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(rf"{IMAGE_PART}(?:/{IMAGE_PART})*", value):
            raise ValueError(
                f"{value!r} is not an image name: use lower-case letters and digits, "
                "separated by '.', '_', '-' or '/' (e.g. acme/churn-api)"
            )
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        """A registry host (with a `.`, a port or `localhost`) and/or lower-case
        namespaces, as in Docker's image references: `ghcr.io/acme`, `localhost:5000`."""
        if value is None:
            return None
        label = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
        host = rf"{label}(?:\.{label})*(?::[0-9]+)?"
        first, _, rest = value.removesuffix("/").partition("/")
        is_host = "." in first or ":" in first or first == "localhost"
        ok = re.fullmatch(host if is_host else IMAGE_PART, first) and all(
            re.fullmatch(IMAGE_PART, p) for p in (rest.split("/") if rest else [])
        )
        if not ok:
            raise ValueError(
                f"{value!r} is not an image registry: a host (with a '.' or a port) and/or "
                "lower-case namespaces, without a scheme (e.g. ghcr.io/acme, localhost:5000)"
            )
        return value.removesuffix("/")


class DeployDocker(Strict):
    """`mlctl deploy --target docker`: Dockerfile and compose file."""

    restart: Literal["no", "always", "on-failure", "unless-stopped"] = Field(
        "unless-stopped", description="Restart policy of every compose service."
    )
    host_port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="Port published on the host; default `deploy.serve.port`."
    )
    postgres_image: str = Field(
        "postgres:16-alpine",
        description="Image of the PostgreSQL service (added when the prediction log is "
        "PostgreSQL).",
    )
    redis_image: str = Field(
        "redis:7-alpine", description="Image of the Redis service (added for a Redis cache)."
    )


class DeployRequests(Strict):
    """What the scheduler reserves for each API container (Kubernetes quantities)."""

    cpu: str | None = Field("500m", description="CPU (`500m`, `2`); null: none.")
    memory: str | None = Field("1Gi", description="Memory (`512Mi`, `2Gi`); null: none.")


class DeployLimits(Strict):
    """Hard caps of each API container (Kubernetes quantities)."""

    cpu: str | None = Field(
        None, description="CPU cap; default none, since CPU throttling hurts latency."
    )
    memory: str | None = Field("2Gi", description="Memory cap; null: none.")


class DeployK8sResources(Strict):
    """Requests and limits of the API container."""

    requests: DeployRequests = Field(default_factory=DeployRequests, description="Requests.")
    limits: DeployLimits = Field(default_factory=DeployLimits, description="Limits.")


#: A DNS-1123 label: what Kubernetes accepts as a namespace, or between the dots of a name.
K8S_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


class DeployK8s(Strict):
    """`mlctl deploy --target k8s`: Deployment, Service, CronJob, ConfigMap."""

    namespace: str = Field("default", description="Namespace of every object.")
    replicas: Annotated[int, Field(ge=1, le=1000)] = Field(2, description="API pods.")
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Type of the Service in front of the API pods."
    )
    resources: DeployK8sResources = Field(
        default_factory=DeployK8sResources, description="API container resources."
    )
    secret: str | None = Field(
        None,
        description="Secret holding the API key (key `api-key`) and the other secrets "
        "(docs/deployment.md#secrets); default `<image name>-secrets`.",
    )
    workspace_claim: str | None = Field(
        None,
        description="PersistentVolumeClaim mounted as the workspace (registry, SQLite "
        "prediction log); none: the image's workspace (`--bake`) or an emptyDir.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Image pull policy of every container."
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not re.fullmatch(K8S_LABEL, value):
            raise ValueError(
                f"{value!r} is not a Kubernetes namespace: at most 63 lower-case letters, "
                "digits and '-', starting and ending with a letter or digit"
            )
        return value

    @field_validator("secret", "workspace_claim")
    @classmethod
    def _object_name(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) > 253 or not re.fullmatch(rf"{K8S_LABEL}(\.{K8S_LABEL})*", value)
        ):
            raise ValueError(
                f"{value!r} is not a Kubernetes object name: lower-case letters, digits, "
                "'-' and '.', starting and ending with a letter or digit"
            )
        return value


class DeployGithubActions(Strict):
    """`mlctl deploy --target github-actions`: a CI workflow."""

    python: str = Field("3.11", description="Python version of the job.")
    run_overrides: list[str] = Field(
        default_factory=list,
        description="Overrides passed to `mlctl validate` and `mlctl run` in CI, e.g. "
        "`[models=fast]`.",
    )
    timeout_minutes: Annotated[int, Field(ge=1, le=360)] = Field(60, description="Job timeout.")


class RolloutGuards(Strict):
    """What a rollout step must keep to go on; a breach rolls the challenger back."""

    max_error_rate: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        None,
        description="Highest share of the challenger's requests answered with an error; "
        "null: `deploy.serve.slo.max_error_rate`.",
    )
    p95_ms: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Highest 95th-percentile latency of the challenger in milliseconds; "
        "null: `deploy.serve.slo.p95_ms`.",
    )
    ab_verdict: bool = Field(
        True,
        description="Roll back when `mlctl compare` finds the challenger worse on labelled "
        "traffic (needs feedback).",
    )


class Rollout(Strict):
    """Gradual rollout of the challenger with automatic rollback (docs/operations.md)."""

    steps: list[Annotated[float, Field(gt=0.0, le=100.0)]] = Field(
        default_factory=lambda: [5.0, 25.0, 50.0, 100.0],
        description="Challenger traffic share of each step in percent, rising; the last "
        "is 100 (promotion).",
    )
    min_requests: Annotated[int, Field(ge=1)] = Field(
        200, description="Requests the challenger must answer in a step before the next."
    )
    min_minutes: Annotated[float, Field(ge=0)] = Field(
        10.0, description="Minutes a step lasts at least."
    )
    guards: RolloutGuards = Field(
        default_factory=RolloutGuards, description="Breaches that roll back."
    )
    auto_rollback: bool = Field(
        True, description="Roll back by itself on a guard breach; false: only report it."
    )
    approval: Literal["required", "auto"] = Field(
        "required",
        description="required: the step to 100 % (promotion) waits for "
        "`mlctl rollout --approve`; auto: it goes on by itself.",
    )
    auto_demote: bool = Field(
        False,
        description="Demote the champion when monitoring finds it below the readiness bar "
        "and the previous champion did better on the same window.",
    )

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("needs at least one step, the last being 100")
        if any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"steps must rise strictly, found {value}")
        if value[-1] != 100.0:
            raise ValueError(f"the last step must be 100 (promotion), found {value[-1]:g}")
        return value


class Deploy(Strict):
    """Registration, promotion, serving and deployment files."""

    model_name: str | None = Field(None, description="Registered model name; default `name`.")
    auto_promote: bool = Field(
        False, description="Promote to champion when the gate passes, without --promote."
    )
    serve: Serve = Field(default_factory=Serve, description="`mlctl serve` settings.")
    image: DeployImage = Field(
        default_factory=DeployImage, description="Container image of `mlctl deploy`."
    )
    docker: DeployDocker = Field(
        default_factory=DeployDocker, description="`mlctl deploy --target docker`."
    )
    k8s: DeployK8s = Field(default_factory=DeployK8s, description="`mlctl deploy --target k8s`.")
    github_actions: DeployGithubActions = Field(
        default_factory=DeployGithubActions,
        description="`mlctl deploy --target github-actions`.",
    )
    rollout: Rollout = Field(
        default_factory=Rollout, description="`mlctl rollout`: gradual rollout and rollback."
    )
