"""Rows per second of ``mlctl predict`` against the floor and ``mlflow models predict``,
and of its Dask engine against its local one.

One model is trained and promoted once (``mlctl run recipes/churn.yaml models=fast
--promote``) into a temporary workspace. Then four contenders score the same
input (the Telco table replicated to ``--rows`` rows, unique customerIDs, no
``Churn`` column). Each runs as a fresh subprocess with the venv's Python and is
timed from launch to exit:

* mlctl:  ``mlctl predict RECIPE --input in.csv --output out.parquet --workspace WS
  --chunk-size N --json`` (the local engine)
* dask:   the same with ``--engine dask``, and a copy of the recipe whose ``compute``
  section pins the LocalCluster mlctl starts (and closes) to 2 worker processes of
  1 thread (``--dask-workers``); partitions of about N rows
* floor:  a generated 20-line script a user would write: load the registered model
  once with ``mlflow.sklearn.load_model("models:/churn@champion")``, read the CSV in
  chunks with pandas, ``pipeline.predict_proba``, and write the ids, the label
  (argmax) and the probabilities to Parquet with pyarrow
* mlflow: ``mlflow models predict -m models:/churn@champion -i in.csv -t csv
  -o out.json --env-manager local`` (MLflow's own batch scoring)

The input is a *cleaned* copy: ``TotalCharges`` holds numbers (the 11 blank
``" "`` cells of the Telco table become empty cells, i.e. missing), because MLflow's
signature enforcement rejects the raw column ("Can not safely convert str to
float64"). mlctl and the floor read the same cleaned file, so all three do equal
work on equal input.

Each contender also scores a 1,000-row head of the same file (``--startup-rows``),
which estimates its fixed cost (imports, model download and load, exit). The
steady-state rate is ``(rows - startup_rows) / (wall - startup_wall)``.

After every run the outputs are compared: the same number of rows, the same ids in
the same order (mlctl vs floor, mlctl vs dask), the same labels for every row (all
four), and the same probabilities (mlctl vs floor, mlctl vs dask; at most 1e-9
apart). A mismatch stops the benchmark.

Usage::

    .venv/bin/python benchmarks/predict_throughput.py                       # 1M rows
    .venv/bin/python benchmarks/predict_throughput.py --rows 200000 --repeats 2
    .venv/bin/python benchmarks/predict_throughput.py --skip-mlflow --wait-quiet 60
    .venv/bin/python benchmarks/predict_throughput.py --skip-mlflow --skip-floor  # local vs dask

What each contender does (read the ratios with this in mind): mlctl checks every
value of every chunk against the model's signature (rejecting bad rows into a
rejects file), computes both ``predict`` and ``predict_proba`` (one preprocessing
pass), writes ids, label, probabilities, model name and version to a temporary
Parquet file and renames it when complete. The floor does ``predict_proba`` only
and takes the label as the argmax. MLflow reads the whole CSV at once (no chunks,
so memory grows with the input), enforces the signature, calls ``predict`` (labels
only, no probabilities, no ids) and writes JSON. The dask contender does mlctl's
work, plus starting a LocalCluster, sending the model to each worker, and moving
every partition's result back to the client, which writes the file.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import machine_busy, others_cpu, wait_quiet

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "churn.yaml"
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
MODEL_NAME = "churn"
MODEL_URI = f"models:/{MODEL_NAME}@champion"
ID_COLUMN = "customerID"
TARGET = "Churn"
CONTENDERS = ("mlctl", "dask", "floor", "mlflow")
MLCTL_ENGINES = ("mlctl", "dask")  # mlctl predict --engine local / --engine dask
DASK_RECIPE = "recipes/churn_dask.yaml"  # under the temp dir, next to a copy of conf/

# Environment variables that would point any contender away from the temp workspace.
TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLCTL_TRACKING_URI")

FLOOR_SCRIPT = '''\
"""Score a CSV with the registered churn model: the minimal script a user would write."""

import sys

import mlflow.sklearn
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

model_uri, input_path, output_path, chunk_size = sys.argv[1:5]
model = mlflow.sklearn.load_model(model_uri)  # tracking URI from MLFLOW_TRACKING_URI
features = list(model.feature_names_in_)
classes = model.classes_
writer = None
for chunk in pd.read_csv(
    input_path, usecols=["customerID", *features], dtype={"customerID": str},
    chunksize=int(chunk_size),
):
    proba = model.predict_proba(chunk[features])
    out = pd.DataFrame({"customerID": chunk["customerID"].to_numpy(),
                        "prediction": classes[proba.argmax(axis=1)]})
    for i, c in enumerate(classes):
        out[f"proba_{c}"] = proba[:, i]
    table = pa.Table.from_pandas(out, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(output_path, table.schema)
    writer.write_table(table)
writer.close()
'''


class BenchmarkError(Exception):
    """A step failed, or the contenders disagree."""


# ---------------------------------------------------------------------- environment


def venv_bin() -> Path:
    return Path(sys.executable).parent


def sub_env(tracking_uri: str | None = None) -> dict[str, str]:
    """This environment with the venv first on PATH and only our tracking URI."""
    env = dict(os.environ)
    for key in TRACKING_ENV:
        env.pop(key, None)
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


# ------------------------------------------------------------------- process timing


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (0 when it is gone)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


TIME_BIN = "/usr/bin/time"


@functools.cache
def gnu_time() -> bool:
    """Whether GNU time (``-f``, ``-o``) is there to measure a run's peak RSS."""
    try:
        probe = [TIME_BIN, "-f", "%M", "-o", os.devnull, "true"]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float, max_rss: int, log: Path
) -> dict[str, Any]:
    """Run ``cmd`` to completion (or to a cap); wall, CPU and memory of its process tree.

    The child gets its own session, so on a cap the whole group is killed. CPU time
    comes from ``wait4``. Peak RSS (``max_rss``) comes from GNU ``/usr/bin/time -f %M``
    wrapped around the command: ``ru_maxrss`` of a child forked from this driver would
    start from the driver's own size (Linux carries the pre-exec high-water mark), so
    it cannot be read here directly. ``peak_tree_rss`` is the sum over the tree,
    sampled every 0.5 s; it is what the memory cap watches, and ``max_rss`` falls
    back to it without GNU time. ``others`` is the CPU time the rest of the machine
    used meanwhile (noise).
    """
    rss_file = log.with_suffix(".rss")
    if gnu_time():
        cmd = [TIME_BIN, "-f", "%M", "-o", str(rss_file), *cmd]
    busy_before = machine_busy()
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        state = {"capped": None, "peak_tree_rss": 0}
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.5):
                rss = _tree_rss(proc.pid)
                state["peak_tree_rss"] = max(state["peak_tree_rss"], rss)
                elapsed = time.perf_counter() - started
                if rss > max_rss:
                    state["capped"] = (
                        f"killed at {rss / 2**30:.1f} GB RSS (cap {max_rss / 2**30:.0f} GB)"
                    )
                elif elapsed > timeout:
                    state["capped"] = f"killed after {elapsed:.0f} s (timeout {timeout:.0f} s)"
                else:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        # Nothing of the tree may outlive the run (a grandchild that was not waited for).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    busy_after = machine_busy()
    cpu = usage.ru_utime + usage.ru_stime
    max_rss = state["peak_tree_rss"]
    with contextlib.suppress(OSError, ValueError, IndexError):
        max_rss = int(rss_file.read_text().split()[-1]) * 1024  # %M is in KiB
    others = None
    if busy_before is not None and busy_after is not None:
        others = max(0.0, busy_after - busy_before - cpu)
    return {
        "wall": wall,
        "cpu": cpu,
        "others": others,
        "max_rss": max_rss,
        "peak_tree_rss": state["peak_tree_rss"],
        "capped": state["capped"],
        "rc": proc.returncode,
        "out": log.with_suffix(".out").read_text(),
        "err": log.with_suffix(".err").read_text(),
    }


