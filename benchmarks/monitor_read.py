"""Reading a month of prediction log: ``LogSource`` chunks against the naive read.

Writes ``--rows`` (default 1M) log rows into a SQLite prediction log through the
server's own writer (``PredictionLog`` + ``rows_for``): requests of 1-8 rows spread
over 30 days, Telco inputs resampled from ``data/telco/*.csv``, champion rows with a
few challenger and shadow ones. Then, each in a fresh subprocess (so peak RSS is its
own), it reads the champion rows of ``--window`` (default: the whole 30 days):

- **mlctl**: ``LogSource.iter_chunks`` (keyset pages of ``--chunk-rows``, inputs
  decoded per chunk with msgspec), summing a numeric column per chunk;
- **naive**: ``pd.read_sql`` of the window in one go, ``json.loads`` per row into a
  list of dicts, ``pd.DataFrame`` of that, joined to the log columns.

Both must see the same rows (count and a column sum are checked). Printed per side:
wall time, rows/s, peak RSS and peak RSS above the interpreter with its imports;
then the ratios. ``hourly_counts`` over the window (a GROUP BY in SQLite) is timed
too.

Usage::

    .venv/bin/python benchmarks/monitor_read.py                  # 1M rows, 30d window
    .venv/bin/python benchmarks/monitor_read.py --rows 200000 --window 7d
    .venv/bin/python benchmarks/monitor_read.py --db /tmp/log.db  # keep/reuse the log
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
END = 1_717_200_000.0  # 2024-06-01T00:00:00Z: the log's month ends here
MONTH = 30 * 86400


def rss_mib() -> float:
    """This process's peak RSS. Linux: VmHWM, which starts afresh at exec (ru_maxrss
    carries the parent's peak over into a child started with fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ------------------------------------------------------------------ the log


