"""The Dask backend end to end, on real LocalClusters (worker processes on 127.0.0.1).

The module shares one cluster (:func:`cluster`) that the CLI reaches with
``--address`` / ``compute.address`` and the in-process tests with ``open_session``;
``mlctl run`` on the dask backend and one ``mlctl predict --engine dask`` start and
close their own. As in ``test_predict.py``, the CLI jobs run together (:func:`jobs`)
because each spends most of its time importing libraries: the ``run`` jobs and the
unreachable-address cases on a fresh ``python -m mlctl``, the local training and the
``predict`` jobs forked from a helper that imported mlctl once (``cli_forks.py``).

Probabilities are compared to within 1e-12, not bit for bit: BLAS computes the rows
at the tail of a chunk with other kernels, so a row's last bit depends on where the
chunks start. The local engine shows the same between two ``--chunk-size`` values;
labels, ids, order and rejects are compared exactly.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_forks import Job, run_forked, run_mlctl

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
FIXTURE_DATA = REPO / "tests" / "fixtures" / "data" / "telco_300.csv"
# A search with more than one setting (so the winner's parameters mean something), fast.
RUN = [
    "models=fast",
    "tuning=grid",
    "evaluation.importance_repeats=1",
    "readiness.cv_std_k=0.5",
]
PREDICT = [sys.executable, "-m", "mlctl", "predict", "recipes/churn.yaml"]
PROBA_TOLERANCE = 1e-12


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], cwd: Path) -> tuple[subprocess.Popen, float]:
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env()
    )
    return proc, time.monotonic()


def finish(proc: subprocess.Popen, started: float) -> tuple[subprocess.CompletedProcess, float]:
    out, err = proc.communicate(timeout=600)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster: 2 single-threaded worker processes on 127.0.0.1."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    ) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def root(tmp_path_factory, churn_project) -> Path:
    """The churn project on the first 900 Telco rows (nothing trained yet)."""
    return churn_project(tmp_path_factory.mktemp("dask"), 900)


# --------------------------------------------------------------- unreachable address


@pytest.fixture(scope="module")
def unreachable(root: Path) -> dict[str, tuple[subprocess.CompletedProcess, float, str]]:
    """``run`` and ``predict`` against a closed port, started together on a quiet machine."""
    address = f"tcp://127.0.0.1:{closed_port()}"
    pd.DataFrame({"customerID": ["a"]}).to_csv(root / "one.csv", index=False)
    commands = {
        "run": [
            sys.executable,
            "-m",
            "mlctl",
            "run",
            "recipes/churn.yaml",
            *RUN,
            "compute.backend=dask",
            f"compute.address={address}",
            "compute.connect_timeout=3",
            "--workspace",
            "unreachable_ws",
        ],
        "predict": [
            *PREDICT,
            "--input",
            "one.csv",
            "--output",
            "never.parquet",
            "--engine",
            "dask",
            "--address",
            address,
        ],
    }
    started = {name: start(cmd, root) for name, cmd in commands.items()}
    return {name: (*finish(*started[name]), address) for name in commands}


@pytest.mark.parametrize(("command", "timeout"), [("run", 3), ("predict", 10)])
def test_unreachable_address_fails_fast_naming_it(root, unreachable, command, timeout) -> None:
    res, seconds, address = unreachable[command]
    assert res.returncode == 6, res.stderr
    assert f"error: cannot reach the Dask scheduler at {address}: connection refused" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    # Generous: interpreter start and imports on a busy CI machine, plus the timeout.
    assert seconds < timeout + 30
    if command == "run":  # refused before any MLflow run (or data load) started
        db = root / "unreachable_ws" / "mlflow.db"
        if db.exists():
            with sqlite3.connect(db) as con:
                assert con.execute("select count(*) from runs").fetchone() == (0,)
    else:
        assert not (root / "never.parquet").exists()


# ---------------------------------------------------------------- in-process sessions


def test_local_cluster_is_started_on_localhost_and_closed() -> None:
    from mlctl.compute.session import open_session
    from mlctl.recipe.schema import Compute

    events = []
    spec = Compute(backend="dask", n_workers=2, threads_per_worker=1)
    with open_session(spec, lambda kind, data: events.append(data["message"])) as session:
        assert session.address.startswith("tcp://127.0.0.1:")
        pids = set(session.client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids  # processes, not threads
        assert session.call(sum, [1, 2]) == 3
    assert events == [
        f"dask: started a LocalCluster at {session.address} (2 worker processes × 1 thread)"
    ]
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids), "worker processes outlived the session"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def small_recipe(tmp_path: Path, tuning: str, compute: str = ""):
    from mlctl.recipe.loader import load_recipe

    (tmp_path / "recipe.yaml").write_text(
        f"""\
