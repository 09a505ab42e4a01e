"""``mlctl deploy --bake``: the workspace's registry, copied into the build context.

``mlctl serve`` and ``mlctl monitor`` read a registry, so a self-contained image carries
one: a copy of the embedded workspace (its SQLite tracking database and its artifacts,
not the prediction log or the reports), with the absolute artifact locations that the
database records moved from this machine's folder to the container's workspace. The
copy keeps every version number, alias and tag, so the image serves exactly the version
its tag names, and the monitor finds the run's reference profile.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path, PurePosixPath

from mlctl.errors import UsageError

SKIPPED = ("predictions.db", "reports", "monitoring", ".gitignore")


def check_bakeable(root: Path, database: Path | None, tracking_uri: str) -> Path:
    """The SQLite database of an embedded workspace that can be baked.

    Raises:
        UsageError: the registry is a tracking server, or the database is missing.
    """
    if database is None:
        raise UsageError(
            f"--bake copies an embedded workspace, but the registry is {tracking_uri}",
            hint="drop --bake: the containers read that registry through MLCTL_TRACKING_URI",
        )
    if not database.exists():
        raise UsageError(f"--bake: no tracking database at {database}")
    return database


def bake(root: Path, database: Path, dest: Path, container_root: PurePosixPath) -> int:
    """Copy the workspace at ``root`` to ``dest``, rewritten for ``container_root``.

    Returns:
        The number of bytes copied.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    artifacts = root / "artifacts"
    if artifacts.is_dir():
        shutil.copytree(artifacts, dest / "artifacts")
    target = dest / "mlflow.db"
    with sqlite3.connect(database) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # a consistent copy even while another process writes
    _relocate(target, root, container_root)
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def _relocate(db: Path, old: Path, new: PurePosixPath) -> None:
    """Every text value that starts with the old workspace path (plain or as a file URI)
    now starts with the container's."""
    pairs = [(old.resolve().as_uri(), f"file://{new}"), (str(old.resolve()), str(new))]
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
