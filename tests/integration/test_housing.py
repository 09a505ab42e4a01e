"""Regression end to end: the housing recipe on a slice of the real California table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
HOUSING = REPO / "data" / "california_housing" / "housing.csv"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("housing")
    shutil.copytree(REPO / "conf", root / "conf")
    (root / "recipes").mkdir()
    (root / "data" / "california_housing").mkdir(parents=True)
    pd.read_csv(HOUSING).sample(2500, random_state=0).to_csv(
        root / "data" / "california_housing" / "housing.csv", index=False
    )
    shutil.copy(REPO / "recipes" / "housing.yaml", root / "recipes" / "housing.yaml")
    return root


def test_housing_regression_run(project: Path) -> None:
    overrides = [
        "models.cv_folds=3",
        "tuning.n_iter=2",
        "models.candidates.random_forest.enabled=false",
        "evaluation.importance_repeats=1",
        # A 2,500-row slice cannot reach the full recipe's bounds; the checks still run.
        "readiness.thresholds.max_rmse=150000",
        "readiness.thresholds.max_mae=120000",
        "readiness.thresholds.min_r2=0.3",
        "readiness.cv_thresholds.max_rmse=150000",
        "readiness.beat_baseline_by=5000",
    ]
    res = subprocess.run(
        [sys.executable, "-m", "mlctl", "run", "recipes/housing.yaml", *overrides, "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["selection_metric"] == "rmse"
    assert set(doc["test_metrics"]) == {"rmse", "mae", "r2", "mape"}
    assert doc["test_metrics"]["r2"] > 0.5
    board = {row["candidate"]: row for row in doc["leaderboard"]}
    assert set(board) == {"baseline", "ridge", "hgb"}
    # rmse: lower is better, and the winner has the lowest CV score.
    winner = board[doc["winner"]]
    assert winner["cv_mean"] == min(r["cv_mean"] for r in board.values() if not r["is_baseline"])
    assert winner["test"]["rmse"] < board["baseline"]["test"]["rmse"]
    checks = {c["name"]: c for c in doc["gate"]["checks"]}
    assert checks["test max_rmse"]["op"] == "<="
    assert checks["beats baseline"]["required"] == pytest.approx(
        board["baseline"]["test"]["rmse"] - 5000
    )
    report = Path(doc["report"]["html"]).parent
    assert {"residuals.png", "predicted_vs_actual.png", "importance.png"} <= {
        p.name for p in report.iterdir()
    }
    assert doc["model"]["version"] == 1