def build_log(path: Path, rows: int, seed: int = 7) -> None:
    import numpy as np
    import pandas as pd

    from mlctl.predlog import PredictionLog, rows_for

    telco = pd.read_csv(TELCO).drop(columns=["Churn"])
    telco["TotalCharges"] = pd.to_numeric(telco["TotalCharges"], errors="coerce")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(telco), rows)
    records = telco.to_dict("records")
    sizes = rng.integers(1, 9, rows // 2 + 8)
    log = PredictionLog(f"sqlite:///{path}")
    log.open()
    try:
        done, req, batch = 0, 0, []
        while done < rows:
            n = int(min(sizes[req], rows - done))
            ts = END - MONTH + MONTH * (done / rows)  # evenly spread, in order
            roll = rng.random()
            variant = "challenger" if roll < 0.05 else "shadow" if roll < 0.08 else "champion"
            rid = f"{req:08x}"
            ids = [f"{rid}-{i}" + ("-shadow" if variant == "shadow" else "") for i in range(n)]
            inputs = []
            for i in range(n):
                rec = dict(records[picks[done + i]])
                if rec["TotalCharges"] != rec["TotalCharges"]:  # NaN: sent as null
                    rec["TotalCharges"] = None
                inputs.append(rec)
            p = rng.random(n)
            batch += rows_for(
                ids,
                rid,
                ts,
                "churn",
                2 if variant == "champion" else 3,
                variant,
                inputs,
                ["Yes" if q >= 0.5 else "No" for q in p],
                p.tolist(),
                [{"No": 1 - q, "Yes": q} for q in p],
                4.2,
            )
            done += n
            req += 1
            if len(batch) >= 50_000:
                log.write(batch).result(timeout=600)
                batch = []
        if batch:
            log.write(batch).result(timeout=600)
    finally:
        log.close()


def log_rows(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return con.execute("SELECT count(*) FROM predictions").fetchone()[0]


# ------------------------------------------------------------------ the two readers


def read_mlctl(path: Path, start: float, end: float, chunk_rows: int) -> dict:
    from mlctl.monitor.log_source import LogSource
    from mlctl.monitor.window import Window

    base = rss_mib()
    src = LogSource(f"sqlite:///{path}")
    t = time.perf_counter()
    rows = chunks = biggest = 0
    total = 0.0
    for chunk in src.iter_chunks(Window(start, end), chunk_rows=chunk_rows):
        rows += len(chunk)
        chunks += 1
        biggest = max(biggest, len(chunk))
        total += float(chunk["tenure"].sum())
        ncols = chunk.shape[1]
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    hours = src.hourly_counts(Window(start, end))
    hourly_s = time.perf_counter() - t
    return {
        "rows": rows,
        "tenure_sum": total,
        "columns": ncols,
        "chunks": chunks,
        "biggest_chunk": biggest,
        "seconds": seconds,
        "base_rss": base,
        "peak_rss": rss_mib(),
        "hourly_seconds": hourly_s,
        "hourly_buckets": len(hours),
    }


def read_naive(path: Path, start: float, end: float, chunk_rows: int) -> dict:
    import pandas as pd

    base = rss_mib()
    t = time.perf_counter()
    con = sqlite3.connect(path)
    frame = pd.read_sql(
        "SELECT * FROM predictions WHERE ts >= ? AND ts < ? AND variant = 'champion' "
        "ORDER BY ts, request_id",
        con,
        params=(start, end),
    )
    con.close()
    inputs = pd.DataFrame([json.loads(s) for s in frame["inputs"]])
    frame = pd.concat([inputs, frame.drop(columns=["inputs"])], axis=1)
    seconds = time.perf_counter() - t
    return {
        "rows": len(frame),
        "tenure_sum": float(frame["tenure"].sum()),
        "columns": frame.shape[1],
        "chunks": 1,
        "biggest_chunk": len(frame),
        "seconds": seconds,
        "base_rss": base,
        "peak_rss": rss_mib(),
    }


def measure(side: str, path: Path, start: float, end: float, chunk_rows: int) -> dict:
    """One reader in a fresh interpreter, so its peak RSS is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", side, "--db", str(path)]
        + ["--start", repr(start), "--end", repr(end), "--chunk-rows", str(chunk_rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--window", default="30d", help="the window read, ending at the log's end")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--db", type=Path, help="log file to write (or reuse if it has --rows)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per side; the best is shown")
    ap.add_argument("--measure", choices=["mlctl", "naive"], help=argparse.SUPPRESS)
    ap.add_argument("--start", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--end", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.measure:  # the child: imports first, so the base RSS includes them
        import pandas  # noqa: F401

        import mlctl.monitor.log_source  # noqa: F401

        reader = read_mlctl if args.measure == "mlctl" else read_naive
        print(json.dumps(reader(args.db, args.start, args.end, args.chunk_rows)))
        return 0

    from mlctl.monitor.window import parse_window

    tmp = None
    path = args.db
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="mlctl-monitor-bench-")
        path = Path(tmp.name) / "predictions.db"
    try:
        if not path.exists() or log_rows(path) != args.rows:
            path.unlink(missing_ok=True)
            t = time.perf_counter()
            build_log(path, args.rows)
            print(
                f"wrote {args.rows:,} log rows in {time.perf_counter() - t:.1f} s "
                f"({path.stat().st_size / 2**20:.0f} MiB SQLite)"
            )
        window = parse_window(args.window, now=END)
        print(
            f"python {platform.python_version()}, {platform.machine()}, "
            f"window {args.window} ({window.to_dict()['start_utc']} .. "
            f"{window.to_dict()['end_utc']}), chunk_rows {args.chunk_rows:,}"
        )
        results = {}
        for side in ("mlctl", "naive"):
            runs = [
                measure(side, path, window.start, window.end, args.chunk_rows)
                for _ in range(args.repeat)
            ]
            results[side] = min(runs, key=lambda r: r["seconds"])
        a, b = results["mlctl"], results["naive"]
        if (a["rows"], a["tenure_sum"]) != (b["rows"], b["tenure_sum"]):
            print(f"MISMATCH: mlctl {a['rows']} rows / {a['tenure_sum']}, naive {b}")
            return 1
        print(f"{'reader':<8} {'rows':>9} {'cols':>5} {'chunks':>6} {'seconds':>8} "
              f"{'rows/s':>10} {'peak RSS':>9} {'above base':>10}")  # fmt: skip
        for side, r in results.items():
            print(
                f"{side:<8} {r['rows']:>9,} {r['columns']:>5} {r['chunks']:>6} "
                f"{r['seconds']:>8.2f} {r['rows'] / r['seconds']:>10,.0f} "
                f"{r['peak_rss']:>6.0f} MiB {r['peak_rss'] - r['base_rss']:>6.0f} MiB"
            )
        print(
            f"mlctl/naive: speed x{b['seconds'] / a['seconds']:.2f}, peak RSS above base "
            f"x{(a['peak_rss'] - a['base_rss']) / (b['peak_rss'] - b['base_rss']):.3f} "
            f"(biggest chunk {a['biggest_chunk']:,} rows)"
        )
        print(
            f"hourly_counts over the window: {a['hourly_buckets']} buckets in "
            f"{a['hourly_seconds'] * 1000:.0f} ms"
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
