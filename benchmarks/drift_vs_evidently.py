"""Drift tests: mlctl's profile-based checks against Evidently's DataDriftPreset.

Evidently 0.7 does not import with pandas 3 (mlctl's venv), so it runs in a venv of its
own (``pip install 'evidently>=0.7,<0.8' 'pandas<3' pyarrow``), created under a
temporary folder, or at ``--evidently-venv PATH`` and kept there for the next run.

The data are the Telco churn table's model inputs (the churn recipe's 3 numeric and
16 categorical columns, read as the model reads them: ``TotalCharges`` as numbers,
categories as text). Scenarios:

* ``small``: reference = 1,000 Telco rows, current = 800 others (Evidently picks KS,
  chi-square and Z tests; mlctl's profile keeps these columns exactly);
* ``1M``: reference = 1,000,000 rows resampled from Telco, current = 1,000,000 rows
  (Wasserstein and Jensen-Shannon; ``MonthlyCharges`` and ``TotalCharges`` have more
  than 1,000 distinct values, so mlctl's profile holds a quantile sketch of them);

each with a current window drawn like the reference (``same``) and one that drifted
(``drifted``: month-to-month contracts and fibre over-represented, monthly charges
+8 %, tenure −3 months). Both sides read the same parquet files. For each column the
table shows the test each side chose, its score (the p-value of a test, else the
distance), the absolute difference and both verdicts. A second Evidently report with
``method="psi"`` is compared with mlctl's PSI with 30 bins (protocols.md) and with
``bins="sturges"`` (what Evidently 0.7's code does).

Two modes:

* ``--mode cli`` (default): the product as a user runs it. For each reference size, a
  temporary project whose recipe is ``recipes/churn.yaml`` without its ``monitor:``
  section (so every column gets the default tests, Evidently's) reads the reference
  (with ``Churn`` and a unique ``customerID``) from a parquet file; ``mlctl run ...
  models=fast models.cv_folds=2 evaluation.importance_repeats=0 readiness=lenient
  split.test_size=0.01 --promote --yes`` trains and promotes a model, which logs the
  reference profile of its *training split* (99 % of the reference; ``--test-size``).
  Training is timed apart, not counted. Then ``mlctl monitor RECIPE --current FILE
  --json --no-mlflow`` runs in a subprocess twice, with
  ``monitor.prediction_drift.enabled=false`` ("same": Evidently's tests; no model is
  loaded) and as configured ("+pred": also loading the model and scoring the current
  rows for prediction drift, which Evidently does not do); the per-column drift is
  read from the JSON documents, which must agree. Evidently's runner gets the exact
  training rows (the recipe's own split, ``mlctl.data.prepare.load_dataset``) and the
  same current file. Both sides are timed as whole processes (interpreter start,
  imports, reading parquet), with the peak RSS of each process (``ru_maxrss`` from
  ``os.wait4``).
  "drift alone" = ``dataset_drift`` on the logged profile in this process (current
  frame in memory); "Evid. report" = ``Dataset.from_pandas`` + ``Report.run`` inside
  Evidently's process. One run each: the ratio compares two runs made back to back.
* ``--mode library``: ``ReferenceProfile.from_json`` + ``dataset_drift`` on the current
  frame (the profile was built from the whole reference; its build time is shown
  apart) against ``Dataset.from_pandas`` + ``Report.run``; each in its own process,
  data already in memory, median of ``--repeats`` runs; plus the PSI comparison below.

CLI-mode results (2 idle CPUs; one run each; training split = 99 % of the reference;
"same": mlctl with the tests Evidently's preset runs, no model loaded; "+pred": also
prediction drift, scoring every current row; benchmarks/README.md has the discussion):

=============  =========  =========  ======  =====  ======  =====  =======  ======  ======  ========
scenario       ref rows   cur rows   same    ratio  +pred   ratio  Evid.    mlctl   Evid.   verdicts
                                     (whole processes)                      peak RSS
=============  =========  =========  ======  =====  ======  =====  =======  ======  ======  ========
small/same     990        800        1.72 s  2.9x   5.09 s  1.0x   4.92 s   351 MB  318 MB  19/19
small/drifted  990        800        1.84 s  2.7x   5.17 s  1.0x   4.91 s   351 MB  320 MB  19/19
1M/same        990,000    1,000,000  2.02 s  19.9x  8.92 s  4.5x   40.3 s   610 MB  2.1 GB  19/19
1M/drifted     990,000    1,000,000  2.45 s  16.5x  8.02 s  5.0x   40.4 s   604 MB  2.1 GB  19/19
3M/same        2,970,000  3,000,000  5.43 s  21.8x  15.0 s  7.9x   118 s    970 MB  5.6 GB  19/19
3M/drifted     2,970,000  3,000,000  4.31 s  28.1x  15.1 s  8.0x   121 s    966 MB  5.5 GB  19/19
=============  =========  =========  ======  =====  ======  =====  =======  ======  ======  ========

(mlctl's peak RSS is the +pred run's; the same-tests run peaks at 371-385 MB at 1M and
672-679 MB at 3M. Drift tests alone at 1M: 0.6-0.7 s against Evidently's 35 s report;
the rest of mlctl's 2 s is a ~1.6 s start-up and reading the data.)

If Evidently cannot be installed, the library mode says so and compares with exact
scipy computations on the raw frames (Evidently's selection and formulas) instead.

Library-mode results (2 CPUs, Evidently 0.7.23 with pandas 2.3.3 and scipy 1.17.1; mlctl with pandas
3.1.1; median of 3):

=================  =========  ========  =========  ==========  =========  =====================
scenario           tests      verdicts  dataset    mlctl       Evidently  max |diff| exact/~
=================  =========  ========  =========  ==========  =========  =====================
small/same         19/19      19/19     no / no    0.024 s     0.72 s     0 / -
small/drifted      19/19      19/19     yes / yes  0.027 s     0.83 s     4e-28 / -
1M/same            19/19      19/19     no / no    1.22 s      43.1 s     4e-14 / 1.6e-4
1M/drifted         19/19      19/19     no / no    0.88 s      48.1 s     3e-17 / 3.1e-5
=================  =========  ========  =========  ==========  =========  =====================

(~ = a column mlctl's profile keeps as a quantile sketch; the dataset verdict of
1M/drifted is "no" on both sides: 9 of 19 columns drifted, under the 0.5 share.) The
profile of the 1M-row reference took 0.7-0.9 s to build and is 17 KB. PSI: with
``bins="sturges"`` mlctl equals Evidently on exact columns (e.g. tenure 0.16989 both)
and is within 6e-3 on sketched ones; with the 30 bins of protocols.md it differs a
lot (tenure 0.826 vs 0.170), and on 1,000 rows of *undrifted* data MonthlyCharges
gets PSI 0.107 (≥ 0.1: drift) with 30 bins, 0.013 with Sturges.

Usage::

    .venv/bin/python benchmarks/drift_vs_evidently.py                  # CLI mode, 1M rows
    .venv/bin/python benchmarks/drift_vs_evidently.py --quick          # 100k rows, ~2 min
    .venv/bin/python benchmarks/drift_vs_evidently.py --mode library   # ~12 min on 2 cores
    .venv/bin/python benchmarks/drift_vs_evidently.py --evidently-venv ~/.cache/ev07 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlctl.monitor.drift import DriftOptions, dataset_drift  # noqa: E402
from mlctl.monitor.profile import ReferenceProfile, build_profile  # noqa: E402

TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
# The churn recipe's input columns (the recipe is where they are written down).
_FEATURES = yaml.safe_load((REPO / "recipes" / "churn.yaml").read_text())["features"]
NUMERIC, CATEGORICAL = _FEATURES["numeric"], _FEATURES["categorical"]
REQUIREMENTS = ["evidently>=0.7,<0.8", "pandas<3", "pyarrow"]

# Runs in the Evidently venv: argv = ref.parquet cur.parquet spec.json out.json
EVIDENTLY_RUNNER = r"""
import json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
import evidently

NAMES = {"K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z",
         "Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon",
         "PSI": "psi", "Kullback-Leibler divergence": "kl_div"}
ref_path, cur_path, spec_path, out_path = sys.argv[1:]
spec = json.load(open(spec_path))
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
dd = DataDefinition(numerical_columns=spec["numeric"], categorical_columns=spec["categorical"])
out = {"version": evidently.__version__, "pandas": pd.__version__}
for label, method, repeats in spec["runs"]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        report = Report([DataDriftPreset(method=method)], include_tests=True)
        snap = report.run(Dataset.from_pandas(cur, data_definition=dd),
                          Dataset.from_pandas(ref, data_definition=dd))
        times.append(time.perf_counter() - t)
    d = snap.dict()
    cols, dataset = {}, {}
    for m in d["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("ValueDrift"):
            cols[cfg["column"]] = {"test": NAMES.get(cfg["method"], cfg["method"]),
                                   "threshold": cfg["threshold"], "score": m["value"]}
        elif cfg["type"].endswith("DriftedColumnsCount"):
            dataset = dict(m["value"])
    for t in d["tests"]:
        params = t["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            cols[params["column"]]["drifted"] = t["status"] == "FAIL"
        elif params["type"].endswith("DriftedColumnsCount"):
            dataset["drift"] = t["status"] == "FAIL"
    out[label] = {"columns": cols, "dataset": dataset, "seconds": statistics.median(times)}
json.dump(out, open(out_path, "w"))
"""


# ------------------------------------------------------------------------ data


def telco() -> pd.DataFrame:
    """The recipe's input columns as the model reads them."""
    raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    df = pd.DataFrame({c: pd.to_numeric(raw[c].str.strip(), errors="coerce") for c in NUMERIC})
    for c in CATEGORICAL:
        df[c] = raw[c].astype(object)
    return df


def drifted(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Month-to-month and fibre customers over-represented, charges up, tenure down."""
    weight = np.where(df["Contract"] == "Month-to-month", 3.0, 1.0)
    weight *= np.where(df["InternetService"] == "Fiber optic", 2.0, 1.0)
    out = df.sample(n, replace=True, weights=weight, random_state=seed).reset_index(drop=True)
    out["MonthlyCharges"] = (out["MonthlyCharges"] * 1.08).round(2)
    out["tenure"] = (out["tenure"] - 3).clip(lower=0)
    return out


def scenarios(df: pd.DataFrame, big: int) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    order = np.random.default_rng(0).permutation(len(df))
    small_ref = df.iloc[order[:1000]].reset_index(drop=True)
    rest = df.iloc[order[1000:]].reset_index(drop=True)
    big_ref = df.sample(big, replace=True, random_state=1).reset_index(drop=True)
    label = f"{big // 1000}k" if big < 1_000_000 else f"{big // 1_000_000}M"
    return [
        ("small/same", small_ref, rest.sample(800, random_state=2).reset_index(drop=True)),
        ("small/drifted", small_ref, drifted(rest, 800, 3)),
        (
            f"{label}/same",
            big_ref,
            df.sample(big, replace=True, random_state=4).reset_index(drop=True),
        ),
        (f"{label}/drifted", big_ref, drifted(df, big, 5)),
    ]


# ------------------------------------------------------------------------ sides


def ensure_evidently(path: Path) -> tuple[Path | None, str]:
    """The Python of a venv holding Evidently 0.7 (created if needed), or None and why."""
    python = path / "bin" / "python"
    check = [str(python), "-c", "import evidently, pandas; print(evidently.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, "reused"
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        res = subprocess.run([*pip, *REQUIREMENTS], capture_output=True, text=True)
        if res.returncode != 0:
            return None, f"pip install failed: {res.stderr.strip().splitlines()[-1:]}"
        res = subprocess.run(check, capture_output=True, text=True)
        if res.returncode != 0:
            return None, f"evidently does not import: {res.stderr.strip().splitlines()[-1:]}"
    except OSError as exc:
        return None, f"cannot create a venv at {path}: {exc}"
    return python, "installed"


def run_evidently(python: Path, ref: Path, cur: Path, work: Path, repeats: int) -> dict:
    spec = {
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "runs": [["auto", None, repeats], ["psi", "psi", 1]],
    }
    (work / "spec.json").write_text(json.dumps(spec))
    (work / "runner.py").write_text(EVIDENTLY_RUNNER)
    out = work / "evidently.json"
    cmd = [str(python), str(work / "runner.py"), str(ref), str(cur), str(work / "spec.json")]
    res = subprocess.run([*cmd, str(out)], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"Evidently failed:\n{res.stderr[-3000:]}")
    return json.loads(out.read_text())


def run_mlctl(ref: pd.DataFrame, cur: pd.DataFrame, repeats: int) -> dict:
    dataset_drift(build_profile(ref.head(50), NUMERIC, CATEGORICAL), cur.head(50))  # warm-up
    t = time.perf_counter()
    profile = build_profile(ref, NUMERIC, CATEGORICAL)
    build = time.perf_counter() - t
    text = profile.to_json()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = dataset_drift(ReferenceProfile.from_json(text), cur)
        times.append(time.perf_counter() - t)
    psi = {
        bins: dataset_drift(profile, cur, DriftOptions("psi", "psi", bins=bins))
        for bins in (30, "sturges")
    }
    return {
        "result": result,
        "seconds": statistics.median(times),
        "build_seconds": build,
        "profile_bytes": len(text),
        "psi": psi,
    }


def exact_scipy(ref: pd.DataFrame, cur: pd.DataFrame) -> dict:
    """Evidently's default selection and formulas on the raw frames, with scipy (the
    fallback when Evidently cannot be installed)."""
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    cols = {}
    for name in NUMERIC + CATEGORICAL:
        r, c = ref[name].dropna(), cur[name].dropna()
        n_unique = pd.concat([r, c]).nunique()
        keys = sorted(set(r) | set(c))
        rc = r.value_counts().reindex(keys, fill_value=0).to_numpy(float)
        cc = c.value_counts().reindex(keys, fill_value=0).to_numpy(float)
        numeric = name in NUMERIC
        if len(r) <= 1000 and numeric and n_unique > 5:
            test, score = "ks", stats.ks_2samp(r, c).pvalue
        elif len(r) <= 1000 and n_unique > 2:
            test, score = "chisquare", stats.chisquare(cc, rc * len(c) / len(r)).pvalue
        elif len(r) <= 1000:
            p1, p2 = 1 - rc[0] / len(r), 1 - cc[0] / len(c)
            pooled = (p1 * len(r) + p2 * len(c)) / (len(r) + len(c))
            z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / len(r) + 1 / len(c)))
            test, score = "z", 2 * (1 - stats.norm.cdf(abs(z)))
        elif numeric and n_unique > 5:
            test = "wasserstein"
            score = stats.wasserstein_distance(r, c) / max(np.std(r), 0.001)
        else:
            test, score = "jensenshannon", jensenshannon(rc / len(r), cc / len(c))
        threshold = 0.05 if test in ("ks", "chisquare", "z") else 0.1
        drift = score <= threshold if test == "ks" else score < threshold
        cols[name] = {
            "test": test,
            "score": float(score),
            "threshold": threshold,
            "drifted": bool(drift if test in ("ks", "chisquare", "z") else score >= threshold),
        }
    share = sum(c["drifted"] for c in cols.values()) / len(cols)
    return {"auto": {"columns": cols, "dataset": {"share": share, "drift": share >= 0.5}}}


# ------------------------------------------------------------------- CLI mode

TRAIN_OVERRIDES = [
    "models=fast",
    "models.cv_folds=2",
    "evaluation.importance_repeats=0",
    "readiness=lenient",
]


# Forks and execs argv[2:], then writes the child's ru_maxrss (KiB) to argv[1]. Linux
# carries the pre-exec high-water mark over exec, so a child forked straight from this
# benchmark (holding the 1M-row frames) would report at least our own RSS; forked from
# this bare interpreter it starts from ~10 MB.
RSS_WRAPPER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured(cmd: list[str], cwd: Path, stdout: Path) -> tuple[int, float, int]:
    """Run ``cmd``; returns its exit code, wall seconds and peak RSS in bytes."""
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    rss = stdout.with_suffix(".rss")
    wrapper = [sys.executable, "-I", "-S", "-c", RSS_WRAPPER, str(rss)]
    with stdout.open("w") as out, (stdout.with_suffix(".err")).open("w") as err:
        t = time.perf_counter()
        code = subprocess.run([*wrapper, *cmd], cwd=cwd, stdout=out, stderr=err, env=env)
        seconds = time.perf_counter() - t
    return code.returncode, seconds, int(rss.read_text()) * 1024


def project(root: Path, ref: pd.DataFrame, test_size: float) -> tuple[Path, list[str]]:
    """A project whose recipe is churn.yaml's, without its ``monitor:`` section (so the
    tests are Evidently's defaults), reading ``ref`` (with a unique id column)."""
    import yaml

    shutil.copytree(REPO / "conf", root / "conf")
    (root / "recipes").mkdir()
    ref.insert(0, "customerID", [f"c{i:08d}" for i in range(len(ref))])
    ref.to_parquet(root / "reference.parquet")
    ref.pop("customerID")
    recipe = yaml.safe_load((REPO / "recipes" / "churn.yaml").read_text())
    recipe.pop("monitor")
    recipe["data"]["source"] = "../reference.parquet"
    (root / "recipes" / "bench.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return root / "recipes" / "bench.yaml", [*TRAIN_OVERRIDES, f"split.test_size={test_size}"]


def train(root: Path, ref: pd.DataFrame, test_size: float) -> dict:
    """``mlctl run`` on ``ref`` (promoted); returns the training rows of ``ref`` too."""
    from mlctl.data.prepare import load_dataset
    from mlctl.recipe.loader import load_recipe

    recipe, overrides = project(root, ref, test_size)
    cmd = [sys.executable, "-m", "mlctl", "run", str(recipe), *overrides]
    cmd += ["--promote", "--yes", "--workspace", "ws", "--json"]
    code, seconds, rss = measured(cmd, root, root / "run.json")
    if code != 0:
        err = (root / "run.err").read_text()[-3000:]
        raise SystemExit(f"mlctl run failed ({code}):\n{err}")
    # The exact training split: the project's own split of the same recipe.
    rows = load_dataset(load_recipe(recipe, overrides)).X_train.index
    profile = next((root / "ws").glob("artifacts/*/artifacts/monitoring/reference_profile.json"))
    return {
        "recipe": recipe,
        "seconds": seconds,
        "rss": rss,
        "train": ref.loc[rows, NUMERIC + CATEGORICAL].reset_index(drop=True),
        "profile": profile,
    }


def run_cli(root: Path, model: dict, cur: Path) -> dict:
    """``mlctl monitor --current`` timed as a whole, twice: as configured (data drift and
    prediction drift, which scores every current row) and with only the data drift tests
    Evidently's preset runs (``monitor.prediction_drift.enabled=false``: no model is
    loaded); then ``dataset_drift`` alone on the logged profile (in this process,
    current frame in memory) for the drift share."""
    cmd = [sys.executable, "-m", "mlctl", "monitor", str(model["recipe"]), "--current", str(cur)]
    cmd += ["--json", "--no-mlflow", "--workspace", "ws"]
    only = [*cmd, "monitor.prediction_drift.enabled=false"]
    code, data_seconds, data_rss = measured(only, root, root / "monitor-data.json")
    if code not in (0, 3):
        err = (root / "monitor-data.err").read_text()[-3000:]
        raise SystemExit(f"mlctl monitor (data drift only) failed ({code}):\n{err}")
    data_doc = json.loads((root / "monitor-data.json").read_text())
    code, seconds, rss = measured(cmd, root, root / "monitor.json")
    if code not in (0, 3):
        err = (root / "monitor.err").read_text()[-3000:]
        raise SystemExit(f"mlctl monitor failed ({code}):\n{err}")
    doc = json.loads((root / "monitor.json").read_text())
    if data_doc["drift"] != doc["drift"]:
        raise SystemExit("mlctl: the data drift differs with and without prediction drift")
    frame = pd.read_parquet(cur)
    text = model["profile"].read_text()
    t = time.perf_counter()
    alone = dataset_drift(ReferenceProfile.from_json(text), frame)
    drift_seconds = time.perf_counter() - t
    drift = doc["drift"]
    mismatch = [c.column for c in alone.columns if c.drifted != _doc_col(doc, c.column)["drifted"]]
    result = SimpleNamespace(
        columns=[SimpleNamespace(**c) for c in drift["columns"] if c["status"] == "tested"],
        dataset_drift=drift["dataset_drift"],
        share_drifted=drift["share_drifted"],
    )
    return {
        "result": result,
        "exit": code,
        "seconds": seconds,
        "rss": rss,
        "data_seconds": data_seconds,
        "data_rss": data_rss,
        "drift_seconds": drift_seconds,
        "library_mismatch": mismatch,
        "n_ref": drift["columns"][0]["n_ref"],
    }


def _doc_col(doc: dict, name: str) -> dict:
    return next(c for c in doc["drift"]["columns"] if c["column"] == name)


def run_evidently_measured(python: Path, ref: Path, cur: Path, work: Path) -> dict:
    """Evidently's DataDriftPreset in its own process: wall time and peak RSS of it all."""
    spec = {"numeric": NUMERIC, "categorical": CATEGORICAL, "runs": [["auto", None, 1]]}
    (work / "spec.json").write_text(json.dumps(spec))
    (work / "runner.py").write_text(EVIDENTLY_RUNNER)
    out = work / "evidently.json"
    cmd = [str(python), str(work / "runner.py"), str(ref), str(cur), str(work / "spec.json")]
    code, seconds, rss = measured([*cmd, str(out)], work, work / "evidently.out")
    if code != 0:
        raise SystemExit(f"Evidently failed:\n{(work / 'evidently.err').read_text()[-3000:]}")
    return {**json.loads(out.read_text()), "seconds": seconds, "rss": rss}


def cli_mode(args: argparse.Namespace, python: Path, work: Path, rows: int) -> list[dict]:
    raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    df = telco().assign(Churn=raw["Churn"])
    out, models = [], {}
    for name, ref, cur in scenarios(df, rows):
        size = name.split("/")[0]
        root = work / size
        if size not in models:
            root.mkdir()
            models[size] = model = train(root, ref.copy(), args.test_size)
            print(
                f"\n# {size}: mlctl run on {len(ref):,} reference rows (test_size "
                f"{args.test_size}): training split {len(model['train']):,} rows = "
                f"{len(model['train']) / len(ref):.2%} of the reference; "
                f"{model['seconds']:.1f} s, peak RSS {_mb(model['rss'])} (not counted)"
            )
            model["train"].to_parquet(root / "train.parquet")
        trained = models[size]
        cur_path = root / f"{name.split('/')[1]}.parquet"
        cur[NUMERIC + CATEGORICAL].to_parquet(cur_path)
        ours = run_cli(root, trained, cur_path)
        assert ours["n_ref"] == len(trained["train"]), (ours["n_ref"], len(trained["train"]))
        theirs = run_evidently_measured(python, root / "train.parquet", cur_path, root)
        out.append(cli_compare(name, trained, cur, ours, theirs))
    summary(out)
    return out


def cli_compare(name: str, model: dict, cur: pd.DataFrame, ours: dict, theirs: dict) -> dict:
    ref = model["train"]
    agree_test, agree_drift, diffs = columns_table(
        f"{name}: Evidently reference = mlctl's training split", ref, cur, ours, theirs
    )
    ds = theirs["auto"]["dataset"]
    res = ours["result"]
    if ours["library_mismatch"]:
        print(f"!! dataset_drift in-process disagrees with the CLI on {ours['library_mismatch']}")
    return {
        "scenario": name,
        "ref_rows": len(ref),
        "cur_rows": len(cur),
        "columns": len(res.columns),
        "tests_agree": agree_test,
        "verdicts_agree": agree_drift,
        "max_diff_exact": max(diffs["exact"], default=None),
        "max_diff_sketch": max(diffs["sketch"], default=None),
        "dataset_drift": [res.dataset_drift, ds.get("drift")],
        "share": [res.share_drifted, ds.get("share")],
        "ours_seconds": ours["seconds"],
        "ours_rss": ours["rss"],
        "ours_drift_seconds": ours["drift_seconds"],
        "monitor_exit": ours["exit"],
        "evidently_seconds": theirs["seconds"],
        "evidently_rss": theirs["rss"],
        "evidently_report_seconds": theirs["auto"]["seconds"],
        "ratio": theirs["seconds"] / ours["seconds"],
        "ours_data_seconds": ours["data_seconds"],
        "ours_data_rss": ours["data_rss"],
        "ratio_same_tests": theirs["seconds"] / ours["data_seconds"],
        "train_seconds": model["seconds"],
    }


def summary(rows: list[dict]) -> None:
    head = (
        f"{'scenario':<13} {'ref rows':>9} {'cur rows':>9} {'same s':>7} {'ratio':>6} "
        f"{'+pred s':>7} {'ratio':>6} {'Evid. s':>8} {'mlctl RSS':>10} {'Evid. RSS':>10} "
        f"{'verdicts':>8} {'tests':>6} {'drift (share)':>22} {'drift alone':>11} "
        f"{'Evid. report':>12}"
    )
    print("\n## summary: whole processes (imports, reading parquet, scoring, JSON)")
    print(
        "same = mlctl monitor with the tests Evidently's preset runs (data drift; "
        "monitor.prediction_drift.enabled=false, no model loaded); +pred = as configured, "
        "also scoring every current row for prediction drift; ratio = Evidently / mlctl; "
        "RSS: the +pred run\n"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ds = r["dataset_drift"]
        share = f"{_yn(ds[0])}/{_yn(ds[1])} ({r['share'][0]:.2f}/{r['share'][1]:.2f})"
        print(
            f"{r['scenario']:<13} {r['ref_rows']:>9,} {r['cur_rows']:>9,} "
            f"{r['ours_data_seconds']:>7.2f} {r['ratio_same_tests']:>5.1f}x "
            f"{r['ours_seconds']:>7.2f} {r['ratio']:>5.1f}x {r['evidently_seconds']:>8.2f} "
            f"{_mb(r['ours_rss']):>10} {_mb(r['evidently_rss']):>10} "
            f"{r['verdicts_agree']:>5}/{r['columns']:<2} {r['tests_agree']:>3}/{r['columns']:<2} "
            f"{share:>22} {r['ours_drift_seconds']:>10.3f}s {r['evidently_report_seconds']:>11.2f}s"
        )


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


# ---------------------------------------------------------------------- report


def columns_table(
    name: str, ref: pd.DataFrame, cur: pd.DataFrame, ours: dict, theirs: dict
) -> tuple[int, int, dict[str, list[float]]]:
    """Per column: the test each side chose, its score (p-value or distance), the
    verdicts; prints the agreement counts and returns them with the score differences."""
    other = theirs.get("label", "evidently")
    res = ours["result"]
    print(f"\n## {name}: reference {len(ref):,} rows, current {len(cur):,} rows")
    head = f"{'column':<17} {'test ours/' + other[:9]:<28} {'ours':>11} {other[:11]:>11} {'|diff|':>9}  drift     agree"
    print(head)
    print("-" * len(head))
    agree_test = agree_drift = 0
    diffs: dict[str, list[float]] = {"exact": [], "sketch": []}
    for col in res.columns:
        ev = theirs["auto"]["columns"][col.column]
        diff = abs(col.score - ev["score"]) if col.score is not None else float("nan")
        diffs["sketch" if col.approximate else "exact"].append(diff)
        agree_test += col.test == ev["test"]
        agree_drift += col.drifted == ev["drifted"]
        mark = "~" if col.approximate else " "
        verdicts = f"{_yn(col.drifted)}/{_yn(ev['drifted'])}"
        print(
            f"{col.column:<17} {col.test + '/' + ev['test']:<28} {col.score:>11.4g}{mark}"
            f"{ev['score']:>11.4g} {diff:>9.1e}  {verdicts:<9} "
            f"{'yes' if col.drifted == ev['drifted'] else 'NO'}"
        )
    n = len(res.columns)
    ds = theirs["auto"]["dataset"]
    print(
        f"tests agree {agree_test}/{n}, verdicts agree {agree_drift}/{n}; max |diff| exact "
        f"columns {_max(diffs['exact'])}, sketched (~) {_max(diffs['sketch'])}"
    )
    print(
        f"dataset drift: ours {_yn(res.dataset_drift)} (share {res.share_drifted:.3f}), "
        f"{other} {_yn(ds.get('drift'))} (share {ds.get('share', float('nan')):.3f})"
    )
    return agree_test, agree_drift, diffs


def compare(name: str, ref: pd.DataFrame, cur: pd.DataFrame, ours: dict, theirs: dict) -> dict:
    res = ours["result"]
    agree_test, agree_drift, diffs = columns_table(name, ref, cur, ours, theirs)
    n = len(res.columns)
    ds = theirs["auto"]["dataset"]
    row = {
        "scenario": name,
        "ref_rows": len(ref),
        "cur_rows": len(cur),
        "tests_agree": agree_test,
        "verdicts_agree": agree_drift,
        "columns": n,
        "max_diff_exact": max(diffs["exact"], default=None),
        "max_diff_sketch": max(diffs["sketch"], default=None),
        "dataset_drift": [res.dataset_drift, ds.get("drift")],
        "ours_seconds": ours["seconds"],
        "profile_build_seconds": ours["build_seconds"],
        "profile_bytes": ours["profile_bytes"],
    }
    if "seconds" in theirs["auto"]:
        ratio = theirs["auto"]["seconds"] / ours["seconds"]
        print(
            f"time: ours {ours['seconds']:.3f} s (profile built once at training: "
            f"{ours['build_seconds']:.2f} s, {ours['profile_bytes'] / 1000:.0f} KB), "
            f"evidently {theirs['auto']['seconds']:.2f} s -> evidently/ours {ratio:.0f}x"
        )
        row.update(evidently_seconds=theirs["auto"]["seconds"], ratio=ratio)
    if "psi" in theirs:
        row["psi"] = psi_table(ours, theirs)
    return row


def psi_table(ours: dict, theirs: dict) -> list[dict[str, Any]]:
    print(
        f"PSI (numeric columns; categories agree exactly): {'ours 30 bins':>13} {'ours sturges':>13} {'evidently':>10}"
    )
    rows = []
    for name in NUMERIC:
        a = ours["psi"][30].column(name)
        b = ours["psi"]["sturges"].column(name)
        ev = theirs["psi"]["columns"][name]["score"]
        print(f"  {name:<47} {a.statistic:>13.5f} {b.statistic:>13.5f} {ev:>10.5f}")
        rows.append(
            {"column": name, "ours_30": a.statistic, "ours_sturges": b.statistic, "evidently": ev}
        )
    cat = [
        abs(ours["psi"][30].column(c).statistic - theirs["psi"]["columns"][c]["score"])
        for c in CATEGORICAL
    ]
    print(f"  categorical columns: max |diff| {max(cat):.1e}")
    return rows


def _yn(value: Any) -> str:
    return "?" if value is None else "yes" if value else "no"


def _max(values: list[float]) -> str:
    return f"{max(values):.1e}" if values else "-"


# ------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--mode",
        choices=["cli", "library"],
        default="cli",
        help="cli: mlctl run + mlctl monitor --current (default); library: dataset_drift",
    )
    parser.add_argument("--evidently-venv", type=Path, help="venv holding Evidently (kept)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the big case")
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1M")
    parser.add_argument("--repeats", type=int, default=3, help="library mode: timing runs")
    parser.add_argument(
        "--test-size", type=float, default=0.01, help="cli mode: split.test_size of mlctl run"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        work = Path(tmp)
        target = args.evidently_venv or work / "evidently-venv"
        python, how = ensure_evidently(target.expanduser().resolve())
        if python is None:
            if args.mode == "cli":
                raise SystemExit(f"Evidently is not available ({how}); try --mode library")
            print(f"Evidently is not available ({how}); comparing with exact scipy instead")
        else:
            version = subprocess.run(
                [str(python), "-c", "import evidently, pandas, scipy; print(evidently.__version__, pandas.__version__, scipy.__version__)"],
                capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            print(
                f"Evidently {version[0]} (pandas {version[1]}, scipy {version[2]}) in {target} "
                f"({how}); mlctl: pandas {pd.__version__}, numpy {np.__version__}; "
                f"{os.cpu_count()} CPUs; mode {args.mode}"
            )
        if args.mode == "cli":
            out = cli_mode(args, python, work, rows)
        else:
            out = library_mode(args, python, work, rows)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


def library_mode(args: argparse.Namespace, python: Path | None, work: Path, rows: int) -> list:
    out = []
    for name, ref, cur in scenarios(telco(), rows):
        ref.to_parquet(work / "ref.parquet")
        cur.to_parquet(work / "cur.parquet")
        ours = run_mlctl(ref, cur, args.repeats)
        if python is None:
            theirs = {"label": "scipy", **exact_scipy(ref, cur)}
        else:
            theirs = run_evidently(
                python, work / "ref.parquet", work / "cur.parquet", work, args.repeats
            )
        out.append(compare(name, ref, cur, ours, theirs))
    return out


if __name__ == "__main__":
    main()
