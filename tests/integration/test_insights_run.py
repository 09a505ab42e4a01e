"""A real ``mlctl run`` with ``evaluation.segments``: the insight sections (calibration,
lift, segments, learning curve, recommendations) reach the report folder, its plots and
the run's MLflow metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

QUICK = [
    "models=fast",
    "tuning=none",
    "evaluation.importance_repeats=0",
    "tuning.n_jobs=1",
    "readiness.cv_std_k=0.5",
]


def test_a_run_with_segments_reports_every_insight(tmp_path: Path, churn_project) -> None:
    """``mlctl run recipes/churn.yaml 'evaluation.segments=[Contract,gender]'`` of
    docs/evaluation.md, with fast models on the first 1,500 Telco rows."""
    project = churn_project(tmp_path, 1500)
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    res = subprocess.run(
        [sys.executable, "-m", "mlctl", "run", "recipes/churn.yaml",
         "evaluation.segments=[Contract,gender]", *QUICK, "--json"],
        cwd=project, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    report = Path(doc["report"]["markdown"]).parent
    found = json.loads((report / "insights.json").read_text())
    test_rows, train_rows = doc["data"]["test_rows"], doc["data"]["train_rows"]

    cal = found["calibration"]
    assert 0 < cal["brier"] < cal["brier_reference"] < 0.25
    assert 0 <= cal["ece"] < 0.2
    assert len(cal["bins"]) == 10 and sum(b["rows"] for b in cal["bins"]) == test_rows

    lift = found["lift"]
    assert [b["decile"] for b in lift["bins"]] == list(range(1, 11))
    assert lift["bins"][0]["lift"] > 1.5 and lift["bins"][-1]["gain"] == pytest.approx(1.0)
    assert lift["bins"][-1]["cumulative_lift"] == pytest.approx(1.0)

    seg = found["segments"]
    assert seg["metric"] == "roc_auc" and seg["max_gap"] == 0.05
    assert seg["whole"] == pytest.approx(doc["test_metrics"]["roc_auc"])
    for column in ("Contract", "gender"):
        rows = [r for r in seg["rows"] if r["column"] == column]
        assert sum(r["rows"] for r in rows) == test_rows
    assert {r["value"] for r in seg["rows"] if r["column"] == "gender"} == {"Female", "Male"}

    curve = found["learning_curve"]
    assert [p["train_rows"] for p in curve["points"]][-1] == train_rows
    assert len(curve["points"]) == 4 and curve["points"][-1]["score"] == pytest.approx(
        doc["test_metrics"]["roc_auc"]
    )
    assert isinstance(curve["verdict"], str) and curve["slope"] is not None

    topics = {item["topic"] for item in found["recommendations"]}
    assert {"imbalance", "threshold"} <= topics  # 'Yes' is ~26 % and the threshold 0.5
    assert all(item["figure"] for item in found["recommendations"])

    markdown = Path(doc["report"]["markdown"]).read_text()
    for plot in ("gain.png", "lift.png", "learning_curve.png"):
        assert (report / plot).is_file() and plot in markdown

    import mlflow

    uri = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    metrics = client.get_run(doc["run_id"]).data.metrics
    assert metrics["test_brier"] == pytest.approx(cal["brier"])
    assert metrics["test_ece"] == pytest.approx(cal["ece"])
    assert metrics["test_top_decile_lift"] == pytest.approx(lift["bins"][0]["lift"])
    logged = {a.path for a in client.list_artifacts(doc["run_id"], "report")}
    assert {"report/insights.json", "report/gain.png", "report/learning_curve.png"} <= logged
