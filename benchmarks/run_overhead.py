"""Wall time of ``mlctl run`` against the equivalent hand-written sklearn + MLflow script.

Both sides run as a fresh subprocess with this interpreter's environment, timed
from launch to exit, each in its own temporary workspace (a fresh SQLite
tracking store and artifact folder):

* mlctl:    ``mlctl run RECIPE [overrides] --workspace TMP --json``
* baseline: a script generated from the composed recipe (``mlctl show --json``)
  that does what a data scientist would write by hand: read the CSV with
  pandas, coerce, split, derive the features, search every candidate with the
  same folds, spaces and budget, pick the winner by CV ROC AUC, score the test
  set, log a parent run with one nested run per candidate, log the winner with a
  signature and input example, and register it.

The baseline imports nothing from mlctl. This driver uses ``mlctl.catalog`` to
turn catalog names into sklearn class paths, which the generated script holds as
literals (see ``--keep`` to read it).

Usage::

    .venv/bin/python benchmarks/run_overhead.py                # full recipe, 1 repeat
    .venv/bin/python benchmarks/run_overhead.py --fast         # models=fast, quick check
    .venv/bin/python benchmarks/run_overhead.py --repeats 3    # alternating order

What mlctl does that the baseline does not (so read the ratio with that in mind):
data checks (expectations, target, ids), a data fingerprint, permutation
importance on the test set, plots and an HTML/Markdown report logged as
artifacts, the readiness gate (thresholds, CV stability, beat-the-baseline and a
champion comparison), the composed recipe logged as params and an artifact, the
git commit tag, per-fold progress through a multiprocessing manager, and a
serving-safe pipeline (coercion inside the model, so raw inputs are accepted).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import machine_busy, others_cpu, wait_quiet

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = REPO / "recipes" / "churn.yaml"

# The derived features the hand-written baseline implements (ChurnFeatures in the
# generated script). The driver refuses a recipe whose derived features differ,
# rather than timing a baseline that does different work.
BASELINE_DERIVED = [
    ("avg_monthly_spend", "fillna(TotalCharges, 0) / (tenure + 1)"),
    ("charge_drift", "MonthlyCharges - fillna(TotalCharges, 0) / (tenure + 1)"),
    ("log_tenure", "log1p(tenure)"),
    ("new_customer", "tenure <= quantile(tenure, 0.25)"),
    ("high_monthly", "MonthlyCharges > median(MonthlyCharges)"),
]

# Environment variables that would redirect either side away from its temp workspace.
TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLCTL_TRACKING_URI")


class BenchmarkError(Exception):
    """The recipe cannot be mirrored by the baseline, or a side failed."""


# --------------------------------------------------------------------------- recipe


def compose(mlctl: Path, recipe: Path, overrides: list[str]) -> dict[str, Any]:
    """The composed recipe, as ``mlctl show --json`` prints it."""
    out = subprocess.run(
        [str(mlctl), "show", str(recipe), *overrides, "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    if out.returncode != 0:
        raise BenchmarkError(f"mlctl show failed ({out.returncode}):\n{out.stderr.strip()}")
    return json.loads(out.stdout)


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise BenchmarkError(f"the hand-written baseline cannot mirror this recipe: {what}")


def _space_literal(space: Any) -> str:
    """Python source of one tuning space, as mlctl.train.search.param_space builds it."""
    if isinstance(space, list):
        return repr(space)
    low, high, kind = space["low"], space["high"], space["distribution"]
    if kind == "uniform":
        return f"stats.uniform({low!r}, {high - low!r})"
    if kind == "loguniform":
        return f"stats.loguniform({low!r}, {high!r})"
    if kind == "randint":
        return f"stats.randint({int(low)!r}, {int(high) + 1!r})"
    raise BenchmarkError(f"unknown distribution {kind!r}")


def baseline_spec(composed: dict[str, Any], recipe: Path) -> dict[str, Any]:
    """Everything the generated script needs, resolved from the composed recipe."""
    from mlctl.catalog import class_path_for, import_class, resolve_estimator_class
    from mlctl.train.search import grid_size

    task = composed.get("task", "classification")
    _require(task == "classification", f"task {task!r} (only classification)")
    data = composed["data"]
    features = composed["features"]
    models = composed["models"]
    tuning = composed.get("tuning", {})
    split = data.get("split", {})
    metric = models.get("selection_metric") or "roc_auc"
    _require(metric == "roc_auc", f"selection_metric {metric!r} (only roc_auc)")
    _require(split.get("strategy", "stratified") == "stratified", "split strategy")
    _require(
        [(d["name"], d["expr"]) for d in features.get("derived", [])] == BASELINE_DERIVED,
        "derived features differ from the ones written in the baseline (BASELINE_DERIVED)",
    )
    num = {"impute": "median", "scale": "standard", "add_missing_indicator": False}
    num.update(features.get("numeric_transform", {}))
    cat = {"impute": "constant", "encode": "onehot", "min_frequency": None}
    cat.update(features.get("categorical_transform", {}))
    _require(
        (num["impute"], num["scale"], num["add_missing_indicator"])
        == ("median", "standard", False),
        f"numeric_transform {num}",
    )
    _require(
        (cat["impute"], cat["encode"], cat["min_frequency"]) == ("constant", "onehot", None),
        f"categorical_transform {cat}",
    )
    coerce = data.get("coerce", {})
    _require(all(t in ("float", "int") for t in coerce.values()), f"data.coerce {coerce}")
    _require(data.get("format", "auto") in ("auto", "csv"), "data.format")
    source = (recipe.parent / data["source"]).resolve()
    _require(source.suffix.lower() == ".csv" and source.is_file(), f"data.source {source}")

    seed = composed.get("seed", 42)
    strategy = tuning.get("strategy", "random")
    n_iter = tuning.get("n_iter", 10)
    prefixes = models.get("allowed_prefixes", [])

    def entry(name: str, estimator: str | None, target: str | None, cand: dict[str, Any]):
        cls = resolve_estimator_class(estimator, target, task, prefixes)
        path = class_path_for(estimator, task) if estimator else target
        assert import_class(path) is cls
        params = dict(cand.get("params", {}))
        if "random_state" in inspect.signature(cls).parameters and "random_state" not in params:
            params["random_state"] = seed  # as mlctl.train.trainer.make_estimator does
        search = cand.get("search", {})
        space = {f"model__{k}": _space_literal(v) for k, v in search.items()}
        if not space or strategy == "none":
            kind, space, budget = "grid", {}, None
        elif strategy == "grid":
            kind, budget = "grid", None
        else:
            size = grid_size(search)
            kind, budget = "random", min(n_iter, size) if size else n_iter
        return {
            "name": name,
            "class_path": path,
            "params": params,
            "space": space,
            "kind": kind,
            "n_iter": budget,
        }

    candidates = [entry("baseline", "dummy", None, {"params": {"strategy": "prior"}})]
    for name, cand in models["candidates"].items():
        if cand.get("enabled", True):
            candidates.append(entry(name, cand.get("estimator"), cand.get("_target_"), cand))
    deploy = composed.get("deploy", {})
    return {
        "name": composed["name"],
        "csv": str(source),
        "target": data["target"],
        "positive": data.get("positive_class"),
        "coerce": list(coerce),
        "numeric": list(features.get("numeric", [])),
        "categorical": list(features.get("categorical", [])),
        "derived": [name for name, _ in BASELINE_DERIVED],
        "test_size": split.get("test_size", 0.2),
        "split_seed": split.get("seed", seed),
        "seed": seed,
        "folds": models.get("cv_folds", 5),
        "n_jobs": tuning.get("n_jobs", -1),
        "threshold": composed.get("evaluation", {}).get("threshold", 0.5),
        "model_name": deploy.get("model_name") or composed["name"],
        "candidates": candidates,
    }


# ------------------------------------------------------------------ generated script

SCRIPT_HEAD = '''\
"""Hand-written sklearn + MLflow equivalent of `mlctl run` for the {name} recipe.

