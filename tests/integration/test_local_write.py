"""mlctl.tracking.local_write records a run that MLflow reads back exactly as one it
logged itself through ParentRun, or writes nothing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlctl.tracking import local_write
from mlctl.tracking.registry import Registry
from mlctl.tracking.runs import ParentRun
from mlctl.tracking.workspace import prepare, resolve_workspace

pytestmark = pytest.mark.integration

TAGS = {"mlctl.kind": "monitoring", "mlctl.model_name": "m", "mlctl.monitoring.status": "ok"}
METRICS = {"rows": 10.0, "drift_share": 0.25, "nan": float("nan"), "none": None}
TEXTS = {"monitoring/result.json": '{"status": "ok"}\n', "monitoring/report.html": "<p>é</p>"}


@pytest.fixture
def ws(tmp_path, monkeypatch):
    for name in ("MLCTL_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    saved = dict(os.environ)
    ws = resolve_workspace(tmp_path / "ws")
    prepare(ws)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    with ParentRun(ws, "exp", "train", {}) as run:
        uri = run.log_model(LogisticRegression().fit(X, [0, 0, 1, 1]), X[:2])
        Registry(ws).register(uri, "m", run.run_id, {})
    yield ws
    os.environ.clear()
    os.environ.update(saved)


def _read(ws, run_id: str) -> dict:
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    client = MlflowClient(ws.tracking_uri)
    run = client.get_run(run_id)
    texts = {
        path: Path(
            download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=ws.tracking_uri)
        ).read_text(encoding="utf-8")
        for path in TEXTS
    }
    listed = sorted(a.path for a in client.list_artifacts(run_id, "monitoring"))
    tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"}
    history = client.get_metric_history(run_id, "rows")
    return {
        "status": run.info.status,
        "name": run.info.run_name,
        "experiment": run.info.experiment_id,
        "user": run.info.user_id,
        "lifecycle": run.info.lifecycle_stage,
        "ended": run.info.end_time >= run.info.start_time,
        "tags": tags,
        "metrics": run.data.metrics,
        "steps": [(m.step, m.value) for m in history],
        "artifacts": listed,
        "texts": texts,
        "searchable": [
            r.info.run_id
            for r in client.search_runs(
                [run.info.experiment_id], f"attributes.run_name = '{run.info.run_name}'"
            )
        ],  # fmt: skip
    }


def test_a_run_written_directly_reads_back_like_mlflows(ws) -> None:
    with ParentRun(ws, "exp", "monitor-a", TAGS) as run:
        for path, text in TEXTS.items():
            run.log_text(text, path)
        run.log_metrics(METRICS)
        theirs_id = run.run_id
    Registry(ws).client.set_model_version_tag("m", "1", "mlctl.monitoring.last_run_id", theirs_id)
    theirs = _read(ws, theirs_id)

    ours_id = local_write.log_finished_run(
        ws, "exp", "monitor-b", TAGS, METRICS, TEXTS, ("m", 1, {"s": "ok"}), "mlctl.monitoring.last_run_id"
    )  # fmt: skip
    assert ours_id is not None and ours_id != theirs_id
    ours = _read(ws, ours_id)
    assert ours["name"] == "monitor-b" and ours["searchable"] == [ours_id]
    theirs.pop("name"), ours.pop("name"), theirs.pop("searchable"), ours.pop("searchable")
    assert ours == theirs
    version = Registry(ws).client.get_model_version("m", "1")
    assert version.tags["mlctl.monitoring.last_run_id"] == ours_id and version.tags["s"] == "ok"


def test_nothing_is_written_where_it_cannot_be_sure(ws, monkeypatch) -> None:
    def runs() -> int:
        with sqlite3.connect(ws.database) as con:
            return con.execute("SELECT count(*) FROM runs").fetchone()[0]

    before = runs()
    assert local_write.log_finished_run(ws, "no-such-exp", "r", {}, {}, TEXTS) is None
    monkeypatch.setenv("MLFLOW_RUN_CONTEXT", '{"a": "b"}')
    assert local_write.log_finished_run(ws, "exp", "r", {}, {}, TEXTS) is None
    monkeypatch.delenv("MLFLOW_RUN_CONTEXT")
    with sqlite3.connect(ws.database) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    assert local_write.log_finished_run(ws, "exp", "r", {}, {}, TEXTS) is None
    assert runs() == before
    assert not [p for p in (ws.root / "artifacts").glob("*/artifacts/monitoring")]
