"""Shared set-up for the integration tests: a small copy of the churn project."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


# Where a tracking store is chosen from; in-process tests run one after another on a
# worker, so a value left behind sends a later test to another test's store.
TRACKING_VARIABLES = ("MLCTL_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def no_tracking_uri_left_behind():
    """A test that changes a tracking variable and does not put it back fails (and the
    variable is put back, so the tests after it are not affected)."""
    before = {name: os.environ.get(name) for name in TRACKING_VARIABLES}
    yield
    after = {name: os.environ.get(name) for name in TRACKING_VARIABLES}
    if after != before:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        changed = {k: v for k, v in after.items() if v != before[k]}
        pytest.fail(f"the test left tracking variables changed: {changed}")


def build_churn_project(root: Path, rows: int = 900) -> Path:
    """The project layout (conf/, recipes/churn.yaml, data/) under ``root``, with the
    first ``rows`` Telco rows exactly as written (TotalCharges keeps its blanks)."""
    shutil.copytree(REPO / "conf", root / "conf")
    (root / "recipes").mkdir()
    (root / "data" / "telco").mkdir(parents=True)
    raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    raw.head(rows).to_csv(root / "data" / "telco" / TELCO.name, index=False)
    recipe = (REPO / "recipes" / "churn.yaml").read_text()
    (root / "recipes" / "churn.yaml").write_text(recipe.replace("min_rows: 1000", "min_rows: 500"))
    return root


@pytest.fixture(scope="session")
def churn_project() -> Callable[[Path, int], Path]:
    """:func:`build_churn_project` as a fixture."""
    return build_churn_project


def relocate_workspace(src: Path, dst: Path) -> None:
    """Point the copy ``dst`` of the trained project ``src`` at its own files.

    MLflow keeps absolute ``file://`` locations (experiments, runs, logged models,
    model versions) and mlctl the recipe's path (tag ``mlctl.recipe``): every text value
    of the store naming ``src`` is rewritten to ``dst``, and none may be left, so the
    copy never reads or writes the original. Files are left as written (the model's
    ``MLmodel`` keeps its ``artifact_path``: it is part of the files' recorded SHA-256,
    and nothing loads a registered model through it)."""
    db = dst / ".mlctl" / "mlflow.db"
    with contextlib.closing(sqlite3.connect(db)) as con, con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        left = []
        # As a URI first (it may be percent-encoded), then as a path.
        for old, new in ((f"{src.as_uri()}/", f"{dst.as_uri()}/"), (f"{src}/", f"{dst}/")):
            for table in tables:
                for column in [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]:
                    where = f'typeof("{column}") = \'text\' AND instr("{column}", ?) > 0'
                    con.execute(
                        f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) WHERE {where}',
                        (old, new, old),
                    )
                    left += [
                        f"{table}.{column}"
                        for _ in con.execute(f'SELECT 1 FROM "{table}" WHERE {where}', (old,))
                    ]
    assert not left, f"{src} still named in {db}: {left}"


def _train_once(folder: Path, rows: int, runs: list[list[str]]) -> list[dict]:
    """``mlctl run recipes/churn.yaml *args`` for each of ``runs`` in turn, in a new
    project ``folder/project``; kept in ``folder/runs.json`` once they all passed."""
    done = folder / "runs.json"
    if done.exists():
        return json.loads(done.read_text())
    if folder.exists():  # an earlier attempt that failed half-way
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    project = build_churn_project(folder / "project", rows)
    env = {k: v for k, v in os.environ.items() if k not in TRACKING_VARIABLES}
    results = []
    for args in runs:
        res = subprocess.run(
            [sys.executable, "-m", "mlctl", "run", "recipes/churn.yaml", *args],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )
        results.append({"returncode": res.returncode, "stdout": res.stdout, "stderr": res.stderr})
        if res.returncode != 0:
            return results
    done.write_text(json.dumps(results))
    return results


@pytest.fixture(scope="session")
def trained_churn_project(tmp_path_factory):
    """``copy(dst, rows, *runs)``: the project of :func:`build_churn_project` (``rows``
    Telco rows) in ``dst``, after ``mlctl run recipes/churn.yaml *args`` for each
    ``args`` of ``runs`` in turn, and those runs as
    :class:`subprocess.CompletedProcess` (the list stops at the first that failed).

    Many modules only need "the churn project with a promoted model", and each trained
    its own (~10 s of CPU a run). The runs are done once per (rows, runs) for the whole
    session (xdist workers share them through a lock file), and each caller gets its
    own copy, its store relocated (:func:`relocate_workspace`): nothing a test does to
    its copy reaches another's. Use it where the module needs nothing but the trained
    project (a run's output names the folder it ran in, not ``dst``)."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a folder of the session's own (gw0, gw1, ...).
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "trained-churn"
    shared.mkdir(exist_ok=True)

    def copy(dst: Path, rows: int, *runs: list[str]):
        key = hashlib.sha256(json.dumps([rows, runs]).encode()).hexdigest()[:16]
        folder = shared / f"{rows}-{key}"
        with (shared / f"{rows}-{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            results = _train_once(folder, rows, list(runs))
        done = [
            subprocess.CompletedProcess(["mlctl", "run", "recipes/churn.yaml", *args], **result)
            for args, result in zip(runs, results, strict=False)
        ]
        if len(done) == len(runs) and done[-1].returncode == 0:
            shutil.copytree(folder / "project", dst, symlinks=True, dirs_exist_ok=True)
            relocate_workspace(folder / "project", dst)
        return dst, done

    return copy


# Serve tests share helpers for starting a real server (tests/integration/serve_helpers.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def forked_mlctl():
    """This worker's :class:`cli_forks.ForkServer`: its ``run(argv, cwd, env, timeout)``
    is ``python -m mlctl *argv`` without paying the imports."""
    from cli_forks import shared_server

    return shared_server()
