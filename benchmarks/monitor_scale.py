"""``mlctl monitor`` at scale, in one run: against Evidently at 1M rows with MLflow logging
on, and over 10M rows from PostgreSQL, SQLite and Parquet with peak RSS.

Part 1 (speed): the churn recipe (no ``monitor:`` section, so every column gets
Evidently's default test) is trained on 1,000,000 Telco rows resampled
(``drift_vs_evidently.train``: ``mlctl run ... --promote``; not timed). Then, for a
current window drawn like the reference (``same``) and one that drifted, each a
1,000,000-row parquet file, whole processes are timed (interpreter start to exit):

* Evidently 0.7's ``DataDriftPreset`` in its own venv (``drift_vs_evidently``'s runner:
  read both parquet files, ``Report.run``);
* ``mlctl monitor RECIPE --current FILE --json monitor.prediction_drift.enabled=false``
  with the **default MLflow logging** (a monitoring run with the result document, its
  metrics and the model version's tags), the tests Evidently runs;
* the same with ``--no-mlflow``, and as configured (+ prediction drift, which loads the
  model and scores every row), MLflow on.

Part 2 (memory): the same model monitors 10,000,000 rows from
* a parquet ``--current`` file (the current rows resampled to 10M),
* a SQLite prediction log and a PostgreSQL one (``127.0.0.1:5432/test``, a schema of
  its own, dropped at the end), each holding 10M champion rows over 30 days, written in
  bulk in the server's schema and row format (``rows_for``), read with
  ``--window 30d`` (10M rows) and ``--window 3d`` (1M rows) ending at the log's end,
  ``deploy.serve.log.url`` pointing at it;
and prints wall time, rows/s and the peak RSS of each ``mlctl monitor`` process
(``ru_maxrss`` of the child, forked from a bare interpreter), at 1M and at 10M.

Usage::

    .venv/bin/python benchmarks/monitor_scale.py --evidently-venv /tmp/evidently-venv
    .venv/bin/python benchmarks/monitor_scale.py --skip-evidently --rows 1000000 --big 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import drift_vs_evidently as dve  # noqa: E402

END = 1_717_200_000.0  # the logs' month ends here (2024-06-01T00:00:00Z)
MONTH = 30 * 86400
PG = os.environ.get("MLCTL_BENCH_POSTGRES", "postgresql://127.0.0.1:5432/test")


# As drift_vs_evidently's wrapper, but also writing the child's CPU time (user + system):
# on a shared machine the CPU-time ratio moves less than the wall ratio.
CPU_WRAPPER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""
CPU: dict[str, float] = {}  # stdout path -> CPU seconds of that command


def measured(cmd: list[str], cwd: Path, stdout: Path) -> tuple[int, float, int]:
    """``drift_vs_evidently.measured`` that also records the command's CPU seconds."""
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    usage = stdout.with_suffix(".usage")
    wrapper = [sys.executable, "-I", "-S", "-c", CPU_WRAPPER, str(usage)]
    with stdout.open("w") as out, (stdout.with_suffix(".err")).open("w") as err:
        t = time.perf_counter()
        code = subprocess.run([*wrapper, *cmd], cwd=cwd, stdout=out, stderr=err, env=env)
        seconds = time.perf_counter() - t
    rss, cpu = usage.read_text().split()
    CPU[str(stdout)] = float(cpu)
    return code.returncode, seconds, int(rss) * 1024


dve.measured = measured  # Evidently's side is timed the same way


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def monitor(root: Path, model: dict, label: str, *args: str) -> dict:
    cmd = [sys.executable, "-m", "mlctl", "monitor", str(model["recipe"]), *args]
    cmd += ["--json", "--workspace", "ws"]
    code, seconds, rss = measured(cmd, root, root / f"{label}.json")
    if code not in (0, 3):
        raise SystemExit(f"{label} failed ({code}):\n{(root / f'{label}.err').read_text()[-3000:]}")
    doc = json.loads((root / f"{label}.json").read_text())
    cpu = CPU[str(root / f"{label}.json")]
    return {"seconds": seconds, "cpu": cpu, "rss": rss, "doc": doc, "rows": doc["source"]["rows"]}


