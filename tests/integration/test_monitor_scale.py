"""``mlctl monitor`` in bounded memory: a window read in many small chunks (a Parquet
file, a SQLite log, a PostgreSQL log) gives the document of one chunk, and a Parquet
file summed up on a Dask LocalCluster gives the local one."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TELCO
from serve_helpers import FAST, PG_ADMIN, pg_url, require

from mlctl.monitor.run import MonitorOptions
from mlctl.predlog import PredictionLog, rows_for

pytestmark = pytest.mark.integration

T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z
ROWS = 6_000


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    """The churn project (900 rows) with a promoted quick model, trained once for the
    session (conftest.trained_churn_project)."""
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("scale"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def current() -> pd.DataFrame:
    raw = pd.read_csv(TELCO).drop(columns=["customerID", "Churn"])
    out = raw.sample(ROWS, replace=True, random_state=3).reset_index(drop=True)
    out["MonthlyCharges"] = out["MonthlyCharges"] * np.where(out.index % 3 == 0, 1.2, 1.0)
    return out


def _check(project: Path, overrides: list[str], **options) -> dict:
    from mlctl.api import monitor
    from mlctl.recipe.loader import load_recipe

    loaded = load_recipe(project / "recipes" / "churn.yaml", overrides)
    opts = MonitorOptions(workspace=str(project / ".mlctl"), log_run=False, **options)
    doc = monitor(loaded, opts).to_dict()
    return {k: doc[k] for k in ("status", "drift", "prediction_drift", "source")}


def test_a_parquet_file_in_many_chunks_and_on_dask_gives_one_document(
    project, current, tmp_path
) -> None:
    path = tmp_path / "current.parquet"
    current.to_parquet(path, row_group_size=500)
    whole = _check(project, [], current=str(path), chunk_rows=10**7)
    assert whole["prediction_drift"] is not None and whole["source"]["rows"] == ROWS
    assert _check(project, [], current=str(path), chunk_rows=700) == whole
    dask = ["monitor.engine=dask", "compute.n_workers=2"]
    assert _check(project, dask, current=str(path), chunk_rows=1_000) == whole


def _log(url: str, frame: pd.DataFrame) -> None:
    log = PredictionLog(url)
    log.open()
    try:
        rows = []
        for i in range(0, len(frame), 4):
            part = frame.iloc[i : i + 4]
            p = np.linspace(0.1, 0.9, len(part))
            rows += rows_for(
                [f"r{i}-{j}" for j in range(len(part))],
                f"r{i}",
                T0 + i,
                "churn",
                1,
                "champion",
                part.to_dict("records"),
                ["Yes" if q > 0.5 else "No" for q in p],
                p.tolist(),
                [{"No": 1 - q, "Yes": q} for q in p],
                3.0,
            )
        log.write(rows).result(timeout=120)
    finally:
        log.close()


def _log_documents(project: Path, url: str) -> None:
    over = [f"deploy.serve.log.url='{url}'"]
    span = {"window": "1d", "end": T0 + 86400}
    whole = _check(project, over, chunk_rows=10**6, **span)
    assert whole["source"]["rows"] == ROWS and whole["prediction_drift"] is not None
    assert _check(project, over, chunk_rows=777, **span) == whole


def test_a_sqlite_log_in_many_chunks_gives_one_document(project, current, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    _log(url, current.where(current.notna(), None))
    _log_documents(project, url)


def test_a_postgresql_log_in_many_chunks_gives_one_document(project, current) -> None:
    import psycopg

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_scale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = pg_url(schema)
        _log(url, current.where(current.notna(), None))
        _log_documents(project, url)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