# ---------------------------------------------------------------------------- setup


def train(tmp: Path, ws: Path, mlctl: Path) -> None:
    """Train and promote one model (models=fast) into ``ws``."""
    cmd = [str(mlctl), "run", str(RECIPE), "models=fast", "--promote", "--yes"]
    cmd += ["--workspace", str(ws), "--quiet"]
    proc = subprocess.run(
        cmd, cwd=tmp, env=sub_env(), capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"mlctl run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def dask_recipe(tmp: Path, workers: int) -> Path:
    """The churn recipe with a compute section pinning the LocalCluster's size."""
    shutil.copytree(REPO / "conf", tmp / "conf")
    path = tmp / DASK_RECIPE
    path.parent.mkdir(parents=True, exist_ok=True)
    compute = f"\ncompute:\n  n_workers: {workers}\n  threads_per_worker: 1\n"
    path.write_text(RECIPE.read_text() + compute)
    return path


def build_inputs(tmp: Path, rows: int, startup_rows: int) -> tuple[Path, Path]:
    """The Telco table replicated to ``rows`` rows (unique ids, cleaned), and its head."""
    import numpy as np
    import pandas as pd

    base = pd.read_csv(TELCO, dtype={ID_COLUMN: str}).drop(columns=[TARGET])
    # MLflow's signature enforcement rejects the raw column (" " for new customers);
    # blank cells become missing values, which every contender's pipeline imputes.
    base["TotalCharges"] = pd.to_numeric(base["TotalCharges"], errors="coerce")
    copies = -(-rows // len(base))
    big = base.iloc[np.tile(np.arange(len(base)), copies)[:rows]].reset_index(drop=True)
    copy = (np.arange(rows) // len(base)).astype(str)
    big[ID_COLUMN] = big[ID_COLUMN] + "-" + copy
    assert big[ID_COLUMN].is_unique
    path = tmp / f"input_{rows}.csv"
    big.to_csv(path, index=False)
    head = tmp / f"input_{startup_rows}.csv"
    big.head(startup_rows).to_csv(head, index=False)
    return path, head


def warm_up() -> None:
    """Import the libraries every contender uses once, so none pays a cold page cache."""
    code = "import mlflow, mlflow.sklearn, mlflow.pyfunc, sklearn, pandas, pyarrow.parquet, mlctl.cli.main"
    subprocess.run([sys.executable, "-c", code], check=True, env=sub_env())


# ---------------------------------------------------------------------- contenders


def command(
    name: str, args: argparse.Namespace, tmp: Path, ws: Path, source: Path, tag: str
) -> tuple[list[str], Path, str | None]:
    """The command line of one contender, its output file and the tracking URI it needs."""
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    outdir = tmp / "out"
    if name in MLCTL_ENGINES:
        out = outdir / f"{name}_{tag}.parquet"
        recipe = RECIPE if name == "mlctl" else tmp / DASK_RECIPE
        cmd = [str(args.mlctl), "predict", str(recipe), "--input", str(source)]
        cmd += ["--output", str(out), "--workspace", str(ws)]
        cmd += ["--chunk-size", str(args.chunk_size), "--json"]
        if name == "dask":
            cmd += ["--engine", "dask"]
        return cmd, out, None
    if name == "floor":
        out = outdir / f"floor_{tag}.parquet"
        cmd = [sys.executable, str(tmp / "floor_predict.py"), MODEL_URI, str(source), str(out)]
        return [*cmd, str(args.chunk_size)], out, uri
    out = outdir / f"mlflow_{tag}.json"
    cmd = [str(venv_bin() / "mlflow"), "models", "predict", "-m", MODEL_URI]
    cmd += ["-i", str(source), "-t", "csv", "-o", str(out), "--env-manager", "local"]
    return cmd, out, uri


def run_one(
    name: str, args: argparse.Namespace, tmp: Path, ws: Path, source: Path, rows: int, tag: str
) -> dict[str, Any]:
    cmd, out, uri = command(name, args, tmp, ws, source, tag)
    res = timed(
        cmd, tmp, sub_env(uri), args.timeout, int(args.max_rss_gb * 2**30), tmp / "logs" / tag
    )
    res.update(name=name, rows=rows, output=out)
    if res["capped"]:
        return res
    if res["rc"] != 0:
        raise BenchmarkError(f"{name} failed ({res['rc']}):\n{res['err'][-3000:]}")
    if name in MLCTL_ENGINES:
        doc = json.loads(res["out"])
        if doc["rows_scored"] != rows or doc["rows_rejected"]:
            raise BenchmarkError(f"{name} scored {doc['rows_scored']} of {rows} rows: {doc}")
        res["inner_seconds"] = doc["seconds"]  # predict_batch, incl. loading the model
        if name == "dask":
            cluster = doc["cluster"]
            if doc["engine"] != "dask" or cluster["workers"] != args.dask_workers:
                raise BenchmarkError(f"the dask run did not use {args.dask_workers} workers: {doc}")
            res["partitions"] = cluster["partitions"]
    return res


def load_output(res: dict[str, Any]) -> dict[str, Any]:
    """ids, labels and P(Yes) of one contender's output (mlflow: labels only)."""
    import numpy as np

    path = res["output"]
    if res["name"] == "mlflow":
        with open(path) as fh:
            labels = json.load(fh)["predictions"]
        return {"ids": None, "labels": np.asarray(labels, dtype=object), "proba": None}
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=[ID_COLUMN, "prediction", "proba_Yes"])
    return {
        "ids": table.column(ID_COLUMN).to_numpy(zero_copy_only=False),
        "labels": table.column("prediction").to_numpy(zero_copy_only=False).astype(object),
        "proba": table.column("proba_Yes").to_numpy(),
    }


def verify(results: list[dict[str, Any]], rows: int) -> str:
    """Assert that the contenders that finished agree on every row; a one-line verdict."""
    import numpy as np

    got = {r["name"]: load_output(r) for r in results if not r["capped"]}
    for name, o in got.items():
        if len(o["labels"]) != rows:
            raise BenchmarkError(f"{name} wrote {len(o['labels'])} rows, expected {rows}")
    if "mlctl" not in got:
        return "mlctl was capped; outputs not compared"
    m = got["mlctl"]
    parts = []
    if "dask" in got:
        d = got["dask"]
        if not np.array_equal(m["ids"], d["ids"]):
            raise BenchmarkError("mlctl local and dask outputs hold different ids / row order")
        if not np.array_equal(m["labels"], d["labels"]):
            n = int((m["labels"] != d["labels"]).sum())
            raise BenchmarkError(f"mlctl local and dask disagree on {n} labels")
        delta = np.abs(m["proba"] - d["proba"])
        diff = float(delta.max()) if rows else 0.0
        if diff > 1e-9:
            raise BenchmarkError(f"mlctl local and dask probabilities differ by up to {diff:.3g}")
        # BLAS rounds a chunk's tail rows with other kernels; partitions and chunks
        # start at other rows, so a few probabilities may differ in the last bit.
        parts.append(
            f"local = dask (ids, labels; P(Yes) max |diff| {diff:.1g}, "
            f"{int((delta > 0).sum()):,} rows not bit-identical)"
        )
    if "floor" in got:
        f = got["floor"]
        if not np.array_equal(m["ids"], f["ids"]):
            raise BenchmarkError("mlctl and floor outputs hold different ids / row order")
        if not np.array_equal(m["labels"], f["labels"]):
            n = int((m["labels"] != f["labels"]).sum())
            raise BenchmarkError(f"mlctl and floor disagree on {n} labels")
        diff = float(np.max(np.abs(m["proba"] - f["proba"]))) if rows else 0.0
        if diff > 1e-9:
            raise BenchmarkError(f"mlctl and floor probabilities differ by up to {diff:.3g}")
        parts.append(f"mlctl = floor (ids, labels; P(Yes) max |diff| {diff:.1g})")
    if "mlflow" in got:
        if not np.array_equal(m["labels"], got["mlflow"]["labels"]):
            n = int((m["labels"] != got["mlflow"]["labels"]).sum())
            raise BenchmarkError(f"mlctl and mlflow disagree on {n} labels")
        parts.append("mlctl = mlflow (labels)")
    for r in results:
        if r["output"].exists():
            r["output"].unlink()
    share = float(np.mean(m["labels"] == "Yes")) if rows else 0.0
    return f"all {rows:,} rows: " + "; ".join(parts) + f"; {share:.1%} predicted Yes"


# -------------------------------------------------------------------------- report


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f} GB"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(repeats: list[dict[str, dict[str, Any]]], names: list[str], rows: int, small: int):
    """Per contender: median end-to-end wall, startup wall and steady-state rate."""
    out = {}
    for name in names:
        ok = [r for r in repeats if not r[name]["big"]["capped"]]
        wall = _median([r[name]["big"]["wall"] for r in ok])
        start = _median(
            [r[name]["small"]["wall"] for r in repeats if not r[name]["small"]["capped"]]
        )
        # From the medians: one repeat's difference of two noisy walls can be tiny.
        steady = None
        if wall is not None and start is not None and wall > start:
            steady = (rows - small) / (wall - start)
        cpu = _median([r[name]["big"]["cpu"] for r in ok])
        start_cpu = _median(
            [r[name]["small"]["cpu"] for r in repeats if not r[name]["small"]["capped"]]
        )
        steady_cpu = None  # CPU-seconds per million rows, start-up subtracted
        if cpu is not None and start_cpu is not None:
            steady_cpu = (cpu - start_cpu) / (rows - small) * 1e6
        out[name] = {
            "wall": wall,
            "rows_per_s": rows / wall if wall else None,
            "startup_wall": start,
            "steady_rows_per_s": steady,
            "cpu": cpu,
            "startup_cpu": start_cpu,
            "steady_cpu_per_mrow": steady_cpu,
            "max_rss": max((r[name]["big"]["max_rss"] for r in repeats), default=0),
            "capped": [r[name]["big"]["capped"] for r in repeats if r[name]["big"]["capped"]],
        }
    return out


def report(
    repeats: list[dict[str, dict[str, Any]]], names: list[str], rows: int, small: int
) -> dict[str, Any]:
    print()
    print(
        "repeat  contender    rows        wall      rows/s     cpu    peak RSS (sampled tree)"
        "  other procs' cpu"
    )
    for i, rep in enumerate(repeats, 1):
        for name in rep["order"]:
            for size in ("small", "big"):
                r = rep[name][size]
                if r["capped"]:
                    print(f"{i:>6}  {name:<8} {r['rows']:>9,}  CAPPED: {r['capped']}")
                    continue
                print(
                    f"{i:>6}  {name:<8} {r['rows']:>9,} {r['wall']:8.1f} s {r['rows'] / r['wall']:>9,.0f}"
                    f" {r['cpu']:7.1f} s  {_gb(r['max_rss'])} ({_gb(r['peak_tree_rss'])})"
                    f"  {others_cpu(r):>6}"
                )
        print(f"        check: {rep['verdict']}")
    s = summarise(repeats, names, rows, small)
    print()
    print(f"median over {len(repeats)} repeat(s), {rows:,} rows:")
    print(
        f"  contender   end-to-end wall   rows/s    | start-up ({small:,} rows)  steady-state rows/s"
        " | cpu (start-up)      steady cpu/1M rows   peak RSS"
    )
    for name in names:
        v = s[name]
        if v["wall"] is None:
            print(f"  {name:<10}  CAPPED: {'; '.join(v['capped'])}")
            continue
        steady = "n/a" if v["steady_rows_per_s"] is None else f"{v['steady_rows_per_s']:,.0f}"
        print(
            f"  {name:<10}  {v['wall']:10.1f} s  {v['rows_per_s']:>10,.0f}  | {v['startup_wall']:10.1f} s"
            f"          {steady:>10} | {v['cpu']:6.1f} s ({v['startup_cpu']:4.1f} s)"
            f"  {v['steady_cpu_per_mrow']:8.1f} s        {_gb(v['max_rss'])}"
        )
    print()
    m = s["mlctl"]
    others = [n for n in names if n not in MLCTL_ENGINES]
    for other in others if m["wall"] is not None else []:
        o = s[other]
        if o["wall"] is None:
            print(f"  mlctl/{other}: n/a ({other} was capped)")
            continue
        line = (
            f"  mlctl/{other} rows/s: end-to-end {m['rows_per_s'] / o['rows_per_s']:.2f}"
            f" (wall {m['wall'] / o['wall']:.2f}x)"
        )
        if m["steady_rows_per_s"] and o["steady_rows_per_s"]:
            line += f", steady-state {m['steady_rows_per_s'] / o['steady_rows_per_s']:.2f}"
        print(line)
        line = f"  mlctl/{other} CPU time: end-to-end {m['cpu'] / o['cpu']:.2f}"
        if m["steady_cpu_per_mrow"] > 0 and o["steady_cpu_per_mrow"] > 0:
            line += f", steady-state {m['steady_cpu_per_mrow'] / o['steady_cpu_per_mrow']:.2f}"
        print(line + " (above 1: mlctl used more CPU)")
    inner = _median(
        [
            r["mlctl"]["big"]["inner_seconds"]
            for r in repeats
            if "inner_seconds" in r["mlctl"]["big"]
        ]
    )
    if inner is not None:
        print(
            f"  mlctl: {inner:.1f} s inside predict_batch (model load + scoring), "
            f"{m['wall'] - inner:.1f} s before/after it (imports, recipe load, exit)"
        )
    if "dask" in names:
        dask_vs_local(repeats, s)
    print()
    print(
        "What each does: mlctl checks every value against the signature (rejects file),\n"
        "computes predict + predict_proba from one preprocessing pass, writes ids, label,\n"
        "probabilities, model name/version to Parquet atomically, chunked. The floor\n"
        "does predict_proba only (label = argmax) and writes ids, label, probabilities to\n"
        "Parquet, chunked. mlflow reads the whole CSV at once, enforces the signature,\n"
        "calls predict (labels only, no ids, no probabilities) and writes JSON. dask does\n"
        "mlctl's work on a LocalCluster it starts and closes: partitions read and scored\n"
        "on the workers (model sent once to each), results written in order by the client."
    )
    return s


def dask_vs_local(repeats: list[dict[str, dict[str, Any]]], s: dict[str, Any]) -> None:
    """The Dask engine against the local one: rates, CPU, memory of the whole tree."""
    d, m = s["dask"], s["mlctl"]
    print()
    if d["wall"] is None or m["wall"] is None:
        print("  dask/local: n/a (a run was capped)")
        return
    line = f"  dask/local rows/s: end-to-end {d['rows_per_s'] / m['rows_per_s']:.2f}"
    line += f" (wall {d['wall'] / m['wall']:.2f}x)"
    if d["steady_rows_per_s"] and m["steady_rows_per_s"]:
        line += f", steady-state {d['steady_rows_per_s'] / m['steady_rows_per_s']:.2f}"
    print(line + " (above 1: the Dask engine is faster)")
    print(f"  dask/local CPU time: end-to-end {d['cpu'] / m['cpu']:.2f}")
    tree = {
        n: max(r[n]["big"]["peak_tree_rss"] for r in repeats) for n in MLCTL_ENGINES
    }  # the sum over the process tree: client, scheduler, worker processes
    parts = [r["dask"]["big"].get("partitions") for r in repeats]
    print(
        f"  peak RSS of the whole process tree (sampled): local {_gb(tree['mlctl'])}, "
        f"dask {_gb(tree['dask'])} ({parts[0]} partitions)"
    )
    inner = _median(
        [r["dask"]["big"]["inner_seconds"] for r in repeats if "inner_seconds" in r["dask"]["big"]]
    )
    if inner is not None:
        print(
            f"  dask: {inner:.1f} s inside predict_batch (cluster start, model load, scoring, "
            f"cluster close), {d['wall'] - inner:.1f} s before/after it"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows to score")
    p.add_argument("--repeats", type=int, default=1, help="rounds to time (order alternates)")
    p.add_argument("--chunk-size", type=int, default=50_000, help="mlctl's and the floor's chunk")
    p.add_argument(
        "--startup-rows", type=int, default=1_000, help="rows of the start-up (fixed cost) run"
    )
    p.add_argument("--skip-mlflow", action="store_true", help="leave out mlflow models predict")
    p.add_argument("--skip-floor", action="store_true", help="leave out the floor script")
    p.add_argument("--skip-dask", action="store_true", help="leave out mlctl --engine dask")
    p.add_argument(
        "--dask-workers", type=int, default=2, help="worker processes of the dask contender"
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, help="kill a contender's run after this (s)"
    )
    p.add_argument(
        "--max-rss-gb", type=float, default=8.0, help="kill a contender above this RSS (tree)"
    )
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to SECONDS for the machine to be <25%% busy",
    )
    p.add_argument("--mlctl", type=Path, default=venv_bin() / "mlctl")
    p.add_argument("--no-warmup", action="store_true", help="skip the import warm-up")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (model, inputs, logs)")
    p.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = p.parse_args(argv)
    if args.rows <= args.startup_rows:
        p.error("--rows must be larger than --startup-rows")
    if args.chunk_size < 1 or args.repeats < 1:
        p.error("--chunk-size and --repeats must be at least 1")

    skipped = {n for n in ("mlflow", "floor", "dask") if getattr(args, f"skip_{n}")}
    names = [n for n in CONTENDERS if n not in skipped]
    tmp = Path(tempfile.mkdtemp(prefix="mlctl-predict-bench-"))
    ws = tmp / "ws"
    try:
        (tmp / "out").mkdir()
        (tmp / "logs").mkdir()
        (tmp / "floor_predict.py").write_text(FLOOR_SCRIPT)
        dask_recipe(tmp, args.dask_workers)
        print(
            f"machine:   {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        )
        print(f"date:      {datetime.now(UTC).isoformat(timespec='seconds')}")
        t = time.perf_counter()
        train(tmp, ws, args.mlctl)
        print(
            f"model:     {MODEL_URI} trained and promoted in {time.perf_counter() - t:.0f} s ({ws})"
        )
        t = time.perf_counter()
        big, head = build_inputs(tmp, args.rows, args.startup_rows)
        print(
            f"input:     {big} ({args.rows:,} rows, {big.stat().st_size / 1e6:.0f} MB; "
            f"TotalCharges cleaned to numbers) + {args.startup_rows:,}-row head, "
            f"built in {time.perf_counter() - t:.0f} s"
        )
        print(
            f"contenders: {', '.join(names)}; chunk size {args.chunk_size:,} (mlctl, dask, floor)"
            + (
                f"; dask: {args.dask_workers} worker processes × 1 thread"
                if "dask" in names
                else ""
            )
        )
        if not args.no_warmup:
            warm_up()
        repeats = []
        for i in range(args.repeats):
            order = names if i % 2 == 0 else names[::-1]
            rep: dict[str, Any] = {"order": order}
            for name in order:
                rep[name] = {}
                for size, source, rows in (
                    ("small", head, args.startup_rows),
                    ("big", big, args.rows),
                ):
                    if args.wait_quiet > 0:
                        busy = wait_quiet(args.wait_quiet)
                        if busy is not None:
                            print(f"  (machine {busy:.0%} busy before {name} {size})", flush=True)
                    tag = f"r{i + 1}_{name}_{size}"
                    res = run_one(name, args, tmp, ws, source, rows, tag)
                    rep[name][size] = res
                    shown = res["capped"] or f"{res['wall']:.1f} s"
                    print(f"  repeat {i + 1}: {name:<7} {rows:>9,} rows  {shown}", flush=True)
            verify([rep[n]["small"] for n in names], args.startup_rows)
            rep["verdict"] = verify([rep[n]["big"] for n in names], args.rows)
            print(f"  repeat {i + 1}: outputs agree on {rep['verdict']}", flush=True)
            repeats.append(rep)
        summary = report(repeats, names, args.rows, args.startup_rows)
        if args.json:
            keep = ("wall", "cpu", "others", "max_rss", "peak_tree_rss", "capped", "rows")
            doc = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": args.rows,
                "startup_rows": args.startup_rows,
                "chunk_size": args.chunk_size,
                "summary": summary,
                "repeats": [
                    {
                        "order": rep["order"],
                        "check": rep["verdict"],
                        **{n: {s: {k: rep[n][s][k] for k in keep} for s in rep[n]} for n in names},
                    }
                    for rep in repeats
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