Generated by benchmarks/run_overhead.py; imports nothing from mlctl.
Usage: python {file} WORKSPACE_DIR
"""

import time

T0 = time.perf_counter()

import json
import os
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # mlctl sets this too

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
'''

SCRIPT_BODY = '''

class ChurnFeatures(TransformerMixin, BaseEstimator):
    """Derived features; the quantile and median are learned on the training fold."""

    def fit(self, X, y=None):
        self.tenure_q25_ = float(X["tenure"].astype(float).quantile(0.25))
        self.monthly_median_ = float(X["MonthlyCharges"].astype(float).median())
        return self

    def transform(self, X):
        X = X.copy()
        tenure = X["tenure"].astype(float)
        spend = X["TotalCharges"].fillna(0) / (tenure + 1)
        X["avg_monthly_spend"] = spend
        X["charge_drift"] = X["MonthlyCharges"] - spend
        X["log_tenure"] = np.log1p(tenure)
        X["new_customer"] = (tenure <= self.tenure_q25_).astype(float)
        X["high_monthly"] = (X["MonthlyCharges"] > self.monthly_median_).astype(float)
        return X


def make_pipeline(estimator):
    columns = ColumnTransformer(
        [
            (
                "num",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                NUMERIC + DERIVED,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                CATEGORICAL,
            ),
        ]
    )
    return Pipeline([("derive", ChurnFeatures()), ("columns", columns), ("model", estimator)])


def test_metrics(model, X, y):
    classes = list(model.classes_)
    proba = model.predict_proba(X)
    p = proba[:, classes.index(POSITIVE)]
    truth, pred = (y == POSITIVE).to_numpy(), p >= THRESHOLD
    return {
        "accuracy": accuracy_score(truth, pred),
        "precision": precision_score(truth, pred, zero_division=np.nan),
        "recall": recall_score(truth, pred, zero_division=np.nan),
        "f1": f1_score(truth, pred),
        "roc_auc": roc_auc_score(truth, p),
        "pr_auc": average_precision_score(truth, p),
        "log_loss": log_loss(y, proba, labels=classes),
        "balanced_accuracy": balanced_accuracy_score(truth, pred),
    }


def finite(metrics):
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}


def main(workspace):
    phases = {"imports": time.perf_counter() - T0}

    # Data: read, coerce, split.
    t = time.perf_counter()
    df = pd.read_csv(CSV)
    for col in COERCE:
        df[col] = pd.to_numeric(df[col], errors="coerce")  # " " -> NaN
    df[CATEGORICAL] = df[CATEGORICAL].astype(str)
    X, y = df[NUMERIC + CATEGORICAL], df[TARGET]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    phases["data"] = time.perf_counter() - t

    # Search every candidate with the same folds and budget; refit the best.
    t = time.perf_counter()
    cv = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    searches, fit_seconds = {}, {}
    for name, (estimator, space, n_iter) in CANDIDATES.items():
        started = time.perf_counter()
        pipe = make_pipeline(estimator)
        if n_iter is None:
            search = GridSearchCV(pipe, space, scoring="roc_auc", cv=cv, n_jobs=N_JOBS)
        else:
            search = RandomizedSearchCV(
                pipe,
                space,
                n_iter=n_iter,
                scoring="roc_auc",
                cv=cv,
                n_jobs=N_JOBS,
                random_state=SEED,
            )
        searches[name] = search.fit(X_train, y_train)
        fit_seconds[name] = round(time.perf_counter() - started, 2)
    winner = max((n for n in searches if n != "baseline"), key=lambda n: searches[n].best_score_)
    model = searches[winner].best_estimator_
    phases["search"] = time.perf_counter() - t

    t = time.perf_counter()
    tests = {n: test_metrics(s.best_estimator_, X_test, y_test) for n, s in searches.items()}
    phases["evaluate"] = time.perf_counter() - t

    # Track: parent run, one nested run per candidate, the winner's model, registry.
    t = time.perf_counter()
    uri = f"sqlite:///{workspace / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment(
        NAME, artifact_location=(workspace / "artifacts").as_uri()
    )
    run_name = f"{NAME}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    with mlflow.start_run(experiment_id=experiment, run_name=run_name) as parent:
        mlflow.log_params(
            {"seed": SEED, "cv_folds": FOLDS, "test_size": TEST_SIZE, "metric": "roc_auc"}
        )
        for name, search in searches.items():
            with mlflow.start_run(experiment_id=experiment, run_name=name, nested=True):
                params = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
                best = search.best_index_
                std = search.cv_results_["std_test_score"][best]
                if params:
                    mlflow.log_params(params)
                mlflow.log_metrics(
                    finite(
                        {
                            "cv_roc_auc_mean": search.best_score_,
                            "cv_roc_auc_std": std,
                            **{f"test_{k}": v for k, v in tests[name].items()},
                        }
                    )
                )
        mlflow.log_metrics(finite({f"test_{k}": v for k, v in tests[winner].items()}))
        mlflow.log_metric("cv_roc_auc_mean", searches[winner].best_score_)
        mlflow.set_tag("winner", winner)
        example = X_train.head(5)
        signature = infer_signature(example, model.predict(example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=[f"{p}=={version(p)}" for p in REQUIREMENTS],
            **serialization_options(model),
        )
        mv = mlflow.register_model(info.model_uri, MODEL_NAME)
        MlflowClient().set_registered_model_alias(MODEL_NAME, "challenger", mv.version)
    phases["mlflow"] = time.perf_counter() - t
    phases["total"] = time.perf_counter() - T0
    print(
        json.dumps(
            {
                "winner": winner,
                "cv_roc_auc": searches[winner].best_score_,
                "test_roc_auc": tests[winner]["roc_auc"],
                "version": int(mv.version),
                "run_id": parent.info.run_id,
                "fit_seconds": fit_seconds,
                "phases": {k: round(v, 2) for k, v in phases.items()},
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
'''

SERIALIZATION = {
    "skops": """

