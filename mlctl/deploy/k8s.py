"""``--target k8s``: Deployment, Service, CronJob and ConfigMap (plus a kustomization),
and the monitoring files: the Prometheus rules, the Grafana dashboard (also as a
ConfigMap for Grafana's sidecar) and, for the prometheus-operator, a PrometheusRule and
a ServiceMonitor (outside the kustomization: their CRDs may not be installed).

Secrets are referenced, never written: the API key and every URL that may hold a
password come from one Secret (``deploy.k8s.secret``) that the operator creates.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from mlctl.deploy import alerts, grafana, observe
from mlctl.deploy.plan import (
    CACHE_URL_ENV,
    LOG_URL_ENV,
    PRESTOP_SECONDS,
    TRACKING_URI_ENV,
    UID,
    WORKSPACE_DIR,
    Facts,
    GeneratedFile,
    dump_yaml,
    header,
)

RECIPE_VOLUME = "recipe"
WORKSPACE_VOLUME = "workspace"


def generate(facts: Facts, recipe_text: str) -> tuple[list[GeneratedFile], list[str], list[str]]:
    """The files, warnings and next steps."""
    k = facts.recipe.deploy.k8s
    secret = secret_name(facts)
    objects = [
        ("configmap.yaml", _configmap(facts, recipe_text), "ConfigMap: the recipe"),
        ("deployment.yaml", _deployment(facts, secret), "Deployment: mlctl serve"),
        ("service.yaml", _service(facts), "Service"),
        ("cronjob.yaml", _cronjob(facts, secret), "CronJob: mlctl monitor"),
    ]
    monitoring, warnings = observe.files(facts)
    dashboard = next(f.content for f in monitoring if f.path == observe.DASHBOARD_FILE)
    objects.append(
        (
            "grafana-dashboard-configmap.yaml",
            grafana.configmap(facts.app, k.namespace, _labels(facts, "monitoring"), dashboard),
            "ConfigMap: the Grafana dashboard",
        )
    )
    files = [
        GeneratedFile(name, dump_yaml(obj, header(facts, what)), what)
        for name, obj, what in objects
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": k.namespace,
        "resources": [name for name, _, _ in objects],
    }
    files.append(
        GeneratedFile(
            "kustomization.yaml",
            dump_yaml(kustomization, header(facts, "kubectl apply -k")),
            "kustomization",
        )
    )
    files += monitoring
    files.append(_operator_file(facts))
    if not (k.workspace_claim or facts.bake or facts.remote_tracking):
        warnings.append(
            "the pods have no registry: the workspace is an empty emptyDir; rerun without "
            "--no-bake, set deploy.k8s.workspace_claim, or track to a server (tracking.uri)"
        )
    if facts.log_kind == "sqlite" and not k.workspace_claim:
        warnings.append(
            "the prediction log is SQLite inside each pod: it is lost with the pod and the "
            "monitor CronJob cannot read it; use PostgreSQL (deploy.serve.log.url) or "
            "deploy.k8s.workspace_claim"
        )
    keys = secret_keys(facts)
    literal = " ".join(f"--from-literal={key}=..." for key in keys)
    steps = []
    if keys:
        steps.append(
            f"kubectl -n {k.namespace} create secret generic {secret} {literal}"
            + ("   # optional keys may be left out" if any(not r for r in keys.values()) else "")
        )
    steps.append(f"kubectl apply -k {shlex.quote(_shown(facts.out))}")
    operator = shlex.quote(_shown(facts.out / OPERATOR_FILE))
    steps.append(f"kubectl apply -f {operator}   # with the prometheus-operator")
    return files, warnings, steps


OPERATOR_FILE = "prometheus-operator.yaml"


def _operator_file(facts: Facts) -> GeneratedFile:
    """The PrometheusRule (the rules file's groups) and the ServiceMonitor."""
    k = facts.recipe.deploy.k8s
    labels = _labels(facts, "monitoring")
    rules = alerts.rules(facts.app, facts.model_name, facts.serve.slo)
    documents = [
        alerts.prometheus_rule(facts.app, k.namespace, labels, rules),
        alerts.service_monitor(facts.app, k.namespace, labels, _selector(facts)),
    ]
    what = "PrometheusRule and ServiceMonitor (prometheus-operator)"
    text = header(facts, what) + "\n" + "---\n".join(dump_yaml(d) for d in documents)
    return GeneratedFile(OPERATOR_FILE, text, what)


def secret_name(facts: Facts) -> str:
    return facts.recipe.deploy.k8s.secret or f"{facts.app}-secrets"


def secret_keys(facts: Facts) -> dict[str, bool]:
    """Key of the Secret → whether it is required."""
    return {key: required for _, key, required in _secret_env(facts)}


def _secret_env(facts: Facts) -> list[tuple[str, str, bool]]:
    """(environment variable, Secret key, required)."""
    out: list[tuple[str, str, bool]] = []
    if facts.serve.api_key_env:
        out.append((facts.serve.api_key_env, "api-key", True))
    if facts.log_kind == "postgresql":
        out.append((LOG_URL_ENV, "log-url", True))
    if facts.uses_redis:
        out.append((CACHE_URL_ENV, "cache-url", True))
    if facts.remote_tracking and facts.tracking_default() is None:  # it holds a password
        out.append((TRACKING_URI_ENV, "tracking-uri", True))
    seen = {env for env, _, _ in out}
    out += [(name, name, False) for name in facts.env_refs if name not in seen]
    return out


def _labels(facts: Facts, component: str) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": facts.app,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "mlctl",
        "mlctl.io/model": facts.app,
    }
    if facts.version is not None:
        labels["app.kubernetes.io/version"] = f"v{facts.version}"
        labels["mlctl.io/model-version"] = str(facts.version)
    return labels


def _selector(facts: Facts) -> dict[str, str]:
    return {"app.kubernetes.io/name": facts.app, "app.kubernetes.io/component": "api"}


def _meta(facts: Facts, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": facts.recipe.deploy.k8s.namespace,
        "labels": _labels(facts, component),
        "annotations": {k: v for k, v in facts.labels.items() if k.startswith("io.mlctl.")},
    }


def _configmap(facts: Facts, recipe_text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(facts, f"{facts.app}-recipe", "config"),
        "data": {_recipe_key(facts): recipe_text},
    }


def _recipe_key(facts: Facts) -> str:
    """The recipe's key in the ConfigMap: its file name, with the characters a ConfigMap
    key may not hold (a space, ...) turned into '-'."""
    return re.sub(r"[^-._a-zA-Z0-9]", "-", facts.recipe_path.name)


def _env(facts: Facts, secret: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    if not facts.remote_tracking:
        env.append({"name": TRACKING_URI_ENV, "value": facts.embedded_tracking_uri()})
    elif facts.tracking_default():
        env.append({"name": TRACKING_URI_ENV, "value": facts.tracking_default()})
    for name, key, required in _secret_env(facts):
        ref = {"name": secret, "key": key}
        if not required:
            ref["optional"] = True
        env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    return env


def _volumes(facts: Facts) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    k = facts.recipe.deploy.k8s
    volumes: list[dict[str, Any]] = [
        {"name": RECIPE_VOLUME, "configMap": {"name": f"{facts.app}-recipe"}}
    ]
    mounts: list[dict[str, Any]] = [
        {
            "name": RECIPE_VOLUME,
            "mountPath": str(facts.recipe_in_image),
            "subPath": _recipe_key(facts),
            "readOnly": True,
        }
    ]
    if k.workspace_claim:
        volumes.append(
            {"name": WORKSPACE_VOLUME, "persistentVolumeClaim": {"claimName": k.workspace_claim}}
        )
    elif not facts.bake:
        volumes.append({"name": WORKSPACE_VOLUME, "emptyDir": {}})
    if k.workspace_claim or not facts.bake:
        mounts.append({"name": WORKSPACE_VOLUME, "mountPath": str(WORKSPACE_DIR)})
    return volumes, mounts


def _security(facts: Facts) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return pod, container


def _resources(facts: Facts) -> dict[str, Any]:
    r = facts.recipe.deploy.k8s.resources
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = {k: v for k, v in getattr(r, part).model_dump().items() if v is not None}
        if values:
            out[part] = values
    return out


def _deployment(facts: Facts, secret: str) -> dict[str, Any]:
    k = facts.recipe.deploy.k8s
    volumes, mounts = _volumes(facts)
    pod_security, container_security = _security(facts)

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": 3,
            "failureThreshold": failures,
        }

    container = {
        "name": "api",
        "image": facts.image,
        "imagePullPolicy": k.image_pull_policy,
        "command": facts.serve_command(),
        "args": facts.recipe_overrides(),
        "ports": [{"name": "http", "containerPort": facts.serve.port, "protocol": "TCP"}],
        "env": _env(facts, secret),
        "resources": _resources(facts),
        # /health answers at once; /ready only once the model is loaded and verified.
        "startupProbe": probe("/health", 2, 30),
        "livenessProbe": probe("/health", 10, 3),
        "readinessProbe": probe("/ready", 5, 2),
        # Endpoints drop the pod before SIGTERM starts the server's drain.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SECONDS)]}}},
        "volumeMounts": mounts,
        "securityContext": container_security,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(facts, facts.app, "api"),
        "spec": {
            "replicas": k.replicas,
            "selector": {"matchLabels": _selector(facts)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": _labels(facts, "api")},
                "spec": {
                    # preStop + serve.drain_seconds + a margin, so no request is cut.
                    "terminationGracePeriodSeconds": facts.grace_seconds + PRESTOP_SECONDS,
                    "securityContext": pod_security,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _service(facts: Facts) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(facts, facts.app, "api"),
        "spec": {
            "type": facts.recipe.deploy.k8s.service_type,
            "selector": _selector(facts),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _cronjob(facts: Facts, secret: str) -> dict[str, Any]:
    k = facts.recipe.deploy.k8s
    volumes, mounts = _volumes(facts)
    pod_security, container_security = _security(facts)
    container = {
        "name": "monitor",
        "image": facts.image,
        "imagePullPolicy": k.image_pull_policy,
        "command": facts.monitor_command(),
        "env": _env(facts, secret),
        "volumeMounts": mounts,
        "securityContext": container_security,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(facts, f"{facts.app}-monitor", "monitor"),
        "spec": {
            "schedule": facts.recipe.monitor.schedule,
            "timeZone": "Etc/UTC",
            # A slow run is never overlapped by the next one (mlctl monitor also locks).
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "jobTemplate": {
                "metadata": {"labels": _labels(facts, "monitor")},
                "spec": {
                    # Exit 3 (attention) fails the Job on purpose: alerting sees it.
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": _labels(facts, "monitor")},
                        "spec": {
                            "restartPolicy": "Never",
                            "securityContext": pod_security,
                            "containers": [container],
                            "volumes": volumes,
                        },
                    },
                },
            },
        },
    }


def _shown(path: Any) -> str:
    """Relative to the current folder when under it (for a command to paste)."""
    import os

    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel
