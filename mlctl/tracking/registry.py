"""The model registry: versions, the ``champion`` / ``challenger`` aliases, rollback.

The champion history is kept as a registered-model tag (a JSON list of
versions), so rollback knows which version was champion before, and every
promotion and rollback records its reason on the version it touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.errors import MlctlError, RegistryError, TrackingError
from mlctl.tracking.runs import input_schema
from mlctl.tracking.workspace import Workspace, quiet_mlflow

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "mlctl.champion_history"
DIGEST_TAG = "mlctl.sha256"  # of the model's artifact files, recorded at registration
# Written by MLflow into a download of a models:/ URI; not part of the stored model.
DOWNLOAD_ONLY = frozenset({"registered_model_meta"})


def tree_digest(folder: str | Path) -> str:
    """SHA-256 over every file under ``folder``: relative path and content, sorted by path.

    A truncated, bit-flipped, added, removed or renamed file changes it. MLflow's own
    download metadata (:data:`DOWNLOAD_ONLY`) is left out.
    """
    root = Path(folder)
    h = hashlib.sha256()
    files = (p for p in root.rglob("*") if p.is_file())
    for path in sorted(p for p in files if p.relative_to(root).as_posix() not in DOWNLOAD_ONLY):
        rel = path.relative_to(root).as_posix().encode()
        h.update(len(rel).to_bytes(8, "big") + rel)
        h.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


@dataclass
class VersionInfo:
    """What a user sees of one registered version."""

    name: str
    version: int
    aliases: list[str]
    run_id: str | None
    created: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def version_info(
    name: str,
    version: int | str,
    aliases: list[str],
    run_id: str | None,
    created_ms: int | None,
    tags: dict[str, str] | None,
    source: str | None,
) -> VersionInfo:
    """A :class:`VersionInfo` from a model version's registry fields; the
    ``mlctl.metric.*`` tags become its ``metrics``."""
    metric = "mlctl.metric."
    tags = dict(tags or {})
    return VersionInfo(
        name=name,
        version=int(version),
        aliases=sorted(aliases),
        run_id=run_id,
        created=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((created_ms or 0) / 1000)),
        tags={k: v for k, v in tags.items() if not k.startswith(metric)},
        metrics={k.removeprefix(metric): float(v) for k, v in tags.items() if k.startswith(metric)},
        source=source,
    )


@dataclass
class LoadedModel:
    """A registered model version loaded for scoring."""

    name: str
    version: int
    aliases: list[str]
    pipeline: Any
    input_schema: list[dict[str, Any]]  # MLflow signature columns: {"name", "type", ...}
    tags: dict[str, str] = field(default_factory=dict)  # the version's tags
    metrics: dict[str, float] = field(default_factory=dict)  # test metrics at registration
    digest: str | None = None  # SHA-256 of the artifact files that were loaded
    example: Any = None  # the input example logged with the model (a DataFrame), if any


def parse_reference(reference: str) -> tuple[str, str]:
    """``churn@champion`` → ("churn", "champion"); ``churn/3`` → ("churn", "3").

    Raises:
        RegistryError: the reference is empty or malformed.
    """
    import re

    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]*)(?:@([A-Za-z0-9_-]+)|/(\d+))?", reference)
    if not match:
        raise RegistryError(
            f"model reference '{reference}' is not of the form NAME, NAME@ALIAS or NAME/VERSION"
        )
    name, alias, version = match.groups()
    return name, alias or version or CHAMPION


class Registry:
    """Registry operations on one tracking URI."""

    def __init__(self, ws: Workspace) -> None:
        from mlflow import MlflowClient

        quiet_mlflow()
        self.ws = ws
        self.client = MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)

    # ---------------------------------------------------------------- queries
    def _model(self, name: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code):
                known = [m.name for m in self.client.search_registered_models(max_results=50)]
                hint = f"registered models: {', '.join(known)}" if known else "no models yet"
                raise RegistryError(f"no registered model named '{name}'; {hint}") from None
            raise TrackingError(f"registry unavailable at {self.ws.tracking_uri}: {exc}") from None

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of a model, newest first."""
        model = self._model(name)
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        found = self.client.search_model_versions(f"name = '{name}'")
        out = [self._info(v, aliases.get(str(v.version), [])) for v in found]
        return sorted(out, key=lambda v: v.version, reverse=True)

    def version(self, name: str, version: int | str) -> VersionInfo:
        """One version (by number or alias)."""
        versions = self.versions(name)
        for v in versions:
            if str(v.version) == str(version) or str(version) in v.aliases:
                return v
        have = ", ".join(str(v.version) for v in versions) or "none"
        aliases = ", ".join(sorted({a for v in versions for a in v.aliases})) or "none"
        raise RegistryError(
            f"model '{name}' has no version or alias '{version}'; versions: {have}; "
            f"aliases: {aliases}"
        )

    def alias_version(self, name: str, alias: str) -> int | None:
        """Version an alias points at, or None."""
        model = self._model(name)
        version = (model.aliases or {}).get(alias)
        return int(version) if version is not None else None

    def champion_history(self, name: str) -> list[int]:
        model = self._model(name)
        return [int(v) for v in json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))]

    def _info(self, v: Any, aliases: list[str]) -> VersionInfo:
        return version_info(
            v.name, v.version, aliases, v.run_id, v.creation_timestamp, v.tags, v.source
        )

    # ---------------------------------------------------------------- changes
    def register(self, model_uri: str, name: str, run_id: str, tags: dict[str, Any]) -> int:
        """A new version of ``name``; on any failure nothing is left half-registered."""
        from mlflow.exceptions import MlflowException

        version = None
        try:
            tags = {**tags, DIGEST_TAG: self.artifact_digest(model_uri)}
            try:
                self.client.create_registered_model(name)
            except MlflowException as exc:
                if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                    raise
            model_id = (
                model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
            )
            mv = self.client.create_model_version(
                name,
                model_uri,
                run_id=run_id,
                tags={k: str(v) for k, v in tags.items()},
                model_id=model_id,
            )
            version = int(mv.version)
            return version
        except BaseException as exc:
            if version is not None:
                self._delete_quietly(name, version)
            if isinstance(exc, MlctlError | KeyboardInterrupt):
                raise
            raise TrackingError(f"could not register model '{name}': {exc}") from None

    def unregister(self, name: str, version: int) -> None:
        """Undo :meth:`register` (and a promotion): the previous champion comes back."""
        try:
            if self.alias_version(name, CHAMPION) == version:
                history = [v for v in self.champion_history(name) if v != version]
                if history:
                    self.client.set_registered_model_alias(name, CHAMPION, str(history[-1]))
                self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        finally:
            self._delete_quietly(name, version)

    def _delete_quietly(self, name: str, version: int) -> None:
        with contextlib.suppress(Exception):
            self.client.delete_model_version(name, str(version))

    def set_challenger(self, name: str, version: int) -> None:
        self.client.set_registered_model_alias(name, CHALLENGER, str(version))

    def promote(self, name: str, version: int, reason: str, force: bool = False) -> VersionInfo:
        """Make ``version`` the champion, remembering the previous one for rollback."""
        info = self.version(name, version)
        if info.tags.get("mlctl.gate") == "failed" and not force:
            raise RegistryError(
                f"version {version} of '{name}' failed its readiness gate; "
                "pass --force to promote it anyway"
            )
        current = self.alias_version(name, CHAMPION)
        if current == info.version:
            return info
        history = self.champion_history(name)
        history.append(info.version)
        self.client.set_registered_model_alias(name, CHAMPION, str(info.version))
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-100:]))
        self.client.set_model_version_tag(name, str(info.version), "mlctl.promoted_reason", reason)
        self.client.set_model_version_tag(
            name, str(info.version), "mlctl.promoted_at", time.strftime("%Y-%m-%dT%H:%M:%S%z")
        )
        if self.alias_version(name, CHALLENGER) == info.version:
            self.client.delete_registered_model_alias(name, CHALLENGER)
        return self.version(name, info.version)

    def rollback(self, name: str, reason: str) -> tuple[int, int]:
        """Move ``champion`` back to the previous champion; returns (from, to)."""
        current = self.alias_version(name, CHAMPION)
        if current is None:
            raise RegistryError(f"model '{name}' has no champion to roll back")
        history = self.champion_history(name)
        while history and history[-1] == current:
            history.pop()
        existing = {v.version for v in self.versions(name)}
        while history and history[-1] not in existing:
            history.pop()
        if not history:
            raise RegistryError(
                f"model '{name}' has no earlier champion than version {current}; "
                "promote a version explicitly instead"
            )
        target = history[-1]
        self.client.set_registered_model_alias(name, CHAMPION, str(target))
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.client.set_model_version_tag(
            name, str(current), "mlctl.rolled_back", f"{stamp}: {reason}"
        )
        self.client.set_model_version_tag(
            name,
            str(target),
            "mlctl.restored_reason",
            f"{stamp}: rollback from {current}: {reason}",
        )
        return current, target

    def load_sklearn(self, name: str, alias: str):
        """The sklearn Pipeline behind an alias, or None if the alias is unset."""
        import mlflow

        version = self.alias_version(name, alias) if self._exists(name) else None
        if version is None:
            return None, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The version's own artifact URI: no dependence on MLflow's global tracking URI.
            uri = self.client.get_model_version_download_uri(name, str(version))
            with own_sys_path():
                model = mlflow.sklearn.load_model(uri)
        return model, version

    def artifact_digest(self, model_uri: str) -> str:
        """:func:`tree_digest` of a model's artifact files, as the store serves them."""
        import mlflow

        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
            warnings.simplefilter("ignore")
            local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
            return tree_digest(local)

    def load_reference(self, reference: str, verify: bool = False) -> LoadedModel:
        """Load ``name@alias`` or ``name/version`` (``name`` alone means ``@champion``).

        With ``verify``, the downloaded files' SHA-256 must equal the digest recorded
        at registration, checked before anything is deserialized.

        Raises:
            RegistryError: malformed reference, unknown model, version or alias (the
                message lists the versions and aliases that exist); with ``verify``, a
                version without a recorded digest or whose files do not match it.
        """
        import mlflow

        name, selector = parse_reference(reference)
        info = self.version(name, selector)
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
            warnings.simplefilter("ignore")
            uri = self.client.get_model_version_download_uri(name, str(info.version))
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            digest = tree_digest(local)
            if verify:
                expected = info.tags.get(DIGEST_TAG)
                if not expected:
                    raise RegistryError(
                        f"{name} version {info.version} has no recorded SHA-256 "
                        f"({DIGEST_TAG}); refusing to load an unverified artifact",
                        hint="register it again with this mlctl (mlctl run)",
                    )
                if digest != expected:
                    raise RegistryError(
                        f"{name} version {info.version}: the model files do not match the "
                        f"SHA-256 recorded at registration (expected {expected[:12]}…, "
                        f"found {digest[:12]}…); refusing to load them",
                        hint="the artifact was changed or damaged after registration",
                    )
            with own_sys_path():
                pipeline = mlflow.sklearn.load_model(local)  # fully in memory afterwards
            meta = mlflow.models.Model.load(local)
            try:
                example = meta.load_input_example(local)
            except Exception:  # an example is a convenience; its absence is not an error
                example = None
        schema = input_schema(meta)
        return LoadedModel(
            name,
            info.version,
            info.aliases,
            pipeline,
            schema,
            info.tags,
            info.metrics,
            digest,
            example,
        )

    def _exists(self, name: str) -> bool:
        try:
            self._model(name)
        except RegistryError:
            return False
        return True


@contextlib.contextmanager
def own_sys_path():
    """Put ``sys.path`` back after MLflow loads a model.

    MLflow prepends a model's ``code`` folder (its copy of ``mlctl_runtime``) to
    ``sys.path`` and leaves it there: in a server that reloads models, the path would
    grow with folders that no longer exist. mlctl never imports from them: ``import
    mlctl`` already holds the installed ``mlctl_runtime`` (mlctl/_runtime.py).
    """
    import sys

    saved = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved
