"""A decision threshold chosen by ``mlctl run`` is the one every consumer answers with.

A real run on 900 Telco rows with ``evaluation.threshold: {optimize: cost, costs: {fp:
1, fn: 5}}`` chooses a threshold far below 0.5 on out-of-fold probabilities. Then, for
unseen rows whose churn probability lies between that threshold and 0.5 (a label that
differs from sklearn's default rule), ``mlctl predict``, a real ``mlctl serve`` (its
``/predict`` and MLflow ``/invocations``) and a plain ``mlflow.pyfunc`` load must all
answer "Yes"; every other row gets the label of probability >= threshold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from serve_helpers import FAST, Server, mlctl

from mlctl.tracking.runs import use_store

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
CHOICE = "threshold: {optimize: cost, costs: {fp: 1, fn: 5}}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, churn_project) -> tuple[Path, dict]:
    root = churn_project(tmp_path_factory.mktemp("threshold"), 900)
    recipe = root / "recipes" / "churn.yaml"
    text = recipe.read_text()
    fixed = re.compile(r"^  threshold: 0\.5\b.*$", re.MULTILINE)  # the shipped line
    assert len(fixed.findall(text)) == 1
    recipe.write_text(fixed.sub(f"  {CHOICE}", text))
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "--yes", "--json")
    assert res.returncode == 0, res.stderr
    return root, json.loads(res.stdout)


@pytest.fixture(scope="module")
def unseen(trained) -> pd.DataFrame:
    """Rows 901-2000 of the table (not trained on), as ``pd.read_csv`` reads them."""
    root, _ = trained
    rows = pd.read_csv(TELCO).iloc[900:2000].drop(columns=["Churn"]).reset_index(drop=True)
    rows.to_csv(root / "unseen.csv", index=False)
    return rows


@pytest.fixture(scope="module")
def threshold(trained) -> float:
    """The chosen threshold, as the run's metric and the model's MLmodel metadata say."""
    import mlflow

    root, doc = trained
    uri = f"sqlite:///{root / '.mlctl' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    logged = client.get_run(doc["run_id"]).data.metrics["decision_threshold"]
    restore = use_store(uri)
    try:
        meta = mlflow.models.get_model_info("models:/churn/1").metadata
    finally:
        restore()
    assert meta["mlctl_decision_threshold"] == pytest.approx(logged)
    assert meta["mlctl_positive_class"] == "Yes"
    assert "mlctl_input_schema" in meta
    return meta["mlctl_decision_threshold"]


@pytest.fixture(scope="module")
def scored(trained, unseen, threshold) -> pd.DataFrame:
    """``mlctl predict`` of the unseen rows: ``prediction`` and ``proba_Yes``."""
    root, _ = trained
    res = mlctl(root, "predict", "recipes/churn.yaml", "--input", "unseen.csv", "--output", "s.csv")
    assert res.returncode == 0, res.stderr
    out = pd.read_csv(root / "s.csv")
    assert out["customerID"].tolist() == unseen["customerID"].tolist()
    return out


def band(scored: pd.DataFrame, threshold: float) -> np.ndarray:
    """Positions of the rows whose probability is in [threshold, 0.5): "Yes" now, "No"
    by sklearn's default rule."""
    p = scored["proba_Yes"].to_numpy()
    return np.flatnonzero((p >= threshold + 1e-9) & (p < 0.5))


def test_the_chosen_threshold_is_far_from_one_half(trained, threshold) -> None:
    root, doc = trained
    # The Bayes threshold for calibrated probabilities is 1 / (1 + 5) ≈ 0.17.
    assert 0.05 < threshold < 0.35
    report = Path(doc["report"]["markdown"]).parent
    assert (report / "threshold.png").read_bytes()[:4] == b"\x89PNG"


def test_mlctl_predict_labels_by_the_threshold(scored, threshold) -> None:
    rows = band(scored, threshold)
    assert len(rows) >= 20, "too few rows between the threshold and 0.5 to test anything"
    assert (scored["prediction"].iloc[rows] == "Yes").all()
    expected = np.where(scored["proba_Yes"] >= threshold, "Yes", "No")
    assert (scored["prediction"].to_numpy() == expected).all()


def test_mlctl_serve_labels_by_the_threshold(trained, unseen, scored, threshold) -> None:
    root, _ = trained
    rows = band(scored, threshold)
    body = json.loads(unseen.iloc[rows].to_json(orient="records"))  # NaN as null
    server = Server(root, "recipes/churn.yaml")
    try:
        server.wait_ready()
        res = server.post("/predict", {"records": body})
        assert res.status == 200, res.body
        preds = res.json["predictions"]
        assert [p["prediction"] for p in preds] == ["Yes"] * len(rows)
        served = [p["probabilities"]["Yes"] for p in preds]
        assert served == pytest.approx(scored["proba_Yes"].iloc[rows].tolist(), abs=1e-9)
        mlflow_style = server.post("/invocations", {"dataframe_records": body})
        assert mlflow_style.status == 200, mlflow_style.body
        assert mlflow_style.json["predictions"] == ["Yes"] * len(rows)
    finally:
        assert server.stop() == 0, server.output()


def test_plain_mlflow_pyfunc_labels_by_the_threshold(trained, unseen, scored, threshold) -> None:
    import mlflow

    root, _ = trained
    uri = f"sqlite:///{root / '.mlctl' / 'mlflow.db'}"
    restore = use_store(uri)
    try:
        model = mlflow.pyfunc.load_model("models:/churn@champion")
    finally:
        restore()
    labels = np.asarray(model.predict(unseen))
    assert (labels[band(scored, threshold)] == "Yes").all()
    expected = np.where(scored["proba_Yes"] >= threshold, "Yes", "No")
    assert (labels == expected).all()


def test_the_documented_snippet_reads_the_threshold_without_mlctl(trained, unseen) -> None:
    """docs/evaluation.md's Python example, run as shown on the registered model."""
    section = (REPO / "docs" / "evaluation.md").read_text().split("## Decision threshold")[1]
    code = re.search(r"```python\n(.*?)```", section.split("\n## ")[0], re.S).group(1)
    assert "import mlctl" not in code and "from mlctl" not in code
    root, _ = trained
    restore = use_store(f"sqlite:///{root / '.mlctl' / 'mlflow.db'}")
    try:
        namespace = {"rows": unseen}
        exec(code, namespace)
        import mlflow

        labels = np.asarray(mlflow.pyfunc.load_model("models:/churn@champion").predict(unseen))
    finally:
        restore()
    assert namespace["threshold"] < 0.5 and namespace["positive"] == "Yes"
    assert (namespace["flagged"] == (labels == "Yes")).all()