name: small
data:
  source: {FIXTURE_DATA}
  target: Churn
  id_column: customerID
  coerce: {{TotalCharges: float}}
  expectations: {{min_rows: 50}}
features:
  numeric: [tenure, MonthlyCharges, TotalCharges]
  categorical: [Contract, InternetService]
models:
  cv_folds: 3
  candidates:
    lr:
      estimator: logistic_regression
      params: {{max_iter: 500}}
      search:
        C: [0.1, 1.0]
tuning: {tuning}
{compute}"""
    )
    return load_recipe(tmp_path / "recipe.yaml")


@pytest.mark.parametrize(
    "tuning",
    [
        "{strategy: grid}",
        "{strategy: optuna, n_trials: 3, n_jobs: 1, pruning: false}",
    ],
)
def test_training_on_the_cluster_matches_local_with_per_fold_progress(
    tmp_path: Path, cluster: str, tuning: str
) -> None:
    from mlctl.data.prepare import load_dataset
    from mlctl.train.trainer import train_all

    local = small_recipe(tmp_path, tuning)
    remote = small_recipe(tmp_path, tuning, f"compute: {{backend: dask, address: '{cluster}'}}")
    data = load_dataset(local)
    events: list[tuple[str, dict]] = []
    on_cluster = train_all(remote.recipe, data, lambda kind, d: events.append((kind, d)))
    here = train_all(local.recipe, data)
    for a, b in zip(on_cluster, here, strict=True):
        assert (a.name, a.best_params, a.n_settings) == (b.name, b.best_params, b.n_settings)
        assert a.cv_scores == pytest.approx(b.cv_scores, abs=1e-12)
    stage = [d["message"] for kind, d in events if kind == "stage"]
    assert stage == [f"dask: connected to {cluster} (2 workers, 2 threads)"]
    # Fold ticks travel from the worker processes as Dask events; one per fold scored.
    ticks = {"baseline": 0, "lr": 0}
    for kind, d in events:
        if kind == "fold_done":
            ticks[d["candidate"]] += 1
    assert ticks == {"baseline": 3, "lr": 2 * 3 if "grid" in tuning else 3 * 3}


# ------------------------------------------------------------------------- CLI jobs


@pytest.fixture(scope="module")
def trained(root: Path) -> dict:
    """The local run of :data:`RUN`, promoted: the model the predict jobs score."""
    args = ["run", "recipes/churn.yaml", *RUN, "--promote", "-y", "--json"]
    res = run_mlctl(root, *args, env=clean_env(), timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def write_inputs(root: Path) -> pd.DataFrame:
    """Rows 901-1500 of the Telco table as text, split over CSV and Parquet globs, with
    bad values in the second and third CSV file and in the second Parquet file."""
    unseen = pd.read_csv(TELCO, dtype=str, keep_default_na=False).iloc[900:1500]
    unseen = unseen.drop(columns="Churn").reset_index(drop=True)
    for folder in ("parts", "pq"):
        (root / folder).mkdir()
    a, b, c = unseen.iloc[:250].copy(), unseen.iloc[250:450].copy(), unseen.iloc[450:].copy()
    b.iloc[2, b.columns.get_loc("tenure")] = "x"  # row 253 of the input
    b.iloc[120, b.columns.get_loc("MonthlyCharges")] = "inf"  # row 371
    c.iloc[40, c.columns.get_loc("tenure")] = "twelve"  # row 491
    for name, part in zip("abc", (a, b, c), strict=True):
        part.to_csv(root / "parts" / f"{name}.csv", index=False)
    typed = unseen.copy()
    for col in ("tenure", "SeniorCitizen"):
        typed[col] = typed[col].astype(int)
    typed["MonthlyCharges"] = typed["MonthlyCharges"].astype(float)
    typed.loc[333, "MonthlyCharges"] = np.inf
    for name, rows in (("p1", slice(0, 300)), ("p2", slice(300, 600))):
        typed.iloc[rows].to_parquet(root / "pq" / f"{name}.parquet", row_group_size=40)
    return unseen


@pytest.fixture(scope="module")
def jobs(
    root: Path, trained: dict, cluster: str, tmp_path_factory
) -> dict[str, subprocess.CompletedProcess]:
    """``mlctl run`` on the dask backend (a fresh interpreter) and the predict jobs
    (forked, two at a time), together."""
    write_inputs(root)
    csv = ["--input", "parts/*.csv", "--chunk-size", "97"]
    pq = ["--input", "pq/*.parquet", "--chunk-size", "100"]
    dask = ["--engine", "dask", "--address", cluster]
    commands = {
        "run": [
            sys.executable,
            "-m",
            "mlctl",
            "run",
            "recipes/churn.yaml",
            *RUN,
            "compute.backend=dask",  # no address: mlctl starts and closes a LocalCluster
            "--workspace",
            "dask_ws",
            "--json",
        ],
        "csv_local": [*PREDICT, *csv, "--output", "csv_local.csv", "--json"],
        "csv_dask": [*PREDICT, *csv, *dask, "--output", "csv_dask.csv", "--json"],
        "pq_local": [*PREDICT, *pq, "--output", "pq_local.parquet", "--json"],
        "pq_dask": [*PREDICT, *pq, *dask, "--output", "pq_dask.parquet", "--json"],
        "strict": [*PREDICT, *csv, *dask, "--output", "strict.parquet", "--strict"],
        # Its own LocalCluster, with the progress a terminal would show.
        "own": [*PREDICT, *csv, "--engine", "dask", "--output", "own.parquet"],
    }
    run = start(commands.pop("run"), root)
    forked = [Job(name, cmd[3:], root, clean_env(), 600) for name, cmd in commands.items()]
    outcomes = run_forked(forked, 2, tmp_path_factory.mktemp("dask-forks"))
    done = {"run": finish(*run)[0]}
    for name, cmd in commands.items():
        got = outcomes[name]
        done[name] = subprocess.CompletedProcess(cmd, got.returncode, got.stdout, got.stderr)
    return done


def test_run_on_dask_picks_the_same_winner_with_the_same_scores(trained, jobs) -> None:
    res = jobs["run"]
    assert res.returncode in (0, 3), res.stderr
    assert "distributed" not in res.stderr and "Traceback" not in res.stderr
    doc = json.loads(res.stdout)
    assert doc["winner"] == trained["winner"]
    assert doc["cv"] == pytest.approx(trained["cv"], abs=1e-12)
    keys = ("candidate", "best_params", "settings_tried")
    assert [[r[k] for k in keys] for r in doc["leaderboard"]] == [
        [r[k] for k in keys] for r in trained["leaderboard"]
    ]
    assert [r["cv_mean"] for r in doc["leaderboard"]] == pytest.approx(
        [r["cv_mean"] for r in trained["leaderboard"]], abs=1e-12
    )


def same_scores(local: pd.DataFrame, dask: pd.DataFrame) -> None:
    """Row by row: ids, order, labels, model columns exactly; probabilities to 1e-12."""
    assert list(dask.columns) == list(local.columns)
    exact = [c for c in local.columns if not c.startswith("proba_")]
    pd.testing.assert_frame_equal(dask[exact], local[exact])
    proba = [c for c in local.columns if c.startswith("proba_")]
    assert np.abs(dask[proba].to_numpy() - local[proba].to_numpy()).max() <= PROBA_TOLERANCE


def docs(jobs, local: str, dask: str) -> tuple[dict, dict]:
    for name in (local, dask):
        assert jobs[name].returncode == 0, jobs[name].stderr
    return json.loads(jobs[local].stdout), json.loads(jobs[dask].stdout)


def test_csv_glob_on_dask_scores_and_rejects_like_local(root, jobs, cluster) -> None:
    local, dask = docs(jobs, "csv_local", "csv_dask")
    counts = ("rows_read", "rows_scored", "rows_rejected", "input_files", "output_columns")
    assert [dask[k] for k in counts] == [local[k] for k in counts]
    assert (local["rows_read"], local["rows_rejected"]) == (600, 3)
    assert (local["engine"], local["cluster"]) == ("local", None)
    assert dask["engine"] == "dask"
    assert dask["cluster"]["address"] == cluster and dask["cluster"]["workers"] == 2
    assert dask["cluster"]["started_by_mlctl"] is False
    assert dask["cluster"]["partitions"] > 3  # several per file
    read = {"dtype": {"customerID": str}, "keep_default_na": False}
    same_scores(
        pd.read_csv(root / "csv_local.csv", **read), pd.read_csv(root / "csv_dask.csv", **read)
    )
    rejects_local, rejects_dask = (pd.read_csv(d["rejects"]) for d in (local, dask))
    pd.testing.assert_frame_equal(rejects_dask, rejects_local)
    assert rejects_local[["row", "column"]].values.tolist() == [
        [253, "tenure"],
        [371, "MonthlyCharges"],
        [491, "tenure"],
    ]


def test_parquet_glob_on_dask_scores_like_local(root, jobs) -> None:
    local, dask = docs(jobs, "pq_local", "pq_dask")
    assert (dask["rows_read"], dask["rows_rejected"]) == (local["rows_read"], 1) == (600, 1)
    # Whole row groups of 40 rows adding up to at least 100: 120, 120, 60 rows per file.
    assert dask["cluster"]["partitions"] == 6
    same_scores(
        pd.read_parquet(root / "pq_local.parquet"), pd.read_parquet(root / "pq_dask.parquet")
    )
    rejects = pd.read_csv(dask["rejects"], dtype={"value": str})
    assert rejects[["row", "column", "value"]].values.tolist() == [[334, "MonthlyCharges", "inf"]]


def test_strict_on_dask_stops_at_the_first_bad_value(root, jobs) -> None:
    res = jobs["strict"]
    assert res.returncode == 4
    where = f"row 253 of the input (row 3 of {root / 'parts' / 'b.csv'}), column 'tenure'"
    assert where in res.stderr
    assert not [p for p in root.iterdir() if "strict" in p.name]


def test_own_cluster_shows_progress_and_no_dask_noise(root, jobs) -> None:
    res = jobs["own"]
    assert res.returncode == 0, res.stderr
    assert "dask: started a LocalCluster at tcp://127.0.0.1:" in res.stderr
    assert "scoring" in res.stderr and "600 rows" in res.stderr
    assert "distributed" not in res.stderr and "Traceback" not in res.stderr
    assert "3 rows held values the model cannot read" in res.stdout
    read = {"dtype": {"customerID": str}, "keep_default_na": False}
    local = pd.read_csv(root / "csv_local.csv", **read)
    own = pd.read_parquet(root / "own.parquet")
    assert own["customerID"].tolist() == local["customerID"].tolist()
    assert own["prediction"].tolist() == local["prediction"].tolist()


@pytest.mark.parametrize(
    ("tuning", "skipped"),
    [
        ("{strategy: grid, time_budget: 0.001}", 1),
        ("{strategy: optuna, n_trials: 3, n_jobs: 1, pruning: false, time_budget: 0.001}", 2),
    ],
)
def test_time_budget_holds_on_the_cluster(tmp_path: Path, cluster: str, tuning: str, skipped: int):
    """tuning.time_budget on the Dask backend: the first setting runs, no other starts."""
    from mlctl.data.prepare import load_dataset
    from mlctl.train.trainer import train_all

    remote = small_recipe(tmp_path, tuning, f"compute: {{backend: dask, address: '{cluster}'}}")
    lr = {r.name: r for r in train_all(remote.recipe, load_dataset(remote))}["lr"]
    assert lr.n_settings == 1 and lr.skipped == skipped and lr.best_estimator is not None
    assert f"{skipped} of" in lr.notes[-1] and "time budget" in lr.notes[-1]