# ----------------------------------------------------------------- part 1: speed


def speed(
    root: Path, python: Path | None, model: dict, df: pd.DataFrame, rows: int, scenarios: list
) -> list:
    out = []
    same = df.sample(rows, replace=True, random_state=4).reset_index(drop=True)
    cases = [("same", same), ("drifted", dve.drifted(df, rows, 5))]
    for name, cur in [c for c in cases if c[0] in scenarios]:
        path = root / f"{name}.parquet"
        cur[dve.NUMERIC + dve.CATEGORICAL].to_parquet(path)
        only = "monitor.prediction_drift.enabled=false"
        on = monitor(root, model, f"{name}-mlflow", "--current", str(path), only)
        off = monitor(root, model, f"{name}-nomlflow", "--current", str(path), only, "--no-mlflow")
        pred = monitor(root, model, f"{name}-pred", "--current", str(path))
        assert on["doc"]["drift"] == off["doc"]["drift"] == pred["doc"]["drift"]
        run_id = _run_of(on["doc"], root)
        row = {"scenario": f"{rows:,}/{name}", "mlflow": on, "no_mlflow": off}
        row.update(pred=pred, run_id=run_id, load=uptime())
        if python is not None:
            ev = dve.run_evidently_measured(python, root / "train.parquet", path, root)
            verdicts = sum(
                c["drifted"] == ev["auto"]["columns"][c["column"]]["drifted"]
                for c in on["doc"]["drift"]["columns"]
            )
            ev_cpu = CPU[str(root / "evidently.out")]
            row.update(evidently=ev["seconds"], evidently_rss=ev["rss"], verdicts=verdicts)
            row.update(evidently_cpu=ev_cpu)
        out.append(row)
        _print_speed(row)
    return out


def _run_of(doc: dict, root: Path) -> str:
    """The monitoring run MLflow holds for this document (checked: it was logged)."""
    db = root / "ws" / "mlflow.db"
    with sqlite3.connect(db) as con:
        run_id, status = con.execute(
            "SELECT run_uuid, status FROM runs WHERE name LIKE 'monitor-%' "
            "ORDER BY start_time DESC LIMIT 1"
        ).fetchone()
        n = con.execute("SELECT count(*) FROM metrics WHERE run_uuid = ?", (run_id,)).fetchone()
    assert status == "FINISHED" and n[0] >= 4, (status, n)
    return run_id


def _print_speed(r: dict) -> None:
    ev = r.get("evidently")
    ratio = f"{ev / r['mlflow']['seconds']:.1f}x" if ev else "-"
    ratio_off = f"{ev / r['no_mlflow']['seconds']:.1f}x" if ev else "-"
    ratio_pred = f"{ev / r['pred']['seconds']:.1f}x" if ev else "-"
    if ev:
        ev_cpu = r["evidently_cpu"]
        print(
            f"{r['scenario']:<17} CPU seconds: Evidently {ev_cpu:.2f}, mlctl MLflow on "
            f"{r['mlflow']['cpu']:.2f} ({ev_cpu / r['mlflow']['cpu']:.1f}x), --no-mlflow "
            f"{r['no_mlflow']['cpu']:.2f} ({ev_cpu / r['no_mlflow']['cpu']:.1f}x)"
        )
    print(
        f"{r['scenario']:<17} Evidently {ev or float('nan'):7.2f} s | mlctl MLflow on "
        f"{r['mlflow']['seconds']:5.2f} s ({ratio}) | --no-mlflow {r['no_mlflow']['seconds']:5.2f} s "
        f"({ratio_off}) | +pred, MLflow on {r['pred']['seconds']:5.2f} s ({ratio_pred}) | RSS "
        f"mlctl {_mb(r['mlflow']['rss'])}, Evidently {_mb(r.get('evidently_rss'))} | verdicts "
        f"{r.get('verdicts', '-')}/19 | run {r['run_id'][:8]} | {r['load']}",
        flush=True,
    )


# ---------------------------------------------------------------- part 2: memory


