"""benchmarks/portfolio.py --quick: init + run + the reference on 400 Telco rows, as a
smoke test of the whole benchmark path (the real figures are in benchmarks/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_quick_benchmark_prints_score_cv_reference_gap_and_time() -> None:
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "portfolio.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(res.stdout)
    (row,) = doc["rows"]
    assert row["table"] == "telco" and row["rows"] == 400 and row["metric"] == "roc_auc"
    assert row["winner"] in {"hgb", "logreg", "random_forest", "ensemble"}
    for key in ("test", "cv", "reference"):
        assert 0.5 < row[key] <= 1.0, (key, row)
    assert row["gap"] == pytest.approx(row["cv"] - row["reference"])
    assert row["ref_kind"] == "tuned HGB, 2-fold CV" and row["seconds"] > 0
    assert "load average" in doc["load_before"]
