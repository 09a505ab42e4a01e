"""``mlctl deploy`` (bake, the default): the served version's registry, in the build context.

``mlctl serve`` and ``mlctl monitor`` read a registry, so a self-contained image carries
one: a fresh, small registry that holds only the version the deployment serves. Its
SQLite database has the schema of the workspace's (the same MLflow revision) and only
that version's rows: the registered model, the version with its number, tags (the
SHA-256 digest ``mlctl.sha256`` included) and the aliases that point at it, its run
(params, metrics, tags) and its logged model. Its artifacts are the model files and the
run's artifacts (the reference profile ``mlctl monitor`` needs). Nothing else of the
workspace is copied: no other version, run or experiment, no prediction log, reports or
MLflow secrets. The absolute artifact locations the database records are moved from this
machine's folder to the container's workspace, and the copied model files must match the
recorded digest, as the server checks.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from mlctl.errors import RegistryError, UsageError
from mlctl.paths import tracking_db

DELETED_STAGE = "Deleted_Internal"  # MLflow's soft-deleted model versions
DEFAULT_EXPERIMENT = 0  # MLflow creates it on opening a store that lacks it


def check_bakeable(root: Path, database: Path | None, tracking_uri: str) -> Path:
    """The SQLite database of an embedded workspace that can be baked.

    Raises:
        UsageError: the registry is a tracking server, or the database is missing.
    """
    if database is None:
        from mlctl.deploy.plan import has_password

        where = "a tracking server" if has_password(tracking_uri) else tracking_uri
        raise UsageError(
            f"--bake copies an embedded workspace, but the registry is {where}",
            hint="drop --bake: the containers read that registry through MLCTL_TRACKING_URI",
        )
    if not database.exists():
        raise UsageError(f"--bake: no tracking database at {database}")
    return database


@dataclass(frozen=True)
class _Version:
    """The rows that tie a registered version to its run and files."""

    run_id: str | None
    model_id: str | None
    storage: str | None
    workspace: str | None


def bake(
    root: Path,
    database: Path,
    dest: Path,
    container_root: PurePosixPath,
    name: str,
    version: int,
) -> int:
    """Write the registry of model ``name`` version ``version`` of the workspace at
    ``root`` to ``dest``, its locations rewritten for ``container_root``. It is built
    next to ``dest`` and moved there when complete: a failure leaves nothing half-written.

    Returns:
        The number of bytes written.

    Raises:
        RegistryError: the version is not registered, its model files are missing, or
            they do not match the SHA-256 recorded at registration.
        UsageError: its files are outside the workspace, or the database cannot be read.
    """
    partial = dest.parent / f".{dest.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    created = [f for f in [dest.parent, *dest.parent.parents] if not f.exists()]
    partial.mkdir(parents=True)
    try:
        try:
            tags, folders = _registry(database, tracking_db(partial), root, name, version)
            for kind, folder in folders:
                _copy_folder(root, folder, partial, kind, name, version)
            _check_digest(partial, root, folders, tags, name, version)
            relocate(tracking_db(partial), root, container_root)
            if dest.exists():
                shutil.rmtree(dest)
            partial.rename(dest)
        except sqlite3.Error as exc:
            raise UsageError(
                f"cannot bake {name} version {version} from {database}: {exc}",
                hint="pass --no-bake and give the containers a registry",
            ) from None
        except OSError as exc:  # a full disk, a read-only --out, an unreadable file
            raise UsageError(
                f"cannot bake {name} version {version} into {dest}: "
                f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else ""),
                hint="free space or choose another --out, or pass --no-bake",
            ) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in created:  # the folders made for it, innermost first, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def _registry(
    source: Path, target: Path, root: Path, name: str, version: int
) -> tuple[dict[str, str], list[tuple[str, Path]]]:
    """A fresh database at ``target`` with the source's schema and the served version's
    rows; returns the version's tags and the artifact folders to copy (kind, path)."""
    con = sqlite3.connect(target.resolve().as_uri(), uri=True, isolation_level=None, timeout=30)
    try:
        # Small pages: the schema's ~200 tables and indexes hold a row or none each.
        con.execute("PRAGMA main.page_size = 1024")
        con.execute("ATTACH DATABASE ? AS src", (f"{source.resolve().as_uri()}?mode=ro",))
        con.execute("BEGIN")  # one snapshot of the source, one write of the copy
        for (sql,) in con.execute(
            "SELECT sql FROM src.sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall():
            con.execute(sql)
        found = _find_version(con, name, version)
        _copy_rows(con, name, version, found)
        _keep_history(con, version)
        tags = dict(con.execute('SELECT "key", value FROM main.model_version_tags').fetchall())
        folders = _folders(con, found)
        con.execute(
            "UPDATE main.experiments SET artifact_location = ? WHERE experiment_id = ?",
            (f"{(root / 'artifacts').resolve().as_uri()}/{DEFAULT_EXPERIMENT}", DEFAULT_EXPERIMENT),
        )
        con.execute("COMMIT")
        con.execute("DETACH DATABASE src")
        con.execute("VACUUM")
    finally:
        con.close()
    return tags, folders


def _find_version(con: sqlite3.Connection, name: str, version: int) -> _Version:
    columns = _columns(con, "model_versions")
    workspace = "workspace" if "workspace" in columns else "NULL"
    row = con.execute(
        f"SELECT run_id, source, storage_location, {workspace} FROM src.model_versions "
        "WHERE name = ? AND version = ? AND current_stage != ?",
        (name, version, DELETED_STAGE),
    ).fetchone()
    if row is None:
        raise RegistryError(f"model '{name}' has no version {version} to bake")
    run_id, source, storage, ws = row
    model_id = source.removeprefix("models:/") if (source or "").startswith("models:/m-") else None
    return _Version(run_id, model_id, storage or source, ws)


def _copy_rows(con: sqlite3.Connection, name: str, version: int, v: _Version) -> None:
    """The served version's rows, copied whole (every column, as MLflow wrote it)."""
    copy = _Copier(con, v.workspace)
    copy("alembic_version", "1")
    copy("workspaces", "name = ?", (v.workspace,), scoped=False)
    for table in ("registered_models", "registered_model_tags"):
        copy(table, "name = ?", (name,))
    for table in ("model_versions", "model_version_tags", "registered_model_aliases"):
        copy(table, "name = ? AND version = ?", (name, version))
    run, model = (v.run_id,), (v.model_id,)
    copy("runs", "run_uuid = ?", run, scoped=False)
    for table in ("tags", "params", "metrics", "latest_metrics"):
        copy(table, "run_uuid = ?", run, scoped=False)
    for table in ("logged_models", "logged_model_params", "logged_model_tags"):
        copy(table, "model_id = ?", model, scoped=False)
    copy("logged_model_metrics", "model_id = ?", model, scoped=False)
    copy(
        "inputs",
        "destination_id = ? OR (source_id = ? AND destination_id = ?)",
        (v.run_id, v.run_id, v.model_id),
        scoped=False,
    )
    copy("input_tags", "input_uuid IN (SELECT input_uuid FROM main.inputs)", scoped=False)
    copy(
        "datasets",
        "dataset_uuid IN (SELECT source_id FROM main.inputs WHERE source_type = 'DATASET')",
        scoped=False,
    )
    experiments = (
        "experiment_id = ? OR experiment_id IN (SELECT experiment_id FROM main.runs) "
        "OR experiment_id IN (SELECT experiment_id FROM main.logged_models)"
    )
    copy("experiments", experiments, (DEFAULT_EXPERIMENT,), scoped=False)
    copy(
        "experiment_tags",
        "experiment_id IN (SELECT experiment_id FROM main.experiments)",
        scoped=False,
    )


class _Copier:
    """``INSERT INTO main.T SELECT * FROM src.T WHERE ...`` for tables that exist,
    restricted to the version's MLflow workspace where the table has one."""

    def __init__(self, con: sqlite3.Connection, workspace: str | None) -> None:
        self.con, self.workspace = con, workspace
        self.tables = {
            t for (t,) in con.execute("SELECT name FROM src.sqlite_master WHERE type = 'table'")
        }

    def __call__(self, table: str, where: str, params: tuple = (), scoped: bool = True) -> None:
        if table not in self.tables:
            return
        if scoped and self.workspace is not None and "workspace" in _columns(self.con, table):
            where, params = f"({where}) AND workspace = ?", (*params, self.workspace)
        self.con.execute(
            f'INSERT INTO main."{table}" SELECT * FROM src."{table}" WHERE {where}', params
        )


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f'PRAGMA src.table_info("{table}")')}


