"""The registered model outside mlctl: a venv holding only the model's requirements.txt
(no mlctl) loads it with ``mlflow.pyfunc``, serves it with ``mlflow models serve`` and
evaluates it with ``mlflow.models.evaluate`` on raw Telco rows (blank ``TotalCharges``,
integer columns as read by pandas) in any column order, and answers as ``mlctl predict``.

And the other way round: mlctl's own loaders keep using the INSTALLED ``mlctl_runtime``
even when a model's bundled copy differs. Trains one model; builds the bare venv once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from serve_helpers import FAST, Server, call, free_port, mlctl

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
SAMPLE = "raw.csv"  # a few hundred raw rows, with every blank TotalCharges of the file


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("portable"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stdout + res.stderr
    raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    blanks = raw[raw["TotalCharges"].str.strip() == ""]
    sample = pd.concat([raw.iloc[600:850], blanks])
    sample.to_csv(root / SAMPLE, index=False)  # written exactly as in the shipped file
    return root


@pytest.fixture(scope="module")
def model_dir(project) -> Path:
    found = sorted((project / ".mlctl").rglob("MLmodel"))
    assert len(found) == 1, found
    return found[0].parent


@pytest.fixture(scope="module")
def bare(tmp_path_factory, model_dir) -> Path:
    """A venv without system site packages and with only the model's requirements.

    This pip installs into it (``--python``): the venv gets no pip of its own, and no
    byte-code is compiled up front (64 s -> 25 s on 2 cores; Python compiles what a
    test imports)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    requirements = str(model_dir / "requirements.txt")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
        + ["-r", requirements],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def expected(project) -> pd.DataFrame:
    """``mlctl predict`` on the raw sample: the answers every other path must give."""
    res = mlctl(project, "predict", "recipes/churn.yaml", "--input", SAMPLE, "--output", "p.csv")
    assert res.returncode == 0, res.stdout + res.stderr
    out = pd.read_csv(project / "p.csv")
    assert len(out) == len(pd.read_csv(project / SAMPLE))  # nothing rejected
    return out


