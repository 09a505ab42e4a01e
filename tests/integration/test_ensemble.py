"""models.ensemble end to end: a voting ensemble that wins the leaderboard is logged as
one Pipeline, registered, loaded by ``mlflow.pyfunc`` and served by ``mlctl predict``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

# Two deliberately different, untuned members: a heavily regularised linear model and
# shallow trees; their average orders rows better than either (checked on the run's CV).
ENSEMBLE_MODELS = """\
selection_metric: roc_auc
cv_folds: 3
candidates:
  logreg:
    estimator: logistic_regression
    params: {C: 0.003, max_iter: 1000}
  forest:
    estimator: random_forest
    params: {n_estimators: 30, max_depth: 3, n_jobs: 1}
ensemble: {method: voting, top: 2}
"""
RUN = [
    "models=ensemble_test",
    "tuning=none",
    "tuning.n_jobs=1",
    "evaluation.importance_repeats=0",
    "readiness=lenient",
]


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}


def mlctl(root: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlctl", *args]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env())


@pytest.fixture(scope="module")
def project(tmp_path_factory, churn_project) -> tuple[Path, dict]:
    root = churn_project(tmp_path_factory.mktemp("ensemble"), 700)
    (root / "conf" / "models" / "ensemble_test.yaml").write_text(ENSEMBLE_MODELS)
    res = mlctl(root, "run", "recipes/churn.yaml", *RUN, "--promote", "-y", "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    return root, json.loads(res.stdout)


def test_the_ensemble_wins_on_cv_and_is_registered(project) -> None:
    _, summary = project
    rows = {row["candidate"]: row for row in summary["leaderboard"]}
    assert rows["ensemble"]["estimator"] in ("voting(logreg+forest)", "voting(forest+logreg)")
    best_single = max(rows["logreg"]["cv_mean"], rows["forest"]["cv_mean"])
    assert rows["ensemble"]["cv_mean"] > best_single
    assert summary["winner"] == "ensemble" and str(summary["model"]["version"]) == "1"


def test_registered_ensemble_loads_with_pyfunc_and_serves_via_predict(project) -> None:
    root, _ = project
    sample = pd.read_csv(root / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv",
                         dtype=str, keep_default_na=False).head(25)  # fmt: skip
    sample.drop(columns=["Churn"]).to_csv(root / "rows.csv", index=False)
    res = mlctl(root, "predict", "recipes/churn.yaml", "--input", "rows.csv", "--output", "p.csv")
    assert res.returncode == 0, res.stdout + res.stderr
    served = pd.read_csv(root / "p.csv")
    assert len(served) == 25 and set(served["prediction"]) <= {"Yes", "No"}
    script = (
        "import json, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri('sqlite:///{root / '.mlctl' / 'mlflow.db'}')\n"
        "model = mlflow.pyfunc.load_model('models:/churn@champion')\n"
        "steps = model.get_raw_model().steps\n"
        "assert type(steps[-1][1]).__name__ == 'VotingClassifier', steps[-1]\n"
        "df = pd.read_csv('rows.csv', dtype=str, keep_default_na=False)\n"
        "print(json.dumps([str(v) for v in model.predict(df)]))\n"
    )
    res = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True,
                         text=True, env=env())  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.splitlines()[-1]) == served["prediction"].astype(str).tolist()