def log_rows(df: pd.DataFrame, rows: int, version: int, seed: int = 7):
    """Batches of log rows (``rows_for`` tuples), requests of 1-8 rows spread evenly over
    the 30 days before END, inputs resampled from ``df``."""
    from mlctl.predlog import rows_for

    records = df[dve.NUMERIC + dve.CATEGORICAL].to_dict("records")
    for rec in records:
        if rec["TotalCharges"] != rec["TotalCharges"]:
            rec["TotalCharges"] = None
    rng = np.random.default_rng(seed)
    done = req = 0
    batch: list[tuple] = []
    while done < rows:
        picks = rng.integers(0, len(records), 200_000)
        sizes = rng.integers(1, 9, 60_000)
        scores = rng.random(200_000)
        k = 0
        for n in sizes:
            n = int(min(n, rows - done))
            if n <= 0 or k + n > len(picks):
                break
            p = scores[k : k + n]
            batch += rows_for(
                [f"{req:09x}-{i}" for i in range(n)],
                f"{req:09x}",
                END - MONTH + MONTH * (done / rows),
                "churn",
                version,
                "champion",
                [records[j] for j in picks[k : k + n]],
                ["Yes" if q >= 0.5 else "No" for q in p],
                p.tolist(),
                [{"No": 1 - q, "Yes": q} for q in p],
                4.2,
            )
            done, req, k = done + n, req + 1, k + n
        yield batch
        batch = []


