"""The model registry: versions, the ``champion`` / ``challenger`` aliases, rollback.

The champion history is kept as a registered-model tag (a JSON list of
versions), so rollback knows which version was champion before, and every
promotion and rollback records its reason on the version it touched.

A gradual rollout (``mlctl rollout``) keeps its state as ``mlctl.rollout.*`` tags on
the version it rolls out, so every server process and pod reads the same split
(:meth:`Registry.rollout_share`).
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from mlctl import interrupts
from mlctl.errors import MlctlError, RegistryError, TrackingError
from mlctl.redact import redact_text
from mlctl.tracking.artifacts import (  # noqa: F401 (DIGEST_TAG: public here too)
    DIGEST_TAG,
    load_verified_model,
    registration_tags,
    verify_version,
)
from mlctl.tracking.workspace import Workspace, quiet_mlflow

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "mlctl.champion_history"
ROLLED_BACK_TAG = "mlctl.rolled_back"

# A rollout's state, tags on the version rolled out (docs/operations.md).
ROLLOUT_STATUS_TAG = "mlctl.rollout.status"  # RUNNING, AWAITING_APPROVAL, ...
ROLLOUT_PERCENT_TAG = "mlctl.rollout.percent"  # the challenger's share now
ROLLOUT_STEP_TAG = "mlctl.rollout.step"  # index in deploy.rollout.steps
ROLLOUT_STARTED_TAG = "mlctl.rollout.step_started"  # ISO 8601 UTC
ROLLOUT_TAGS = (ROLLOUT_STATUS_TAG, ROLLOUT_PERCENT_TAG, ROLLOUT_STEP_TAG, ROLLOUT_STARTED_TAG)
RUNNING = "running"
AWAITING_APPROVAL = "awaiting_approval"
PROMOTED = "promoted"  # at 100 %: watched for one more step, then DONE
DONE = "done"
ROLLED_BACK = "rolled_back"
#: Statuses in which the challenger gets the rollout's share of the traffic.
ROLLOUT_LIVE = (RUNNING, AWAITING_APPROVAL)


@dataclass(frozen=True)
class RolloutShare:
    """The challenger alias and what its rollout gives it (what ``mlctl serve`` polls).

    ``percent`` is None when no rollout runs on it (the server then uses
    ``deploy.serve.traffic.challenger_percent``); 0 for a version rolled back."""

    version: int | None
    status: str | None
    percent: float | None


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
    ``mlctl.test_metrics`` tag (or, on versions registered before it, the
    ``mlctl.metric.*`` tags) becomes its ``metrics``."""
    tags = dict(tags or {})
    metrics = version_metrics(tags)
    return VersionInfo(
        name=name,
        version=int(version),
        aliases=sorted(aliases),
        run_id=run_id,
        created=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((created_ms or 0) / 1000)),
        tags={
            k: v
            for k, v in tags.items()
            if k != METRICS_TAG and not k.startswith(OLD_METRIC_PREFIX)
        },
        metrics=metrics,
        source=source,
    )


#: One version tag holds every test-set metric, as a JSON object of 6 significant
#: digits: one line in the MLflow UI instead of one tag per metric.
METRICS_TAG = "mlctl.test_metrics"
OLD_METRIC_PREFIX = "mlctl.metric."  # one tag per metric, before mlctl.test_metrics


def metrics_tag(metrics: dict[str, float]) -> str:
    """The ``mlctl.test_metrics`` value: finite metrics only, 6 significant digits."""
    return json.dumps(
        {k: float(f"{v:.6g}") for k, v in metrics.items() if v is not None and math.isfinite(v)}
    )


def version_metrics(tags: dict[str, str]) -> dict[str, float]:
    """A version's test metrics from its tags; an unreadable tag gives none."""
    out = {
        k.removeprefix(OLD_METRIC_PREFIX): float(v)
        for k, v in tags.items()
        if k.startswith(OLD_METRIC_PREFIX)
    }
    try:
        found = json.loads(tags.get(METRICS_TAG) or "{}")
    except ValueError:
        found = {}
    if isinstance(found, dict):
        out.update({k: float(v) for k, v in found.items() if isinstance(v, int | float)})
    return out