def _keep_history(con: sqlite3.Connection, version: int) -> None:
    """The champion history names only the version that is there (rollback then says
    there is no earlier champion, instead of pointing at a version that is not)."""
    from mlctl.tracking.registry import HISTORY_TAG

    for (value,) in con.execute(
        'SELECT value FROM main.registered_model_tags WHERE "key" = ?', (HISTORY_TAG,)
    ).fetchall():
        try:
            kept = [v for v in json.loads(value) if v == version]
        except (ValueError, TypeError):
            kept = []
        con.execute(
            'UPDATE main.registered_model_tags SET value = ? WHERE "key" = ?',
            (json.dumps(kept), HISTORY_TAG),
        )


def _folders(con: sqlite3.Connection, v: _Version) -> list[tuple[str, Path]]:
    """The artifact folders of the version: its model files, then its run's."""
    out = [("model files", _local(v.storage))] if v.storage else []
    for (uri,) in con.execute("SELECT artifact_location FROM main.logged_models").fetchall():
        out.append(("model files", _local(uri)))
    for (uri,) in con.execute("SELECT artifact_uri FROM main.runs").fetchall():
        out.append(("run artifacts", _local(uri)))
    return list(dict.fromkeys((k, p) for k, p in out if p is not None))


def _local(uri: str | None) -> Path | None:
    """The folder of a ``file:`` URI or a plain path; None for other stores."""
    if not uri:
        return None
    parts = urlparse(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(uri) if not parts.scheme else None


def _copy_folder(root: Path, folder: Path, dest: Path, kind: str, name: str, version: int) -> None:
    where = folder.resolve()
    if not where.is_relative_to(root.resolve()):
        raise UsageError(
            f"cannot bake {name} version {version}: its {kind} are at {folder}, outside the "
            f"workspace {root}",
            hint="pass --no-bake and give the containers a registry",
        )
    if not where.is_dir():
        if kind == "run artifacts":
            return  # a run without artifacts: the model still serves
        raise RegistryError(
            f"cannot bake {name} version {version}: its {kind} are missing at {folder}",
            hint="register the model again (mlctl run), or deploy another version",
        )
    target = dest / where.relative_to(root.resolve())
    if not target.exists():
        shutil.copytree(where, target)


def _check_digest(
    dest: Path, root: Path, folders: list[tuple[str, Path]], tags: dict, name: str, version: int
) -> None:
    """The copied model files match the SHA-256 recorded at registration, as the server
    checks before loading them: a changed or damaged artifact is never shipped."""
    from mlctl.tracking.artifacts import DIGEST_TAG, tree_digest

    expected = tags.get(DIGEST_TAG)
    if not expected:
        raise RegistryError(
            f"cannot bake {name} version {version}: it has no recorded SHA-256 "
            f"({DIGEST_TAG}), so the server would refuse to load it",
            hint="register it again with this mlctl (mlctl run)",
        )
    model = next(p for k, p in folders if k == "model files")
    found = tree_digest(dest / model.resolve().relative_to(root.resolve()))
    if found != expected:
        raise RegistryError(
            f"cannot bake {name} version {version}: its model files do not match the SHA-256 "
            f"recorded at registration (expected {expected[:12]}…, found {found[:12]}…)",
            hint="the artifact was changed or damaged after registration; register it again",
        )


def relocate(db: Path, old: Path | PurePosixPath, new: PurePosixPath) -> None:
    """Every text value of the database that starts with the ``old`` folder (plain or as
    a file URI) now starts with ``new`` (also how a test moves a baked registry)."""
    old_path = Path(old).resolve() if isinstance(old, Path) else old
    pairs = [(f"file://{old_path}", f"file://{new}"), (str(old_path), str(new))]
    if isinstance(old, Path):
        pairs.insert(0, (old_path.as_uri(), f"file://{new}"))
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = con.execute(f'PRAGMA table_info("{table}")').fetchall()
            for _, column, kind, *_ in columns:
                if kind and not any(t in kind.upper() for t in ("CHAR", "TEXT", "CLOB")):
                    continue
                for before, after in pairs:
                    con.execute(
                        f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                        f'WHERE substr("{column}", 1, ?) = ?',
                        (after, len(before) + 1, len(before), before),
                    )
        con.commit()
    finally:
        con.close()
