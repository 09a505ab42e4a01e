"""Checks every generated deploy file must pass: it parses, and it is valid against the
official schema (Kubernetes' OpenAPI schemas bundled by kubernetes-validate; the compose
spec and GitHub's workflow schema vendored by check-jsonschema), all offline."""

from __future__ import annotations

import json
import shlex
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

K8S_VERSION = "1.30.0"


@cache
def _schema(name: str) -> Any:
    import jsonschema

    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(name).read_text()
    schema = json.loads(text)
    return jsonschema.validators.validator_for(schema)(schema)


def schema_errors(name: str, document: Any) -> list[str]:
    """Messages of every violation of a vendored schema (compose-spec.json, ...)."""
    validator = _schema(name)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def check_compose(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert schema_errors("compose-spec.json", document) == []
    return document


def check_workflow(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert schema_errors("github-workflows.json", document) == []
    for job in document["jobs"].values():
        for step in job["steps"]:
            if "run" in step:  # each line of a step is a shell command that tokenizes
                for line in step["run"].splitlines():
                    shlex.split(line, comments=True)
    return document


def check_k8s(text: str) -> dict[str, Any]:
    import kubernetes_validate

    document = yaml.safe_load(text)
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:  # the message is the whole schema
        raise AssertionError(f"{document.get('kind')}: {str(exc).splitlines()[0]}") from None
    return document


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined; exec forms must be JSON."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    known = {
        "FROM", "ENV", "LABEL", "RUN", "WORKDIR", "COPY", "VOLUME", "USER", "EXPOSE",
        "HEALTHCHECK", "ENTRYPOINT", "CMD",
    }  # fmt: skip
    assert {word for word, _ in out} <= known, out
    assert out[0][0] == "FROM"
    for word, rest in out:
        if word in {"ENTRYPOINT", "CMD"}:
            assert isinstance(json.loads(rest), list)
    return out


def exec_form(instructions: list[tuple[str, str]], word: str) -> list[str]:
    [rest] = [r for w, r in instructions if w == word]
    if word == "HEALTHCHECK":
        rest = rest.split(" CMD ", 1)[1]
    return json.loads(rest)


def read(folder: Path, name: str) -> str:
    return (folder / name).read_text()
