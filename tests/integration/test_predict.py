"""``mlctl predict`` end to end: a model trained and promoted by the real CLI on a slice
of the Telco table, then raw Telco rows it never saw scored by ``python -m mlctl``.

Every ``mlctl predict`` process spends most of its few seconds importing MLflow and
sklearn, so the module trains once, prepares every input, then runs all the scoring
jobs together (:func:`jobs`); each test checks one of them. The first job runs on a
fresh ``python -m mlctl``; the others are forked from one helper that imported mlctl
once (``cli_forks.run_forked``: the real CLI entry, each job its own process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_forks import Job, run_forked

from mlctl.tracking.runs import use_store

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
# tuning=none and no permutation importance: the scoring tests need a registered model,
# not a well-tuned or explained one.
FAST = [
    "models=fast",
    "tuning=none",
    "evaluation.importance_repeats=0",
    "evaluation.shap=off",  # SHAP is tested where it is the subject,
    "readiness.cv_std_k=0.5",
    "tuning.n_jobs=1",  # no worker processes for a few hundred rows (serve_helpers.FAST)
]
OUTPUT_COLUMNS = [
    "customerID",
    "prediction",
    "proba_No",
    "proba_Yes",
    "model_name",
    "model_version",
]
PREDICT = [sys.executable, "-m", "mlctl", "predict", "recipes/churn.yaml"]
JOBS = {
    "csv_to_parquet": ["--input", "unseen.csv", "--output", "out/scores.parquet", "--json"],
    "glob": ["--input", "parts/*.csv", "--output", "glob.csv", "--chunk-size", "97", "--json"],
    "planted": ["--input", "planted.csv", "--output", "planted.parquet", "-q"],
    "strict": ["--input", "planted.csv", "--output", "strict.parquet", "--strict"],
    "narrow": ["--input", "narrow.csv", "--output", "narrow.parquet"],
    "churn/99": ["--input", "unseen.csv", "--output", "v99.parquet", "--model", "churn/99"],
    "nope@champion": [
        "--input",
        "unseen.csv",
        "--output",
        "nope.parquet",
        "--model",
        "nope@champion",
    ],
    "existing": ["--input", "unseen.csv", "--output", "existing.csv"],
}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}


def raw_telco() -> pd.DataFrame:
    """The table exactly as written: TotalCharges keeps its " " blanks."""
    return pd.read_csv(TELCO, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory, churn_project) -> Path:
    """A project whose champion was trained on the first 900 Telco rows."""
    root = churn_project(tmp_path_factory.mktemp("project"), 900)
    cmd = [sys.executable, "-m", "mlctl", "run", "recipes/churn.yaml", *FAST, "--promote", "-y"]
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=clean_env())
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def unseen(project: Path) -> pd.DataFrame:
    """Rows 901-1500 as text: not trained on; three have a blank TotalCharges."""
    return raw_telco().iloc[900:1500].reset_index(drop=True)


def write_inputs(project: Path, unseen: pd.DataFrame) -> None:
    unseen.to_csv(project / "unseen.csv", index=False)
    (project / "out").mkdir()
    (project / "parts").mkdir()
    unseen.iloc[:250].to_csv(project / "parts" / "a.csv", index=False)
    b = unseen.iloc[250:].copy()
    b.iloc[2, b.columns.get_loc("tenure")] = "x"  # row 3 of b.csv, row 253 of the input
    b.to_csv(project / "parts" / "b.csv", index=False)
    planted = unseen.copy()
    planted.loc[4, "tenure"] = "twelve"
    planted.loc[299, "tenure"] = "unknown"
    planted.loc[299, "MonthlyCharges"] = "inf"
    planted.loc[450, "MonthlyCharges"] = "-inf"
    planted.loc[10, "tenure"] = " 7 "  # numeric text with spaces is fine
    planted.to_csv(project / "planted.csv", index=False)
    unseen.drop(columns=["tenure", "Contract"]).to_csv(project / "narrow.csv", index=False)
    (project / "existing.csv").write_text("keep me\n")


FRESH = "csv_to_parquet"  # the job that runs on a fresh interpreter


@pytest.fixture(scope="module")
def jobs(
    project: Path, unseen: pd.DataFrame, tmp_path_factory
) -> dict[str, subprocess.CompletedProcess]:
    """Every ``mlctl predict`` of :data:`JOBS`: :data:`FRESH` on a new interpreter while
    the others are forked, two at a time."""
    write_inputs(project, unseen)
    fresh = subprocess.Popen(
        PREDICT + JOBS[FRESH],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    forked = [
        Job(name, PREDICT[3:] + args, project, clean_env(), 600)
        for name, args in JOBS.items()
        if name != FRESH
    ]
    outcomes = run_forked(forked, 2, tmp_path_factory.mktemp("predict-forks"))
    out, err = fresh.communicate(timeout=600)
    done = {FRESH: subprocess.CompletedProcess(fresh.args, fresh.returncode, out, err)}
    for name, got in outcomes.items():
        done[name] = subprocess.CompletedProcess(
            ["mlctl", *PREDICT[3:], *JOBS[name]], got.returncode, got.stdout, got.stderr
        )
    return {name: done[name] for name in JOBS}


@pytest.fixture(scope="module")
def pipeline(project: Path):
    import mlflow

    uri = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    return mlflow.sklearn.load_model(client.get_model_version_download_uri("churn", "1"))


def features(project: Path, pipeline) -> pd.DataFrame:
    """The unseen rows as plain ``pd.read_csv`` reads them (TotalCharges blanks stay text)."""
    return pd.read_csv(project / "unseen.csv")[list(pipeline.feature_names_in_)]


def test_csv_to_parquet_matches_the_pipeline_and_pyfunc(project, unseen, jobs, pipeline) -> None:
    res = jobs["csv_to_parquet"]
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # stdout holds only the JSON document
    assert (doc["rows_read"], doc["rows_scored"], doc["rows_rejected"]) == (600, 600, 0)
    assert doc["rejects"] is None
    assert doc["model"] == {"name": "churn", "version": 1, "aliases": ["champion"]}
    assert doc["output"] == str(project / "out" / "scores.parquet")
    assert doc["output_columns"] == OUTPUT_COLUMNS

    out = pd.read_parquet(project / "out" / "scores.parquet")
    assert list(out.columns) == OUTPUT_COLUMNS
    assert [p.name for p in (project / "out").iterdir()] == ["scores.parquet"]  # no temp files
    assert out["customerID"].tolist() == unseen["customerID"].tolist()
    X = features(project, pipeline)
    assert out["prediction"].tolist() == list(pipeline.predict(X))
    assert np.allclose(out[["proba_No", "proba_Yes"]], pipeline.predict_proba(X))
    assert np.allclose(out["proba_No"] + out["proba_Yes"], 1.0)
    assert set(out["model_name"]) == {"churn"} and set(out["model_version"]) == {1}
    # Blank TotalCharges (new customers) are scored, not rejected.
    blanks = unseen.loc[unseen["TotalCharges"].str.strip() == "", "customerID"]
    assert len(blanks) == 3 and set(blanks) <= set(out["customerID"])

    import mlflow

    uri = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    restore = use_store(uri)  # MLflow's fluent API, for this test only
    try:
        model = mlflow.pyfunc.load_model("models:/churn@champion")
    finally:
        restore()
    typed = X.assign(TotalCharges=pd.to_numeric(X["TotalCharges"], errors="coerce"))
    assert list(model.predict(typed)) == out["prediction"].tolist()


def test_glob_of_two_csvs_in_small_chunks(project, unseen, jobs, pipeline) -> None:
    res = jobs["glob"]
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["input_files"] == [str(project / "parts" / n) for n in ("a.csv", "b.csv")]
    assert (doc["rows_read"], doc["rows_scored"], doc["rows_rejected"]) == (600, 599, 1)
    # Row numbers run on across the files of the glob.
    rejects = pd.read_csv(doc["rejects"])
    assert rejects[["row", "file", "id", "column"]].values.tolist() == [
        [253, str(project / "parts" / "b.csv"), unseen["customerID"][252], "tenure"]
    ]
    out = pd.read_csv(project / "glob.csv")
    assert list(out.columns) == OUTPUT_COLUMNS
    kept = unseen.index != 252
    assert out["customerID"].tolist() == unseen["customerID"][kept].tolist()
    proba = pipeline.predict_proba(features(project, pipeline)[kept])
    assert np.allclose(out["proba_Yes"], proba[:, 1])


def reject(row: int, ids: pd.Series, column: str, value: str, reason: str) -> dict:
    return {"row": row, "id": ids[row - 1], "column": column, "value": value, "reason": reason}


def test_bad_rows_go_to_the_rejects_file(project, unseen, jobs) -> None:
    res = jobs["planted"]
    assert res.returncode == 0, res.stderr
    assert "3 rows rejected" in res.stdout
    rejects = pd.read_csv(project / "planted.rejects.csv")
    assert set(rejects["file"]) == {str(project / "planted.csv")}
    ids = unseen["customerID"]
    text, inf = "not a number (column type long)", "infinite number (column type double)"
    assert rejects.drop(columns="file").to_dict("records") == [
        reject(5, ids, "tenure", "twelve", text),
        reject(300, ids, "tenure", "unknown", text),
        reject(300, ids, "MonthlyCharges", "inf", inf),
        reject(451, ids, "MonthlyCharges", "-inf", inf),
    ]
    out = pd.read_parquet(project / "planted.parquet")
    assert len(out) == 597
    assert not set(out["customerID"]) & {ids[4], ids[299], ids[450]}


def test_strict_stops_at_the_first_bad_value_and_writes_nothing(project, jobs) -> None:
    res = jobs["strict"]
    assert res.returncode == 4
    assert f"row 5 of {project / 'planted.csv'}, column 'tenure'" in res.stderr
    assert "'twelve'" in res.stderr
    leftovers = [p.name for p in project.iterdir() if p.name.startswith((".strict", "strict"))]
    assert leftovers == []


def test_missing_columns_are_named_and_nothing_is_written(project, jobs) -> None:
    res = jobs["narrow"]
    assert res.returncode == 4
    assert "2 columns the model needs are missing: 'tenure', 'Contract'" in res.stderr
    assert not (project / "narrow.parquet").exists()


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ("churn/99", "model 'churn' has no version or alias '99'; versions: 1; aliases: champion"),
        ("nope@champion", "no registered model named 'nope'; registered models: churn"),
    ],
)
def test_unknown_model_reference_lists_what_exists(project, jobs, job, expected) -> None:
    res = jobs[job]
    assert res.returncode == 4
    assert expected in res.stderr
    output = project / JOBS[job][JOBS[job].index("--output") + 1]
    assert not output.exists()


def test_existing_output_needs_overwrite(project, jobs) -> None:
    res = jobs["existing"]
    assert res.returncode == 4
    assert "already exists" in res.stderr and "--overwrite" in res.stderr
    assert (project / "existing.csv").read_text() == "keep me\n"