def bare_env(venv: Path, project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    return env


def run_bare(venv: Path, project: Path, script: str) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [str(venv / "bin" / "python"), "-c", textwrap.dedent(script)],
        cwd=project,
        env=bare_env(venv, project),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res


NO_MLCTL = """
import importlib.util, sys
assert importlib.util.find_spec("mlctl") is None, "mlctl must not be importable here"
assert sys.prefix != sys.base_prefix
"""


def test_pyfunc_without_mlctl_predicts_raw_rows_like_mlctl_predict(bare, project, expected) -> None:
    res = run_bare(
        bare,
        project,
        NO_MLCTL
        + f"""
import json, mlflow, pandas as pd
model = mlflow.pyfunc.load_model("models:/churn@champion")
df = pd.read_csv({SAMPLE!r})
print(json.dumps(list(model.predict(df))))
""",
    )
    assert json.loads(res.stdout.splitlines()[-1]) == expected["prediction"].tolist()


def test_pyfunc_without_mlctl_any_column_order_and_types(bare, project, expected) -> None:
    """Shuffled columns with extras, ints sent as floats, TotalCharges as numbers."""
    res = run_bare(
        bare,
        project,
        NO_MLCTL
        + f"""
import json, mlflow, numpy as np, pandas as pd
model = mlflow.pyfunc.load_model("models:/churn@champion")
df = pd.read_csv({SAMPLE!r})
rng = np.random.default_rng(7)
shuffled = df[list(rng.permutation(df.columns))].assign(extra="x")
floats = df.astype({{"tenure": float, "SeniorCitizen": float}})
numbers = df.assign(TotalCharges=pd.to_numeric(df["TotalCharges"], errors="coerce"))
print(json.dumps([list(model.predict(d)) for d in (shuffled, floats, numbers)]))
""",
    )
    for answers in json.loads(res.stdout.splitlines()[-1]):
        assert answers == expected["prediction"].tolist()


def test_sklearn_flavor_loads_without_mlctl(bare, project, expected) -> None:
    res = run_bare(
        bare,
        project,
        NO_MLCTL
        + f"""
import json, mlflow, pandas as pd
pipeline = mlflow.sklearn.load_model("models:/churn@champion")
df = pd.read_csv({SAMPLE!r})
print(json.dumps(pipeline.predict_proba(df)[:, 1].tolist()))
""",
    )
    proba = json.loads(res.stdout.splitlines()[-1])
    assert proba == pytest.approx(expected["proba_Yes"].tolist(), abs=1e-9)


def test_evaluate_without_mlctl_on_shuffled_raw_table(bare, project) -> None:
    res = run_bare(
        bare,
        project,
        NO_MLCTL
        + f"""
import json, mlflow, numpy as np, pandas as pd
df = pd.read_csv({SAMPLE!r})
df = df[list(np.random.default_rng(3).permutation(df.columns))]
assert list(df.columns)[:3] != ["customerID", "gender", "SeniorCitizen"]
mlflow.set_experiment("portable-evaluate")
with mlflow.start_run():
    result = mlflow.models.evaluate(
        "models:/churn@champion",
        df,
        targets="Churn",
        model_type="classifier",
        evaluators="default",
        evaluator_config={{"pos_label": "Yes", "log_model_explainability": False}},
    )
print(json.dumps({{k: float(v) for k, v in result.metrics.items()}}))
""",
    )
    metrics = json.loads(res.stdout.splitlines()[-1])
    assert 0.5 < metrics["accuracy_score"] <= 1.0
    assert 0.5 < metrics["roc_auc"] <= 1.0


def test_mlflow_models_serve_without_mlctl(bare, project, expected) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(bare / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/churn@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=project,
        env=bare_env(bare, project),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate(timeout=5)[0][-3000:]
            try:
                if call(url + "/ping", timeout=2).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("mlflow models serve not ready after 120 s")
        raw = pd.read_csv(project / SAMPLE, dtype=str, keep_default_na=False)
        records = json.loads(pd.read_csv(project / SAMPLE).to_json(orient="records"))
        shuffled = raw[list(reversed(raw.columns))]
        bodies = [
            ({"dataframe_records": records}, "application/json"),
            ({"dataframe_split": shuffled.to_dict(orient="split")}, "application/json"),
            ((project / SAMPLE).read_bytes(), "text/csv"),
            (shuffled.to_csv(index=False).encode(), "text/csv"),
        ]
        for body, ctype in bodies:
            reply = call(url + "/invocations", "POST", body, content_type=ctype, timeout=60)
            assert reply.status == 200, reply.body[:2000]
            assert reply.json["predictions"] == expected["prediction"].tolist()
        # A missing column is a 400; MLflow's server keeps a model's own error message
        # in the body's stack_trace (its format, not ours), which names the column.
        partial = [without(r, "tenure") for r in records[:3]]
        reply = call(url + "/invocations", "POST", {"dataframe_records": partial}, timeout=60)
        assert reply.status == 400, reply.body[:2000]
        assert reply.json["error_code"] == "BAD_REQUEST"
        assert "lacks columns the model needs: 'tenure'" in reply.json["stack_trace"]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)


# ------------------------------------------------ mlctl's own entry points, any order
def shuffled_sample(project: Path) -> pd.DataFrame:
    raw = pd.read_csv(project / SAMPLE, dtype=str, keep_default_na=False)
    return raw[list(reversed(raw.columns))]


def test_mlctl_predict_any_column_order(project, expected) -> None:
    shuffled_sample(project).to_csv(project / "shuffled.csv", index=False)
    res = mlctl(
        project, "predict", "recipes/churn.yaml", "--input", "shuffled.csv", "--output", "s.csv"
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = pd.read_csv(project / "s.csv")
    assert out["prediction"].tolist() == expected["prediction"].tolist()


def without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


def test_mlctl_serve_any_column_order(project, expected) -> None:
    shuffled = shuffled_sample(project)
    records = json.loads(shuffled.to_json(orient="records"))
    split = json.loads(shuffled.to_json(orient="split", index=False))
    srv = Server(project, "recipes/churn.yaml")
    try:
        srv.wait_ready()
        replies = [
            srv.post("/invocations", {"dataframe_records": records}),
            srv.post("/invocations", {"dataframe_split": split}),
            srv.post(
                "/invocations", shuffled.to_csv(index=False).encode(), content_type="text/csv"
            ),
            # mlctl's own /predict refuses unknown columns (here the target) by design.
            srv.post("/predict", {"records": [without(r, "Churn") for r in records]}),
        ]
    finally:
        srv.stop()
    for reply in replies:
        assert reply.status == 200, reply.body[:2000]
    answers = [r.json["predictions"] for r in replies[:3]]
    answers.append([p["prediction"] for p in replies[3].json["predictions"]])
    for predictions in answers:
        assert predictions == expected["prediction"].tolist()


# ------------------------------------- a model's bundled copy never shadows mlctl's own
STALE = 'raise ImportError("the stale mlctl_runtime copy of a model was imported")\n'


@pytest.fixture
def stale_bundle(project, model_dir):
    """The model's bundled ``mlctl_runtime`` replaced by a copy that cannot be imported
    (as if logged by another mlctl), its SHA-256 re-recorded so ``mlctl serve`` accepts
    it as that older registration; everything is put back afterwards."""
    import mlflow

    from mlctl.tracking.artifacts import DIGEST_TAG, tree_digest
    from mlctl.tracking.runs import use_store

    bundled = model_dir / "code" / "mlctl_runtime"
    originals = {p: p.read_bytes() for p in bundled.glob("*.py")}
    restore = use_store(f"sqlite:///{project / '.mlctl' / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    digest = client.get_model_version("churn", "1").tags[DIGEST_TAG]
    try:
        for path in originals:
            path.write_text(STALE)
        client.set_model_version_tag("churn", "1", DIGEST_TAG, tree_digest(model_dir))
        yield bundled
    finally:
        for path, data in originals.items():
            path.write_bytes(data)
        client.set_model_version_tag("churn", "1", DIGEST_TAG, digest)
        restore()


def test_mlctl_uses_the_installed_runtime_not_a_model_copy(stale_bundle, project, expected):
    res = mlctl(project, "predict", "recipes/churn.yaml", "--input", SAMPLE, "--output", "o.csv")
    assert res.returncode == 0, res.stdout + res.stderr
    assert pd.read_csv(project / "o.csv")["prediction"].tolist() == expected["prediction"].tolist()

    srv = Server(project, "recipes/churn.yaml")
    try:
        srv.wait_ready()
        body = (project / SAMPLE).read_bytes()
        reply = srv.post("/invocations", body, content_type="text/csv")
    finally:
        srv.stop()
    assert reply.status == 200, reply.body[:2000]
    assert reply.json["predictions"] == expected["prediction"].tolist()

    # A notebook where mlctl is installed: the model's copy would break a plain pyfunc
    # load, but importing mlctl first makes MLflow use the installed one.
    code = """
import mlflow, mlctl, mlctl_runtime
from mlctl.tracking.registry import Registry
model = mlflow.pyfunc.load_model("models:/churn@champion")
import mlctl_runtime.transformers as t
print(mlctl_runtime.__file__); print(t.__file__)
"""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    import mlctl_runtime

    installed = Path(mlctl_runtime.__file__).resolve().parent
    assert [Path(p).resolve().parent for p in res.stdout.split()] == [installed, installed]


# ------------------------------------------- hostile tables through pyfunc, without mlctl
# case → (how the raw table is changed, None for "predicts as mlctl predict" or the text
# the error must hold). Every case runs in the bare venv, in one process.
HOSTILE = {
    "missing_column": ("df.drop(columns=['tenure'])", "lacks columns the model needs: 'tenure'"),
    "misspelled_column": (
        "df.rename(columns={'tenure': 'Tenure'})",
        "'tenure'; did you mean 'Tenure'?",
    ),
    "padded_name": ("df.rename(columns={'Contract': ' Contract'})", "'Contract'"),
    "repeated_column": (
        "pd.concat([df, df[['gender']]], axis=1)",
        "holds columns more than once: 'gender'",
    ),
    "everything_text": ("df.astype(str)", None),
    "reversed_with_extras": ("df[df.columns[::-1]].assign(x=1, y='z')", None),
    "ints_as_floats": ("df.astype({'tenure': float, 'SeniorCitizen': float})", None),
    "category_as_text_numbers": ("df.assign(SeniorCitizen=df['SeniorCitizen'].astype(str))", None),
    "charges_as_numbers": (
        "df.assign(TotalCharges=pd.to_numeric(df['TotalCharges'], errors='coerce'))",
        None,
    ),
    "charges_as_object_none": (
        "df.assign(TotalCharges=df['TotalCharges'].astype(object).where("
        "df['TotalCharges'].str.strip() != '', None))",
        None,
    ),
    "index_not_range": ("df.set_axis(range(1000, 1000 + len(df)), axis=0)", None),
}
PROBE = """
import json, mlflow, numpy as np, pandas as pd
model = mlflow.pyfunc.load_model("models:/churn@champion")
df = pd.read_csv({sample!r})
out = {{}}
for name, change in {cases!r}.items():
    try:
        out[name] = {{"predictions": [str(p) for p in model.predict(eval(change))]}}
    except Exception as exc:
        out[name] = {{"error": type(exc).__name__, "message": str(exc)[:2000]}}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def hostile(bare, project) -> dict:
    cases = {name: change for name, (change, _) in HOSTILE.items()}
    res = run_bare(bare, project, NO_MLCTL + PROBE.format(sample=SAMPLE, cases=cases))
    return json.loads(res.stdout.splitlines()[-1])


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tables_through_pyfunc_without_mlctl(case, hostile, expected) -> None:
    result, wanted = hostile[case], HOSTILE[case][1]
    if wanted is None:
        assert result.get("predictions") == expected["prediction"].tolist(), result
    else:
        assert result.get("error") == "DataError", result  # mlctl_runtime's, by name
        assert wanted in result["message"]
        assert "Traceback" not in result["message"]


# ----------------------------------------------- the documented examples, without mlctl
def python_block(doc: Path, after: str) -> str:
    text = doc.read_text(encoding="utf-8")
    start = text.index("```python\n", text.index(after)) + len("```python\n")
    return text[start : text.index("```", start)]


@pytest.mark.parametrize(
    ("doc", "after"),
    [
        ("README.md", "standard MLflow tools use it"),
        ("docs/tracking.md", "## Loading and serving a model"),
    ],
)
def test_documented_python_runs_without_mlctl(doc, after, bare, project) -> None:
    """Run from the project folder (.mlctl/mlflow.db, data/telco/ as in the docs)."""
    block = python_block(REPO / doc, after)
    assert "read_csv" in block
    res = run_bare(bare, project, NO_MLCTL + block)
    assert "'Yes'" in res.stdout or "'No'" in res.stdout, res.stdout[-2000:]