def build_logs(df: pd.DataFrame, rows: int, version: int, sqlite_path: Path, schema: str) -> str:
    """The same rows into a SQLite file and a PostgreSQL schema; returns the PG URL."""
    import psycopg

    from mlctl.predlog.schema import COLUMNS, POSTGRES_SCHEMA, SQLITE_SCHEMA

    url = f"{PG}?options=-csearch_path%3D{schema}"
    sqlite_path.unlink(missing_ok=True)
    lite = sqlite3.connect(sqlite_path)
    lite.executescript(SQLITE_SCHEMA)
    lite.execute("PRAGMA journal_mode=WAL")
    pg = psycopg.connect(PG, autocommit=True)
    pg.execute(f'CREATE SCHEMA "{schema}"')
    pg.execute(f'SET search_path TO "{schema}"')
    pg.execute(POSTGRES_SCHEMA)
    marks = ",".join("?" * len(COLUMNS))
    t, written = time.perf_counter(), 0
    for batch in log_rows(df, rows, version):
        with lite:
            lite.executemany(f"INSERT INTO predictions VALUES ({marks})", batch)
        with pg.cursor().copy(f"COPY predictions ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in batch:
                copy.write_row(row)
        written += len(batch)
        print(f"  wrote {written:,} log rows ({time.perf_counter() - t:.0f} s)", flush=True)
    pg.execute("ANALYZE predictions")
    lite.close()
    pg.close()
    return url


def memory(root: Path, model: dict, df: pd.DataFrame, rows: int, big: int, args) -> list:
    version = int(model.get("version", 1))
    out = []
    small_file, big_file = root / "scale-1.parquet", root / "scale-big.parquet"
    cur = df[dve.NUMERIC + dve.CATEGORICAL]
    only = "monitor.prediction_drift.enabled=false"  # the log's scores are logged; a file's
    for label, path in (("parquet", small_file), ("parquet", big_file)):  # are not: no scoring
        if args.skip_parquet:
            break
        n = rows if path == small_file else big
        _big_parquet(cur, n, path)
        r = monitor(root, model, f"{label}-{path.stem}", "--current", str(path), only)
        out.append(_scale_row(label, r))
    schema = f"mlctl_bench_{uuid.uuid4().hex[:10]}"
    sqlite_path = root / "predictions.db"
    try:
        print(f"\nwriting {big:,} log rows to SQLite and PostgreSQL (schema {schema})", flush=True)
        pg_url = build_logs(df, big, version, sqlite_path, schema)
        days = max(1, round(30 * rows / big))
        sources = [("sqlite", f"sqlite:///{sqlite_path}")]
        if not args.skip_postgres:
            sources.append(("postgresql", pg_url))
        for label, url in sources:
            for window in (f"{days}d", "30d"):
                r = monitor(
                    root, model, f"{label}-{window}",
                    "--window", window, "--end", str(END), f"deploy.serve.log.url='{url}'",
                )  # fmt: skip
                out.append(_scale_row(label, r))
    finally:
        _drop_schema(schema)
    return out


def _big_parquet(cur: pd.DataFrame, rows: int, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for i in range(0, rows, 1_000_000):
        part = cur.sample(min(1_000_000, rows - i), replace=True, random_state=100 + i // 10**6)
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=100_000)
    writer.close()


def _drop_schema(schema: str) -> None:
    try:
        import psycopg

        with psycopg.connect(PG, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except Exception as exc:  # the benchmark's result stands
        print(f"could not drop schema {schema}: {exc}")


def _scale_row(source: str, r: dict) -> dict:
    row = {"source": source, "rows": r["rows"], "seconds": r["seconds"], "rss": r["rss"]}
    row["cpu"] = r["cpu"]
    row.update(status=r["doc"]["status"], load=uptime())
    print(
        f"{source:<11} {row['rows']:>11,} rows {row['seconds']:7.1f} s "
        f"{row['rows'] / row['seconds']:>9,.0f} rows/s  CPU {row['cpu']:6.1f} s  "
        f"peak RSS {_mb(row['rss'])}  "
        f"({row['status']}) | {row['load']}",
        flush=True,
    )
    return row


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evidently-venv", type=Path, help="venv holding Evidently (kept)")
    ap.add_argument("--skip-evidently", action="store_true")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-parquet", action="store_true")
    ap.add_argument("--scenarios", default="same,drifted", help="part 1: same, drifted")
    ap.add_argument("--rows", type=int, default=1_000_000, help="reference and current rows")
    ap.add_argument("--big", type=int, default=10_000_000, help="rows of the scale part")
    ap.add_argument("--work", type=Path, help="keep the files here (default: a temp folder)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--part", choices=["1", "2", "all"], default="all", help="speed, memory")
    args = ap.parse_args()
    python = None
    tmp = None
    work = args.work
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="monitor-scale-")
        work = Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    # The size guard of files read whole; a monitored file is streamed.
    os.environ.setdefault("MLCTL_MAX_DATA_BYTES", "16GiB")
    if not args.skip_evidently and args.part != "2":
        target = (args.evidently_venv or work / "evidently-venv").expanduser().resolve()
        python, how = dve.ensure_evidently(target)
        if python is None:
            raise SystemExit(f"Evidently is not available ({how}); pass --skip-evidently")
    print(f"{os.cpu_count()} CPUs, pandas {pd.__version__}; {uptime()}", flush=True)
    raw = pd.read_csv(dve.TELCO, dtype=str, keep_default_na=False)
    df = dve.telco().assign(Churn=raw["Churn"])
    root = work / "project"
    if not (root / "ws").exists():
        root.mkdir(parents=True, exist_ok=True)
        ref = df.sample(args.rows, replace=True, random_state=1).reset_index(drop=True)
        model = dve.train(root, ref.copy(), 0.01)
        model["train"].to_parquet(root / "train.parquet")
        (root / "model.json").write_text(json.dumps({"recipe": str(model["recipe"])}))
        print(
            f"trained on {args.rows:,} rows in {model['seconds']:.0f} s (not counted)", flush=True
        )
    model = json.loads((root / "model.json").read_text())
    part1 = part2 = []
    if args.part != "2":
        print("\n## part 1: Evidently DataDriftPreset vs mlctl monitor (whole processes)")
        part1 = speed(root, python, model, df, args.rows, args.scenarios.split(","))
    if args.part != "1":
        print(f"\n## part 2: mlctl monitor over {args.big:,} rows", flush=True)
        part2 = memory(root, model, df, args.rows, args.big, args)
    if args.json:
        for r in part1:
            for k in ("mlflow", "no_mlflow", "pred"):
                r[k].pop("doc")
        args.json.write_text(json.dumps({"speed": part1, "scale": part2}, indent=2, default=str))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