@dataclass(frozen=True)
class RegistryState:
    """A registered model's aliases and tags before a run changed them, so that
    :meth:`Registry.unregister` can put them back."""

    name: str
    existed: bool
    aliases: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


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

    def rollout_share(self, name: str) -> RolloutShare:
        """The challenger version and the share of the traffic its rollout gives it."""
        version = self.alias_version(name, CHALLENGER)
        if version is None:
            return RolloutShare(None, None, None)
        tags = self.version_tags(name, version)
        status = tags.get(ROLLOUT_STATUS_TAG)
        percent: float | None = None
        if status == ROLLED_BACK:
            percent = 0.0
        elif status in ROLLOUT_LIVE:
            try:
                percent = min(100.0, max(0.0, float(tags.get(ROLLOUT_PERCENT_TAG, "0"))))
            except ValueError:
                percent = 0.0  # a damaged tag: no traffic rather than a guess
        return RolloutShare(version, status, percent)

    def version_tags(self, name: str, version: int | str) -> dict[str, str]:
        """The tags of one version (one registry read)."""
        return dict(self.client.get_model_version(name, str(version)).tags or {})

    def set_version_tags(self, name: str, version: int | str, tags: dict[str, str]) -> None:
        """Set several tags of a version, signals held until all are written."""
        with interrupts.deferred():
            for key, value in tags.items():
                self.client.set_model_version_tag(name, str(version), key, str(value))

    def delete_version_tags(self, name: str, version: int | str, keys: list[str]) -> None:
        present = self.version_tags(name, version)
        with interrupts.deferred():
            for key in keys:
                if key in present:
                    self.client.delete_model_version_tag(name, str(version), key)

    def withdraw_challenger(self, name: str, version: int, reason: str) -> None:
        """Roll back a challenger before its promotion: the ``challenger`` alias goes
        (if it still names ``version``), its rollout share drops to 0, its status
        becomes rolled back and ``mlctl.rolled_back`` says when and why."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with interrupts.deferred():
            if self.alias_version(name, CHALLENGER) == version:
                self.client.delete_registered_model_alias(name, CHALLENGER)
            self.set_version_tags(
                name,
                version,
                {
                    ROLLOUT_STATUS_TAG: ROLLED_BACK,
                    ROLLOUT_PERCENT_TAG: "0",
                    ROLLED_BACK_TAG: f"{stamp}: {reason}",
                },
            )

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
            tags = {**tags, **self._registration_tags(model_uri)}
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

    def state(self, name: str) -> RegistryState:
        """The aliases and tags of model ``name`` now (``existed`` False: no such model)."""
        try:
            model = self._model(name)
        except RegistryError:
            return RegistryState(name, existed=False)
        aliases = {a: int(v) for a, v in (model.aliases or {}).items()}
        return RegistryState(name, True, aliases, dict(model.tags or {}))

    def unregister(self, name: str, version: int, before: RegistryState | None = None) -> None:
        """Undo :meth:`register` and what followed it (alias, promotion), signals held
        until done: the aliases ``version`` took go back where they were, the model's
        tags are put back, the version is deleted, and a model that did not exist
        ``before`` goes too. Without ``before``, the previous champion comes back."""
        with interrupts.deferred():
            try:
                if before is None:
                    self._restore_champion(name, version)
                else:
                    self._restore(before, version)
            finally:
                self._delete_quietly(name, version)
                if before is not None and not before.existed:
                    self._delete_model_if_empty(name)

    def _restore_champion(self, name: str, version: int) -> None:
        if self.alias_version(name, CHAMPION) == version:
            history = [v for v in self.champion_history(name) if v != version]
            if history:
                self.client.set_registered_model_alias(name, CHAMPION, str(history[-1]))
            self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))

    def _restore(self, before: RegistryState, version: int) -> None:
        """Aliases and model tags as in ``before``; only what this version changed."""
        if not before.existed:
            return
        model = self._model(before.name)
        now = {a: int(v) for a, v in (model.aliases or {}).items()}
        for alias, old in before.aliases.items():
            if now.get(alias) != old and (now.get(alias) in (None, version)):
                with contextlib.suppress(Exception):  # the old version may be gone
                    self.client.set_registered_model_alias(before.name, alias, str(old))
        for alias, v in now.items():
            if v == version and alias not in before.aliases:
                self.client.delete_registered_model_alias(before.name, alias)
        tags = dict(model.tags or {})
        for key in set(tags) | set(before.tags):
            if key not in before.tags:
                self.client.delete_registered_model_tag(before.name, key)
            elif tags.get(key) != before.tags[key]:
                self.client.set_registered_model_tag(before.name, key, before.tags[key])

    def _delete_model_if_empty(self, name: str) -> None:
        with contextlib.suppress(Exception):
            if not self.client.search_model_versions(f"name = '{name}'"):
                self.client.delete_registered_model(name)

    def _delete_quietly(self, name: str, version: int) -> None:
        with contextlib.suppress(Exception):
            self.client.delete_model_version(name, str(version))

    def describe(self, name: str, version: int, description: str) -> None:
        """Set the version's description (what the MLflow UI shows on its page)."""
        self.client.update_model_version(name, str(version), description=redact_text(description))

    def set_challenger(self, name: str, version: int) -> None:
        self.client.set_registered_model_alias(name, CHALLENGER, str(version))

    def promote(
        self, name: str, version: int, reason: str, force: bool = False, check_files: bool = True
    ) -> VersionInfo:
        """Make ``version`` the champion, remembering the previous one for rollback.

        Its files are checked against their recorded SHA-256 first (``check_files``;
        :meth:`register` has just computed it for a new version).

        Raises:
            RegistryError: unknown version, or one that failed its gate (without ``force``).
            ModelRejected: the version's files do not match their recorded SHA-256.
        """
        info = self.verify(name, version) if check_files else self.version(name, version)
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
        with interrupts.deferred():  # alias, history and tags move together
            self.client.set_registered_model_alias(name, CHAMPION, str(info.version))
            interrupts.checkpoint("promote")
            self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-100:]))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            self.client.set_model_version_tag(
                name, str(info.version), "mlctl.promoted_reason", reason
            )
            self.client.set_model_version_tag(name, str(info.version), "mlctl.promoted_at", stamp)
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
        self.verify(name, target)  # never back to files that changed since
        with interrupts.deferred():
            self._move_back(name, current, target, history, reason)
        return current, target

    def _move_back(
        self, name: str, current: int, target: int, history: list[int], reason: str
    ) -> None:
        self.client.set_registered_model_alias(name, CHAMPION, str(target))
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.client.set_model_version_tag(name, str(current), ROLLED_BACK_TAG, f"{stamp}: {reason}")
        self.client.set_model_version_tag(
            name,
            str(target),
            "mlctl.restored_reason",
            f"{stamp}: rollback from {current}: {reason}",
        )

    def load_sklearn(self, name: str, alias: str):
        """The verified sklearn Pipeline behind an alias, or None if the alias is unset."""

        version = self.alias_version(name, alias) if self._exists(name) else None
        if version is None:
            return None, None
        return load_verified_model(self, f"{name}/{version}").pipeline, version

    def _registration_tags(self, model_uri: str) -> dict[str, str]:
        import mlflow

        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
            warnings.simplefilter("ignore")
            local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
            return registration_tags(local)

    def load_reference(self, reference: str, verify: bool = True) -> LoadedModel:
        """:func:`~mlctl.tracking.artifacts.load_verified_model`: every load is verified
        against the SHA-256 recorded at registration before anything is deserialized.

        Raises:
            RegistryError: as :func:`~mlctl.tracking.artifacts.load_verified_model`.
            ValueError: ``verify`` is False; mlctl never loads an unverified model.
        """
        if not verify:
            raise ValueError("mlctl never loads a registered model without verifying it")
        return load_verified_model(self, reference)

    def verify(self, name: str, version: int | str) -> VersionInfo:
        """:func:`~mlctl.tracking.artifacts.verify_version` (nothing deserialized)."""
        return verify_version(self, name, version)

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
