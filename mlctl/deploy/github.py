"""``--target github-actions``: validate, train and gate in CI; build the image on the
default branch."""

from __future__ import annotations

import re
import shlex
from typing import Any

from mlctl.deploy.plan import Facts, GeneratedFile, dump_yaml, header

DEPLOY_DIR = ".mlctl-deploy"  # generated in CI, next to the checkout, never committed
ON_DEFAULT_BRANCH = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"


def workflow_path(facts: Facts) -> str:
    return f".github/workflows/mlctl-{facts.app}.yml"


# ${oc.env:NAME} without a default: loading the recipe fails unless NAME is set.
REQUIRED_ENV = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)\}")


def required_env(facts: Facts) -> list[str]:
    """The variables the job's recipe needs (no default): each from the repository secret
    of that name. One with a default is left out, so that an absent secret (an empty
    string in GitHub) does not replace the default."""
    gha = facts.recipe.deploy.github_actions
    texts = [facts.recipe_text, *facts.overrides, *gha.run_overrides]
    names = {n for text in texts for n in REQUIRED_ENV.findall(text)}
    return sorted(names - {"MLCTL_TRACKING_URI"})


def generate(facts: Facts) -> tuple[list[GeneratedFile], list[str]]:
    path = workflow_path(facts)
    text = dump_yaml(_workflow(facts), header(facts, "GitHub Actions: validate, train, gate"))
    steps = [f"git add {path} && git commit -m 'CI for {facts.model_name}' && git push"]
    return [GeneratedFile(path, text, "GitHub Actions workflow")], steps


def _workflow(facts: Facts) -> dict[str, Any]:
    gha = facts.recipe.deploy.github_actions
    req = facts.recipe.deploy.image.mlctl_requirement
    recipe = facts.recipe_path.relative_to(facts.context).as_posix()
    overrides = " ".join(shlex.quote(o) for o in [*facts.runtime_overrides(), *gha.run_overrides])
    args = f"{shlex.quote(recipe)}{' ' + overrides if overrides else ''}"
    # The CI deploy step regenerates these files' docker twin with the same settings.
    deploy_args = " ".join(shlex.quote(a) for a in [recipe, *facts.overrides, *gha.run_overrides])
    flags = (
        ("--image", facts.image_repo),
        ("--registry", facts.registry),
        ("--mlctl-requirement", None if req == "." else req),
    )
    for flag, value in flags:
        if value:
            deploy_args += f" {flag} {shlex.quote(value)}"
    install = (
        "python -m pip install ." if req == "." else f"python -m pip install {shlex.quote(req)}"
    )
    steps: list[dict[str, Any]] = [
        {"name": "Check out", "uses": "actions/checkout@v4"},
        {
            "name": "Set up Python",
            "uses": "actions/setup-python@v5",
            "with": {"python-version": gha.python, "cache": "pip"},
        },
        {"name": "Install mlctl", "run": install},
        {"name": "Validate the recipe and its data", "run": f"mlctl validate {args}"},
        {
            # Exit code 3 (trained but not ready) or 4 (bad input) fails the job.
            "name": "Train, evaluate and gate",
            "id": "run",
            "env": {"PROMOTE": "${{ " + ON_DEFAULT_BRANCH + " && '--promote --yes' || '' }}"},
            "run": f"mlctl run {args} $PROMOTE --json > mlctl-run.json",
        },
        {
            "name": "Upload the evaluation report",
            "if": "always()",
            "uses": "actions/upload-artifact@v4",
            "with": {
                "name": f"mlctl-{facts.app}-report",
                "path": ".mlctl/reports/\nmlctl-run.json",
                "if-no-files-found": "warn",
            },
        },
        {
            "name": "Generate the deployment files",
            "if": ON_DEFAULT_BRANCH,
            "id": "deploy",
            "run": (
                "# The served version of the job's workspace is baked in; a tracking server\n"
                "# (the MLCTL_TRACKING_URI secret) is read at run time instead.\n"
                f"mlctl deploy {deploy_args} --target docker --out {DEPLOY_DIR} --overwrite "
                "--json > mlctl-deploy.json\n"
                "echo \"image=$(python -c 'import json; "
                'print(json.load(open("mlctl-deploy.json"))["image"])\')" >> "$GITHUB_OUTPUT"'
            ),
        },
    ]
    registry = facts.recipe.deploy.image.registry
    if registry:
        host = registry.split("/")[0]
        ghcr = host == "ghcr.io"
        steps.append(
            {
                "name": "Log in to the image registry",
                "if": ON_DEFAULT_BRANCH,
                "uses": "docker/login-action@v3",
                "with": {
                    "registry": host,
                    "username": "${{ github.actor }}"
                    if ghcr
                    else "${{ secrets.REGISTRY_USERNAME }}",
                    "password": (
                        "${{ secrets.GITHUB_TOKEN }}"
                        if ghcr
                        else "${{ secrets.REGISTRY_PASSWORD }}"
                    ),
                },
            }
        )
    build = f'docker build -f {DEPLOY_DIR}/Dockerfile -t "$IMAGE" .'
    if registry:
        build += '\ndocker push "$IMAGE"'
    steps.append(
        {
            "name": "Build the image" + (" and push it" if registry else ""),
            "if": ON_DEFAULT_BRANCH,
            "env": {"IMAGE": "${{ steps.deploy.outputs.image }}"},
            "run": build,
        }
    )
    return {
        "name": f"mlctl {facts.model_name}",
        "on": {
            "push": {"branches": ["**"]},
            "pull_request": {},
            "workflow_dispatch": {},
        },
        "permissions": {"contents": "read", "packages": "write"},
        "concurrency": {
            "group": "mlctl-" + facts.app + "-${{ github.ref }}",
            "cancel-in-progress": True,
        },
        "env": {
            # A team tracking server, if the repository has one (empty: the job's .mlctl).
            "MLCTL_TRACKING_URI": "${{ secrets.MLCTL_TRACKING_URI }}",
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
            **{name: "${{ secrets." + name + " }}" for name in required_env(facts)},
        },
        "jobs": {
            "train": {
                "runs-on": "ubuntu-latest",
                "timeout-minutes": gha.timeout_minutes,
                "steps": steps,
            }
        },
    }
