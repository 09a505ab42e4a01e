"""``mlctl run`` logs the training split's reference profile with its run, and
``load_profile`` finds it again from the registered version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from serve_helpers import FAST, mlctl
from sklearn.linear_model import LogisticRegression

from mlctl.data.prepare import load_dataset
from mlctl.errors import ProfileNotFoundError
from mlctl.monitor.drift import dataset_drift, prediction_drift
from mlctl.monitor.profile import (
    PROFILE_ARTIFACT,
    load_profile,
    read_numeric,
)
from mlctl.recipe.loader import load_recipe
from mlctl.tracking.registry import Registry
from mlctl.tracking.runs import ParentRun
from mlctl.tracking.workspace import prepare, resolve_workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(tmp_path_factory, churn_project) -> tuple[Path, dict]:
    project = churn_project(tmp_path_factory.mktemp("profile"), 900)
    res = mlctl(project, "run", "recipes/churn.yaml", *FAST, "--json")
    assert res.returncode == 0, res.stderr
    return project, json.loads(res.stdout)


@pytest.fixture()
def ws(trained, monkeypatch):
    monkeypatch.delenv("MLCTL_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return resolve_workspace(trained[0] / ".mlctl")


def test_the_run_logs_a_profile_of_its_training_split(trained, ws) -> None:
    project, doc = trained
    stored = list((project / ".mlctl" / "artifacts").rglob(PROFILE_ARTIFACT))
    assert len(stored) == 1 and doc["run_id"] in stored[0].as_posix()
    profile = load_profile(ws, "churn", doc["model"]["version"])

    data = load_dataset(load_recipe(project / "recipes" / "churn.yaml", FAST))
    X = data.X_train
    assert profile.rows == len(X) == doc["data"]["train_rows"]
    assert profile.numeric == ["tenure", "MonthlyCharges", "TotalCharges"]
    assert "SeniorCitizen" in profile.categorical and "Contract" in profile.categorical
    for name in profile.numeric:
        col, values = profile.columns[name], read_numeric(X[name]).sorted
        assert col.count + col.missing == len(X)
        assert col.exact  # 720 training rows: every value is kept (as a multiset)
        np.testing.assert_array_equal(np.repeat(col.values, col.counts), values)
        assert col.mean == pytest.approx(values.mean(), rel=1e-12)
    senior = profile.columns["SeniorCitizen"]
    assert senior.categories == {
        str(k): int(v) for k, v in X["SeniorCitizen"].value_counts().items()
    }
    contract = profile.columns["Contract"]
    assert sum(contract.categories.values()) == X["Contract"].notna().sum()
    # Scores and predicted classes come from the test split.
    assert profile.scores_from == "test"
    assert profile.scores.count == profile.predictions.count == doc["data"]["test_rows"]
    assert 0.0 <= profile.scores.min <= profile.scores.max <= 1.0
    assert profile.score_meaning == "probability of class 'Yes'"
    assert profile.metrics["roc_auc"] == pytest.approx(doc["test_metrics"]["roc_auc"])

    # The training split has not drifted from its own profile; a shifted copy has.
    same = dataset_drift(profile, X)
    assert not same.dataset_drift and all(c.statistic == 0 or c.p_value == 1 for c in same.tested)
    shifted = X.assign(tenure=X["tenure"] + 24, MonthlyCharges=X["MonthlyCharges"] * 1.5)
    result = dataset_drift(profile, shifted)
    assert {c.column for c in result.drifted} == {"tenure", "MonthlyCharges"}
    scores = np.linspace(0, 1, 300)
    assert prediction_drift(profile, scores=scores).column("score").drifted


def test_a_version_without_a_profile_is_a_clear_error(trained, ws) -> None:
    prepare(ws)
    registry = Registry(ws)
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    with ParentRun(ws, "old", "before-profiles", {}) as run:
        uri = run.log_model(model, X.head(2))
        version = registry.register(uri, "old-model", run.run_id, {"mlctl.gate": "passed"})
    with pytest.raises(ProfileNotFoundError, match="trained before reference profiles existed"):
        load_profile(registry, "old-model", version)