import skops.io as sio  # noqa: E402

REQUIREMENTS = ["scikit-learn", "skops", "numpy", "pandas", "scipy"]


def serialization_options(model):
    # skops refuses to load types it was not told to trust: list this model's.
    trusted = sio.get_untrusted_types(data=sio.dumps(model))
    return {"serialization_format": "skops", "skops_trusted_types": trusted}
""",
    "cloudpickle": """

REQUIREMENTS = ["scikit-learn", "cloudpickle", "numpy", "pandas", "scipy"]


def serialization_options(model):
    return {"serialization_format": "cloudpickle"}
""",
}


def _literal(value: Any) -> str:
    return repr(value)


def generate_script(spec: dict[str, Any], serialization: str, file_name: str) -> str:
    """Source of the hand-written baseline for ``spec``."""
    imports = sorted({c["class_path"] for c in spec["candidates"]})
    lines = [SCRIPT_HEAD.format(name=spec["name"], file=file_name)]
    for path in imports:
        module, _, cls = path.rpartition(".")
        lines.append(f"from {module} import {cls}")
    lines.append("")
    consts = {
        "NAME": spec["name"],
        "CSV": spec["csv"],
        "TARGET": spec["target"],
        "POSITIVE": spec["positive"],
        "COERCE": spec["coerce"],
        "NUMERIC": spec["numeric"],
        "CATEGORICAL": spec["categorical"],
        "DERIVED": spec["derived"],
        "TEST_SIZE": spec["test_size"],
        "SPLIT_SEED": spec["split_seed"],
        "SEED": spec["seed"],
        "FOLDS": spec["folds"],
        "N_JOBS": spec["n_jobs"],
        "THRESHOLD": spec["threshold"],
        "MODEL_NAME": spec["model_name"],
    }
    for key, value in consts.items():
        lines.append(f"{key} = {_literal(value)}")
    lines.append("")
    lines.append("# name: (estimator, search space, n_iter of a random search or None for grid)")
    lines.append("CANDIDATES = {")
    for c in spec["candidates"]:
        cls = c["class_path"].rpartition(".")[2]
        args = ", ".join(f"{k}={v!r}" for k, v in c["params"].items())
        space = "{" + ", ".join(f"{k!r}: {v}" for k, v in c["space"].items()) + "}"
        lines.append(f"    {c['name']!r}: ({cls}({args}), {space}, {c['n_iter']!r}),")
    lines.append("}")
    return "\n".join(lines) + SERIALIZATION[serialization] + SCRIPT_BODY


# ------------------------------------------------------------------------- timing


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in TRACKING_ENV:
        env.pop(key, None)
    return env


def timed(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Run ``cmd`` to completion; wall time from launch to exit and the tree's CPU time.

    CPU time comes from RUSAGE_CHILDREN, so it counts the process and the
    descendants it waited for (joblib/loky workers, the multiprocessing manager).
    ``others`` is the CPU time the rest of the machine used meanwhile (noise).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = machine_busy()
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=clean_env())
    wall = time.perf_counter() - started
    busy_after = machine_busy()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    others = None
    if busy_before is not None and busy_after is not None:
        others = max(0.0, busy_after - busy_before - cpu)
    return {
        "wall": wall,
        "cpu": cpu,
        "others": others,
        "rc": proc.returncode,
        "out": proc.stdout,
        "err": proc.stderr,
    }


def run_mlctl(mlctl: Path, recipe: Path, overrides: list[str], tmp: Path) -> dict[str, Any]:
    ws = Path(tempfile.mkdtemp(prefix="mlctl-ws-", dir=tmp))
    res = timed([str(mlctl), "run", str(recipe), *overrides, "--workspace", str(ws), "--json"], ws)
    # 0: ready and registered; 3: trained and tracked but the gate said not ready.
    if res["rc"] not in (0, 3):
        raise BenchmarkError(f"mlctl run failed ({res['rc']}):\n{res['err'][-3000:]}")
    doc = json.loads(res["out"])
    board = {row["candidate"]: row for row in doc["leaderboard"]}
    res["summary"] = {
        "status": doc["status"],
        "winner": doc["winner"],
        "cv_roc_auc": doc["cv"]["mean"],
        "test_roc_auc": doc["test_metrics"]["roc_auc"],
        "version": doc["model"]["version"],
        "run_seconds": doc["seconds"],  # mlctl.runner.run, after imports and recipe load
        "fit_seconds": {name: row["fit_seconds"] for name, row in board.items()},
    }
    return res


def run_baseline(script: Path, tmp: Path) -> dict[str, Any]:
    ws = Path(tempfile.mkdtemp(prefix="baseline-ws-", dir=tmp))
    res = timed([sys.executable, str(script), str(ws)], ws)
    if res["rc"] != 0:
        raise BenchmarkError(f"baseline script failed ({res['rc']}):\n{res['err'][-3000:]}")
    res["summary"] = json.loads(res["out"].strip().splitlines()[-1])
    return res


def warm_up() -> None:
    """Import the libraries both sides use once, so neither pays a cold page cache."""
    code = (
        "import mlflow, mlflow.sklearn, sklearn.ensemble, sklearn.linear_model, pandas, scipy,"
        " skops.io, matplotlib.pyplot, mlctl.cli.main, mlctl.runner"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=clean_env())


# -------------------------------------------------------------------------- report


def _fmt(seconds: float) -> str:
    return f"{seconds:7.1f} s"


def report(pairs: list[tuple[dict[str, Any], dict[str, Any]]], spec: dict[str, Any]) -> None:
    print()
    print(
        "repeat  order            mlctl   baseline  ratio |   cpu: mlctl / baseline"
        " | other procs' cpu during mlctl / baseline"
    )
    for i, (m, b) in enumerate(pairs, 1):
        order = "mlctl first" if m["first"] else "baseline first"
        print(
            f"{i:>6}  {order:<14} {_fmt(m['wall'])} {_fmt(b['wall'])}  {m['wall'] / b['wall']:5.2f}"
            f" | {m['cpu']:6.1f} s / {b['cpu']:6.1f} s  {m['cpu'] / b['cpu']:5.2f}"
            f" | {others_cpu(m)} / {others_cpu(b)}"
        )
    mw = statistics.median(m["wall"] for m, _ in pairs)
    bw = statistics.median(b["wall"] for _, b in pairs)
    print()
    print(f"median wall: mlctl {mw:.1f} s, baseline {bw:.1f} s, ratio mlctl/baseline {mw / bw:.2f}")
    if len(pairs) > 1:
        mn = min(m["wall"] for m, _ in pairs)
        bn = min(b["wall"] for _, b in pairs)
        print(
            f"min wall:    mlctl {mn:.1f} s, baseline {bn:.1f} s, ratio mlctl/baseline {mn / bn:.2f}"
        )
    mc = statistics.median(m["cpu"] for m, _ in pairs)
    bc = statistics.median(b["cpu"] for _, b in pairs)
    print(f"median cpu:  mlctl {mc:.1f} s, baseline {bc:.1f} s, ratio mlctl/baseline {mc / bc:.2f}")

    m, b = pairs[-1][0]["summary"], pairs[-1][1]["summary"]
    print()
    print("last repeat, side by side (same work should give the same numbers):")
    print(f"  winner           mlctl {m['winner']:<16} baseline {b['winner']}")
    print(f"  cv roc_auc       mlctl {m['cv_roc_auc']:<16.5f} baseline {b['cv_roc_auc']:.5f}")
    print(f"  test roc_auc     mlctl {m['test_roc_auc']:<16.5f} baseline {b['test_roc_auc']:.5f}")
    print(f"  registered       mlctl v{m['version']} ({m['status']})    baseline v{b['version']}")
    print("  search seconds per candidate (mlctl / baseline):")
    for c in spec["candidates"]:
        name = c["name"]
        print(
            f"    {name:<16} {m['fit_seconds'].get(name, float('nan')):6.1f} / {b['fit_seconds'][name]:6.1f}"
        )
    wall = pairs[-1][0]["wall"]
    print(
        f"  mlctl: {m['run_seconds']:.1f} s inside runner.run, "
        f"{wall - m['run_seconds']:.1f} s before/after it (imports, recipe load, exit)"
    )
    print(f"  baseline phases: {json.dumps(b['phases'])}")
    print()
    print(
        "mlctl also does (the baseline does not): data checks and fingerprint, permutation\n"
        "importance, plots + HTML/Markdown report logged as artifacts, the readiness gate\n"
        "(thresholds, CV stability, beat-the-baseline, champion comparison), composed recipe\n"
        "logged as params/artifact, git commit tag, per-fold progress via a multiprocessing\n"
        "manager, skops trusted-type check, and coercion inside the served pipeline."
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE, help="recipe to run")
    p.add_argument("overrides", nargs="*", help="Hydra-style overrides passed to mlctl")
    p.add_argument("--repeats", type=int, default=1, help="pairs to time (order alternates)")
    p.add_argument("--fast", action="store_true", help="models=fast (one logreg, 3 folds)")
    p.add_argument(
        "--serialization",
        choices=("skops", "cloudpickle"),
        default="skops",
        help="how the baseline logs its model (mlctl always uses skops)",
    )
    p.add_argument("--mlctl", type=Path, default=Path(sys.executable).parent / "mlctl")
    p.add_argument("--no-warmup", action="store_true", help="skip the import warm-up")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for the machine to be <25%% busy",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (script, workspaces)")
    p.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = p.parse_args(argv)

    recipe = args.recipe.resolve()
    overrides = list(args.overrides) + (["models=fast"] if args.fast else [])
    tmp = Path(tempfile.mkdtemp(prefix="mlctl-bench-"))
    try:
        composed = compose(args.mlctl, recipe, overrides)
        spec = baseline_spec(composed, recipe)
        script = tmp / "baseline_run.py"
        script.write_text(generate_script(spec, args.serialization, script.name))
        names = ", ".join(
            f"{c['name']} ({c['kind']}, n_iter={c['n_iter']})" for c in spec["candidates"]
        )
        print(f"recipe:    {recipe} {' '.join(overrides)}")
        print(f"baseline:  {script} ({args.serialization}); folds={spec['folds']}; {names}")
        print(
            f"machine:   {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        )
        if not args.no_warmup:
            warm_up()
        pairs = []
        for i in range(args.repeats):
            mlctl_first = i % 2 == 0
            order = ("mlctl", "baseline") if mlctl_first else ("baseline", "mlctl")
            got: dict[str, dict[str, Any]] = {}
            for side in order:
                if args.wait_quiet > 0:
                    busy = wait_quiet(args.wait_quiet)
                    if busy is not None:
                        print(f"  (machine {busy:.0%} busy before {side})", flush=True)
                if side == "mlctl":
                    got[side] = run_mlctl(args.mlctl, recipe, overrides, tmp)
                else:
                    got[side] = run_baseline(script, tmp)
                print(f"  repeat {i + 1}: {side:<8} {got[side]['wall']:.1f} s", flush=True)
            got["mlctl"]["first"] = mlctl_first
            pairs.append((got["mlctl"], got["baseline"]))
        report(pairs, spec)
        if args.json:
            doc = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "recipe": str(recipe),
                "overrides": overrides,
                "serialization": args.serialization,
                "repeats": [
                    {
                        "mlctl_wall": m["wall"],
                        "baseline_wall": b["wall"],
                        "mlctl_cpu": m["cpu"],
                        "baseline_cpu": b["cpu"],
                        "mlctl_others_cpu": m["others"],
                        "baseline_others_cpu": b["others"],
                        "mlctl_first": m["first"],
                        "mlctl": m["summary"],
                        "baseline": b["summary"],
                    }
                    for m, b in pairs
                ],
            }
            args.json.write_text(json.dumps(doc, indent=2))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
