"""What every deploy target shares: the plan it returns, and the facts it is built from.

A target never writes anything: it returns a :class:`Plan` (file contents as text,
generated from data structures) that :func:`mlctl.deploy.write_plan` writes, so the
CLI can show, check or refuse it first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from mlctl import __version__
from mlctl.paths import tracking_db
from mlctl.predlog.schema import default_url

APP_DIR = PurePosixPath("/app")  # the build context is copied here
WORKSPACE_DIR = PurePosixPath("/data/.mlctl")  # the workspace inside the containers
UID = 10001  # the non-root user of the image
DRAIN_MARGIN_SECONDS = 10  # k8s grace and compose stop period beyond serve.drain_seconds
PRESTOP_SECONDS = 5  # k8s: time for endpoints to drop the pod before SIGTERM

# Overrides of these keys shape the generated files; the containers do not need them.
GENERATION_ONLY = (
    "deploy.image",
    "deploy.docker",
    "deploy.k8s",
    "deploy.github_actions",
    "monitor.schedule",
)
LOG_URL_ENV = "MLCTL_LOG_URL"
CACHE_URL_ENV = "MLCTL_CACHE_URL"
TRACKING_URI_ENV = "MLCTL_TRACKING_URI"


@dataclass
class GeneratedFile:
    """One file of a plan, relative to the output folder."""

    path: str
    content: str
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "what": self.what, "bytes": len(self.content.encode())}


@dataclass
class Bake:
    """The served version's registry, written into the build context (see :mod:`.bake`)."""

    source: Path  # the workspace folder
    database: Path  # its SQLite tracking database
    dest: str  # relative to the output folder
    name: str  # the served model
    version: int  # and version: the only one baked
    bytes: int | None = None  # the size written (set by write_plan)


@dataclass
class Plan:
    """What ``mlctl deploy`` generates for one target."""

    target: str
    out: Path
    files: list[GeneratedFile]
    model: dict[str, Any] | None = None  # name, version, alias (None: github-actions)
    image: str | None = None
    bake: Bake | None = None
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why the model is (not) baked

    def paths(self) -> list[Path]:
        """Every path the plan writes (the bake folder as one entry)."""
        out = [self.out / f.path for f in self.files]
        if self.bake:
            out.append(self.out / self.bake.dest)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "out": str(self.out),
            "model": self.model,
            "image": self.image,
            "files": [f.to_dict() for f in self.files],
            "bake": str(self.out / self.bake.dest) if self.bake else None,
            "bake_bytes": self.bake.bytes if self.bake else None,
            "notes": self.notes,
            "warnings": self.warnings,
            "next_steps": self.next_steps,
        }


@dataclass
class Facts:
    """The recipe and command line, reduced to what the generators need."""

    recipe: Any  # mlctl.recipe.schema.Recipe
    recipe_path: Path
    recipe_text: str  # the recipe file as written (its ${oc.env:...} unresolved)
    context: Path  # the build context (absolute)
    out: Path  # the output folder (absolute)
    overrides: list[str]
    model_name: str
    version: int | None
    alias: str
    pinned: bool  # serve the version itself, not the alias
    image_repo: str
    registry: str | None
    env_refs: list[str]  # ${oc.env:NAME} names in the recipe file and the containers' overrides
    bake: bool = False
    # The registry that was read when it is a tracking server (MLCTL_TRACKING_URI, ...):
    # the containers read it too. None: the recipe's tracking.uri decides.
    tracking_uri: str | None = None

    @property
    def image(self) -> str:
        tag = f"v{self.version}" if self.version is not None else "latest"
        repo = (
            f"{self.registry.rstrip('/')}/{self.image_repo}" if self.registry else self.image_repo
        )
        return f"{repo}:{tag}"

    @property
    def app(self) -> str:
        """A DNS-1035 label (a DNS-1123 label that starts with a letter, as Service names
        must) for object, service and project names."""
        name = re.sub(r"[^a-z0-9-]+", "-", self.model_name.lower()).strip("-")
        if not name[:1].isalpha():
            name = f"mlctl-{name}".rstrip("-")
        return name[:40].rstrip("-")

    @property
    def recipe_in_image(self) -> PurePosixPath:
        return APP_DIR / self.recipe_path.relative_to(self.context).as_posix()

    @property
    def serve(self) -> Any:
        return self.recipe.deploy.serve

    @property
    def labels(self) -> dict[str, str]:
        """Image / object labels naming the model and version."""
        out = {
            "org.opencontainers.image.title": self.image_repo,
            "org.opencontainers.image.description": f"mlctl serve: model {self.model_name}",
            "io.mlctl.model.name": self.model_name,
            "io.mlctl.model.alias": self.alias,
            "io.mlctl.mlctl.version": __version__,
        }
        if self.version is not None:
            out["org.opencontainers.image.version"] = f"v{self.version}"
            out["io.mlctl.model.version"] = str(self.version)
        out["io.mlctl.model.baked"] = "true" if self.bake else "false"
        return out

    # ---------------------------------------------------------- container runtime
    @property
    def log_kind(self) -> str:
        """sqlite or postgresql: where the served model's predictions go."""
        url = self.serve.log.url or ""
        return "postgresql" if url.startswith(("postgresql", "postgres")) else "sqlite"

    @property
    def uses_redis(self) -> bool:
        return self.serve.cache.backend == "redis"

    @property
    def remote_tracking(self) -> bool:
        uri = self.tracking_uri or self.recipe.tracking.uri
        return bool(uri) and not uri.startswith("sqlite:")

    def runtime_overrides(self) -> list[str]:
        """The command line's overrides, but those of the deployment settings and of the
        URLs :meth:`recipe_overrides` sets for the containers."""
        replaced = []
        if self.log_kind == "postgresql" or self.serve.log.url:
            replaced.append("deploy.serve.log.url=")
        if self.uses_redis:
            replaced.append("deploy.serve.cache.url=")
        return [
            o
            for o in self.overrides
            if not o.lstrip("+~").startswith((*GENERATION_ONLY, *replaced))
        ]

    def recipe_overrides(self) -> list[str]:
        """Hydra overrides the containers add to the recipe: :meth:`runtime_overrides` and
        the URLs that differ in there."""
        out = self.runtime_overrides()
        if self.log_kind == "postgresql":
            out.append(f"deploy.serve.log.url=${{oc.env:{LOG_URL_ENV}}}")
        elif self.serve.log.url:  # a SQLite file of this machine means nothing in there
            out.append(f"deploy.serve.log.url={default_url(WORKSPACE_DIR)}")
        if self.uses_redis:
            out.append(f"deploy.serve.cache.url=${{oc.env:{CACHE_URL_ENV}}}")
        return out

    def model_option(self) -> list[str]:
        """``--model`` for serve and monitor when the deployment serves another model or
        alias than the recipe's (``mlctl deploy --model``)."""
        if self.pinned:
            return ["--model", f"{self.model_name}/{self.version}"]
        if (self.model_name, self.alias) != (self.recipe.model_name, self.serve.alias):
            return ["--model", f"{self.model_name}@{self.alias}"]
        return []

    def serve_command(self) -> list[str]:
        model = self.model_option()
        return [
            "mlctl",
            "serve",
            str(self.recipe_in_image),
            *model,
            "--host",
            "0.0.0.0",
            "--port",
            str(self.serve.port),
            "--workers",
            str(self.serve.workers),
            "--workspace",
            str(WORKSPACE_DIR),
        ]

    def monitor_command(self) -> list[str]:
        model = self.model_option()
        return [
            "mlctl",
            "monitor",
            str(self.recipe_in_image),
            *self.recipe_overrides(),
            *model,
            "--workspace",
            str(WORKSPACE_DIR),
        ]

    def embedded_tracking_uri(self) -> str:
        return f"sqlite:///{tracking_db(WORKSPACE_DIR)}"

    def tracking_default(self) -> str | None:
        """The recipe's remote tracking URI without credentials (None if it had some)."""
        uri = self.tracking_uri or self.recipe.tracking.uri or ""
        return None if has_password(uri) else uri

    def healthcheck_command(self) -> list[str]:
        url = f"http://127.0.0.1:{self.serve.port}/health"
        code = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=4)"
        return ["python", "-c", code]

    @property
    def grace_seconds(self) -> int:
        import math

        return math.ceil(self.serve.drain_seconds) + DRAIN_MARGIN_SECONDS


def has_password(url: str) -> bool:
    """A URL that carries a password (``scheme://user:secret@host``)."""
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def url_parts(url: str) -> tuple[str | None, str | None]:
    """(user, database) of a database URL; never the password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None, None
    return parts.username, (parts.path.lstrip("/") or None)


ENV_REF = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)")
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:[^\s@'\"$]+@", re.I)


class _Dumper(yaml.SafeDumper):
    """No ``&id001`` anchors: a value shared by two services is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    """Multi-line strings (shell steps) as literal blocks, as a person would write them."""
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def dump_yaml(document: Any, header: str | None = None) -> str:
    """Block-style YAML with keys in the order given; a ``# comment`` header on top."""
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)
    return (header + "\n" if header else "") + text


def header(facts: Facts, what: str) -> str:
    version = f" version {facts.version}" if facts.version is not None else ""
    return (
        f"# {what}\n# Generated by mlctl {__version__} (mlctl deploy) from "
        f"{facts.recipe_path.relative_to(facts.context).as_posix()}: model "
        f"{facts.model_name}{version} ({facts.alias}). See docs/deployment.md."
    )
