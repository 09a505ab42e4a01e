"""The workspace folder and the MLflow tracking / registry URIs.

The folder's layout is :mod:`mlctl.paths` (see docs/tracking.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlctl import interrupts
from mlctl.errors import RegistryError, TrackingError
from mlctl.paths import DEFAULT_WORKSPACE, artifacts_dir, reports_dir, tracking_db
from mlctl.tracking import store_template

if TYPE_CHECKING:
    from mlctl.recipe.loaded import LoadedRecipe

try:
    import fcntl
except ImportError:  # Windows: no workspace lock (documented)
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Workspace:
    """Where mlctl keeps its tracking store, artifacts and reports."""

    root: Path
    tracking_uri: str
    artifact_location: str | None  # None: let the tracking server decide

    @property
    def reports(self) -> Path:
        return reports_dir(self.root)

    @property
    def is_embedded(self) -> bool:
        """A local SQLite store whose artifacts live in the workspace."""
        return self.artifact_location is not None

    @property
    def database(self) -> Path | None:
        """The SQLite file of a ``sqlite:///`` URI, if it is one."""
        if not self.tracking_uri.startswith("sqlite:///"):
            return None
        return Path(self.tracking_uri.removeprefix("sqlite:///")).expanduser()


def resolve_workspace(
    workspace: str | Path | None = None,
    recipe_workspace: str | Path | None = None,
    recipe_uri: str | None = None,
) -> Workspace:
    """Pick the workspace and tracking URI.

    Order: ``--workspace`` > the recipe's ``tracking.workspace`` (the caller resolves it
    against the recipe's folder) > ``.mlctl`` in the current folder. Tracking URI: ``MLCTL_TRACKING_URI`` > ``MLFLOW_TRACKING_URI`` >
    the recipe's ``tracking.uri`` > SQLite in the workspace.
    """
    root = Path(workspace or recipe_workspace or DEFAULT_WORKSPACE).expanduser().resolve()
    uri = (
        os.environ.get("MLCTL_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI") or recipe_uri
    )
    if uri and uri.startswith("sqlite:"):
        # A local database keeps its artifacts in the workspace too, not in ./mlruns.
        return Workspace(root, uri, artifacts_dir(root).as_uri())
    if uri:
        return Workspace(root, uri, None)
    return Workspace(root, f"sqlite:///{tracking_db(root)}", artifacts_dir(root).as_uri())


def for_recipe(loaded: LoadedRecipe, workspace: str | Path | None = None) -> Workspace:
    """The workspace of a recipe: ``--workspace``, else its ``tracking.workspace``
    (relative to the recipe's folder), else ``.mlctl`` here; env URIs win as usual."""
    r = loaded.recipe
    recipe_ws = loaded.resolve_path(r.tracking.workspace) if r.tracking.workspace else None
    return resolve_workspace(workspace, recipe_ws, r.tracking.uri)


def open_existing(ws: Workspace) -> None:
    """:func:`prepare` for commands that read a store: a SQLite file that does not exist
    is an error, not a new empty store.

    Raises:
        RegistryError: the database file does not exist.
        TrackingError: as :func:`prepare`.
    """
    if ws.database is not None and not ws.database.exists():
        raise RegistryError(
            f"no tracking database at {ws.database}, so no registered model yet",
            hint="train one first with 'mlctl run RECIPE', or pass --workspace / set "
            "MLCTL_TRACKING_URI",
        )
    prepare(ws)


def prepare(ws: Workspace) -> None:
    """Create the workspace folders and check the tracking store answers.

    Raises:
        TrackingError: the folder cannot be created or written, or the tracking
            store does not answer.
    """
    quiet_mlflow()
    if not ws.is_embedded:
        ping(ws.tracking_uri)  # before creating anything for a store we cannot reach
    try:
        ws.root.mkdir(parents=True, exist_ok=True)
        (ws.root / ".gitignore").write_text("*\n") if not (
            ws.root / ".gitignore"
        ).exists() else None
        if ws.is_embedded:
            artifacts_dir(ws.root).mkdir(exist_ok=True)
    except OSError as exc:
        raise TrackingError(
            f"workspace {ws.root} cannot be created or written: {exc.strerror or exc}",
            hint="pass --workspace DIR or set tracking.workspace in the recipe",
        ) from None
    if ws.is_embedded:
        with workspace_lock(ws):
            _create_database(ws)
            ping(ws.tracking_uri)


LOCK_SECONDS = 120.0  # how long a command waits for another one creating the store


@contextlib.contextmanager
def workspace_lock(ws: Workspace) -> Iterator[None]:
    """An exclusive lock next to an embedded workspace's SQLite file, held while the
    store is created or its schema checked: MLflow's schema migration is not safe to
    run twice at once (:func:`file_lock`).

    Raises:
        TrackingError: as :func:`file_lock`.
    """
    db = ws.database
    if db is None:
        yield
        return
    with file_lock(db.with_name(db.name + ".lock"), LOCK_SECONDS, "the workspace lock"):
        yield


@contextlib.contextmanager
def file_lock(path: Path, seconds: float, what: str) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``path``, waited for up to ``seconds``. The kernel
    drops it when its process ends, however it ends, so a killed command leaves no
    stale lock. No lock where ``fcntl`` is missing (Windows).

    Raises:
        TrackingError: the lock file cannot be opened, or another process held the
            lock for ``seconds``.
    """
    if fcntl is None:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise TrackingError(f"cannot open {what} {path}: {exc.strerror or exc}") from None
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TrackingError(
                        f"another mlctl process held {what} {path} for {seconds:g} s",
                        hint="wait for it to finish; the lock goes when that process ends",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _create_database(ws: Workspace) -> None:
    """A new SQLite store is created under a temporary name (copied from the cached
    template, else migrated), then renamed: a run killed meanwhile leaves no
    half-migrated store behind (call under the lock)."""
    db = ws.database
    if db is None or db.exists():
        return
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        artifacts = ws.artifact_location or artifacts_dir(ws.root).as_uri()
        store_template.create_store(tmp, lambda path: ping(f"sqlite:///{path}"), artifacts)
        interrupts.checkpoint("create_store")
        os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)


def quiet_mlflow() -> None:
    """Keep MLflow's and Alembic's INFO chatter and telemetry off the terminal."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # A remote server makes MLflow print run URLs to stdout, which would break --json.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    for name in ("mlflow", "alembic", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.ERROR)


def ping(uri: str) -> None:
    """Make one cheap call to the tracking store.

    Raises:
        TrackingError: naming the URI and the cause.
    """
    import warnings

    from mlflow import MlflowClient

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)
    except Exception as exc:  # MLflow raises many types for an unusable store
        raise TrackingError(
            f"tracking store {uri} is unavailable: {_cause(exc)}",
            hint="check the URI (MLCTL_TRACKING_URI, MLFLOW_TRACKING_URI or tracking.uri)",
        ) from None


def _cause(exc: Exception) -> str:
    """A short cause; the raw MLflow / urllib3 text stays behind --traceback."""
    text = str(exc)
    for pattern, short in (
        ("Connection refused", "connection refused"),
        ("Failed to establish a new connection", "cannot connect"),
        ("Name or service not known", "unknown host"),
        ("timed out", "timed out"),
        ("unable to open database file", "cannot open the database file"),
        ("readonly database", "the database is read-only"),
    ):
        if pattern in text:
            return short
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."
