"""Online serving: ``mlctl serve`` against ``mlflow models serve`` on the same model.

One churn model is trained and promoted once (``mlctl run recipes/churn.yaml
--promote``) into a temporary workspace. Then these servers run side by side on
127.0.0.1, each on a free port, all serving ``models:/churn@champion``:

* mlflow:    ``mlflow models serve -m models:/churn@champion --env-manager local -w 1``
* mlctl-w1:  ``mlctl serve recipes/churn.yaml --workers 1`` (its own prediction log)
* mlctl-w2:  the same with ``--workers 2``

Every server gets the same bounded, closed-loop load: C clients (1, 8, 64), each
sending its next request as soon as it has the answer, for a fixed time after a
short warm-up. Requests hold 1 or 100 rows taken from the Telco table (rotating
through distinct rows, so no cache could help). The like-for-like route is
``/invocations`` with the same MLflow body (``{"dataframe_records": [...]}``) for
both; mlctl's own ``/predict`` (``{"records": [...]}``, which also returns the
probabilities and request ids) is measured too. mlctl logs every prediction to
SQLite before it answers; MLflow logs nothing.

Before any load, every server scores the same 400 rows and the benchmark stops
unless all give the same labels.

The load generator is ``wrk`` when it is on PATH (``apt-get install wrk``), else a
small asyncio HTTP/1.1 client in a separate process (``--client python``). Either
way its own ceiling is measured first, against mlctl's ``GET /health`` (the
cheapest route there is), and a cell whose rate comes near that ceiling is flagged.
For each run the table shows requests/s, rows/s, latency percentiles, non-2xx
answers and socket errors, the server's CPU time per request (its whole process
tree, from /proc: the most noise-proof number here), and the CPU time the rest of
the machine used meanwhile (noise).

Usage::

    .venv/bin/python benchmarks/serve_vs_mlflow.py             # ~8 min on 2 cores
    .venv/bin/python benchmarks/serve_vs_mlflow.py --quick     # ~2.5 min
    .venv/bin/python benchmarks/serve_vs_mlflow.py --workspace WS   # reuse a trained workspace
    .venv/bin/python benchmarks/serve_vs_mlflow.py --clients 64 --rows 1 --duration 20 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import HOST, free_port, http, machine_busy, stop_group, tree_cpu, venv_bin, wait_quiet

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "churn.yaml"
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
MODEL_URI = "models:/churn@champion"
ID_COLUMN = "customerID"
TARGET = "Churn"
TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLCTL_TRACKING_URI")
BODIES_PER_SIZE = 64  # distinct bodies each client rotates through
VERIFY_ROWS = 400

WRK_SCRIPT = r"""
-- POST the bodies of a file (one per line) in turn, or GET when there is none;
-- print a JSON summary at the end.
local path = os.getenv("MLCTL_BENCH_BODIES")
local target = os.getenv("MLCTL_BENCH_PATH")
local requests, n, i = {}, 0, 0
if path then
  for line in io.lines(path) do
    n = n + 1
    requests[n] = wrk.format("POST", target, {["Content-Type"] = "application/json"}, line)
  end
  setup = function(thread) thread:set("offset", math.random(n)) end
  init = function(args) i = offset or 0 end
  request = function()
    i = i % n + 1
    return requests[i]
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nMLCTL_BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "errors": %d, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


class BenchmarkError(Exception):
    """A step failed, or the servers disagree."""


# ----------------------------------------------------------------------- environment


def sub_env(tracking_uri: str | None = None) -> dict[str, str]:
    """This environment with the venv first on PATH and only our tracking URI."""
    env = {k: v for k, v in os.environ.items() if k not in TRACKING_ENV}
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


# --------------------------------------------------------------------------- servers
@dataclass
class Server:
    """One server under test, started in its own session (so it is stopped as a group)."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, cwd: Path) -> None:
        out = open(self.log, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=cwd,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:]
                raise BenchmarkError(f"{self.name} exited before it was ready:\n{tail}")
            with contextlib.suppress(OSError):
                # Several in a row: with --workers N each answers for itself.
                if all(http(self.url + self.ready_path, timeout=2)[0] == 200 for _ in range(8)):
                    return
            time.sleep(0.3)
        raise BenchmarkError(f"{self.name} not ready in time; see {self.log}")

    def stop(self) -> None:
        stop_group(self.proc)


def servers(tmp: Path, ws: Path, workers: list[int]) -> list[Server]:
    mlflow_cmd = [str(venv_bin() / "mlflow"), "models", "serve", "-m", MODEL_URI]
    mlflow_cmd += ["--env-manager", "local", "--host", HOST, "-w", "1"]
    port = free_port()
    out = [
        Server(
            "mlflow",
            [*mlflow_cmd, "--port", str(port)],
            sub_env(f"sqlite:///{ws / 'mlflow.db'}"),
            port,
            "/ping",
            tmp / "mlflow.log",
        )
    ]
    for n in workers:
        port = free_port()
        cmd = [str(venv_bin() / "mlctl"), "serve", str(RECIPE), "--workspace", str(ws)]
        cmd += ["--port", str(port), "--workers", str(n)]
        cmd += [f"deploy.serve.log.url=sqlite:///{tmp / f'predictions-w{n}.db'}"]
        cmd += ["deploy.serve.poll_seconds=0"]  # no registry polls during the load
        out.append(Server(f"mlctl-w{n}", cmd, sub_env(), port, "/ready", tmp / f"mlctl-w{n}.log"))
    return out


# ---------------------------------------------------------------------- model, data
def train(tmp: Path, ws: Path, models: str) -> None:
    cmd = [str(venv_bin() / "mlctl"), "run", str(RECIPE), f"models={models}", "--promote"]
    cmd += ["--yes", "--workspace", str(ws), "--quiet"]
    # cwd is the temp dir: no copy of the mlctl package can shadow the installed one.
    proc = subprocess.run(
        cmd, cwd=tmp, env=sub_env(), capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"mlctl run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def telco_rows() -> list[dict[str, Any]]:
    """The Telco rows as JSON objects: numbers as numbers, no target.

    ``TotalCharges`` is text in the file; MLflow's signature enforcement wants numbers,
    so it is sent as a number, and the 11 rows where it is blank are left out.
    """
    import pandas as pd

    frame = pd.read_csv(TELCO, dtype={ID_COLUMN: str}).drop(columns=[TARGET])
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    frame = frame.dropna(subset=["TotalCharges"]).reset_index(drop=True)
    return json.loads(frame.to_json(orient="records"))


def without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != ID_COLUMN}


def body(route: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    if route == "/invocations":  # MLflow's format; the id is not a model input
        return {"dataframe_records": [without_id(r) for r in rows]}
    return {"records": rows}


def write_bodies(tmp: Path, rows: list[dict[str, Any]], sizes: list[int]) -> dict[tuple, Path]:
    """One file per (route, rows per request): distinct bodies, one per line."""
    files = {}
    for route in ("/invocations", "/predict"):
        for size in sizes:
            path = tmp / f"bodies{route.replace('/', '-')}-{size}.jsonl"
            with path.open("w") as f:
                for k in range(BODIES_PER_SIZE):
                    start = (k * size * 7) % (len(rows) - size)
                    f.write(json.dumps(body(route, rows[start : start + size])) + "\n")
            files[(route, size)] = path
    return files


def labels(server: Server, route: str, rows: list[dict[str, Any]]) -> list[Any]:
    deadline = time.monotonic() + 120
    status, doc = http(server.url + route, body(route, rows))
    while status == 503 and time.monotonic() < deadline:  # a worker still loading
        time.sleep(0.5)
        status, doc = http(server.url + route, body(route, rows))
    if status != 200:
        raise BenchmarkError(f"{server.name} {route} answered {status}: {doc}")
    preds = doc["predictions"]
    return [p["prediction"] for p in preds] if route == "/predict" else preds


def verify(all_servers: list[Server], rows: list[dict[str, Any]]) -> str:
    """Every server and route gives the same label for each of VERIFY_ROWS rows."""
    sample = rows[:VERIFY_ROWS]
    reference = labels(all_servers[0], "/invocations", sample)
    for server in all_servers[1:]:
        for route in ("/invocations", "/predict"):
            got = labels(server, route, sample)
            if got != reference:
                bad = sum(a != b for a, b in zip(got, reference, strict=True))
                raise BenchmarkError(f"{server.name} {route} disagrees with mlflow on {bad} rows")
    share = sum(1 for v in reference if v == "Yes") / len(reference)
    return f"all servers give the same labels on {len(sample)} rows ({share:.1%} 'Yes')"


# ----------------------------------------------------------------------------- load
@dataclass
class Cell:
    server: str
    route: str
    rows: int
    clients: int
    requests: int = 0
    seconds: float = 0.0
    non2xx: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    others_cpu: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        """Answered requests per second, 2xx only (a 503 from load shedding is cheap)."""
        return (self.requests - self.non2xx) / self.seconds if self.seconds else 0.0

    @property
    def failed_share(self) -> float:
        return (self.non2xx + self.errors) / max(1, self.requests + self.errors)


def client_cmd(kind: str, url: str, path: str, bodies: Path | None, clients: int, seconds: float):
    if kind == "wrk":
        script = Path(tempfile.gettempdir()) / "mlctl_bench_post.lua"
        script.write_text(WRK_SCRIPT)
        cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
        return [*cmd, "-s", str(script), url + path]
    cmd = [sys.executable, __file__, "--_client", url + path, str(clients), str(seconds)]
    return cmd + ([str(bodies)] if bodies is not None else [])


def drive(
    kind: str, server: Server, path: str, bodies: Path | None, clients: int, seconds: float
) -> tuple[dict[str, Any], float, float, float | None]:
    """One bounded load run: (client summary, server CPU s, client CPU s, others' CPU s)."""
    env = dict(os.environ)
    if bodies is not None:
        env.update(MLCTL_BENCH_BODIES=str(bodies), MLCTL_BENCH_PATH=path)
    cmd = client_cmd(kind, server.url, path, bodies, clients, seconds)
    cpu0, busy0 = tree_cpu(server.proc.pid), machine_busy()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise BenchmarkError(f"the load generator did not stop: {' '.join(cmd)}") from None
    usage = _child_cpu()
    server_cpu, busy1 = tree_cpu(server.proc.pid) - cpu0, machine_busy()
    line = next((x for x in out.decode().splitlines() if x.startswith("MLCTL_BENCH ")), None)
    if line is None:
        raise BenchmarkError(f"no summary from {cmd[0]}: {err.decode()[-1000:]}")
    others = None if busy0 is None or busy1 is None else busy1 - busy0 - server_cpu - usage
    return json.loads(line.split(" ", 1)[1]), server_cpu, usage, others


_last_children = 0.0


def _child_cpu() -> float:
    """CPU seconds of the children reaped since the last call (the load generator)."""
    global _last_children
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    now = r.ru_utime + r.ru_stime
    delta, _last_children = now - _last_children, now
    return delta


def run_cell(kind: str, server: Server, route: str, rows: int, clients: int, args, files) -> Cell:
    bodies = files[(route, rows)]
    drive(kind, server, route, bodies, clients, args.warmup)  # warm-up, not counted
    summary, cpu, client_cpu, others = drive(kind, server, route, bodies, clients, args.duration)
    cell = Cell(server.name, route, rows, clients)
    cell.requests = summary["requests"]
    cell.seconds = summary["duration_us"] / 1e6
    cell.non2xx, cell.errors = summary["non2xx"], summary["errors"]
    for key in ("p50", "p95", "p99", "max"):
        setattr(cell, f"{key}_ms", summary[f"{key}_us"] / 1000)
    cell.server_cpu, cell.client_cpu, cell.others_cpu = cpu, client_cpu, others
    return cell


def ceiling(kind: str, server: Server, clients: int, seconds: float) -> float:
    """Requests/s of the load generator against the cheapest route (GET /health)."""
    summary, *_ = drive(kind, server, "/health", None, clients, seconds)
    return summary["requests"] / (summary["duration_us"] / 1e6)


# ------------------------------------------------------------------ python client
async def _client_main(url: str, clients: int, seconds: float, bodies: str | None) -> None:
    """A minimal keep-alive HTTP/1.1 load generator (used when wrk is not installed)."""
    from urllib.parse import urlsplit

    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    parts = urlsplit(url)
    head = f"Host: {parts.hostname}:{parts.port}\r\n"
    if bodies:
        lines = [x.encode() for x in Path(bodies).read_text().splitlines() if x]
        reqs = [
            f"POST {parts.path} HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
            f"Content-Length: {len(b)}\r\n\r\n".encode()
            + b
            for b in lines
        ]
    else:
        reqs = [f"GET {parts.path} HTTP/1.1\r\n{head}\r\n".encode()]
    latencies: list[float] = []
    counts = {"non2xx": 0, "errors": 0}
    stop_at = time.perf_counter() + seconds

    async def one(k: int) -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        i = k
        try:
            while time.perf_counter() < stop_at:
                i = (i + 1) % len(reqs)
                t0 = time.perf_counter()
                writer.write(reqs[i])
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status_line[9:10] != b"2":
                    counts["non2xx"] += 1
        except (OSError, asyncio.IncompleteReadError):
            counts["errors"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6)

    summary = {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        **counts,
        "p50_us": pct(0.50) if latencies else 0,
        "p95_us": pct(0.95) if latencies else 0,
        "p99_us": pct(0.99) if latencies else 0,
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
    }
    print("MLCTL_BENCH " + json.dumps(summary), flush=True)


# ------------------------------------------------------------------------- report
def fmt_ms(v: float) -> str:
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def table(cells: list[Cell], ceiling_rps: float) -> str:
    head = (
        "| server | route | rows/req | clients | req/s (2xx) | rows/s | p50 ms | p95 ms "
        "| p99 ms | non-2xx / errors | server CPU ms/req | others' CPU |"
    )
    lines = [head, "|" + "---|" * 12]
    for c in cells:
        cpu = c.server_cpu / c.requests * 1000 if c.requests else float("nan")
        others = "n/a" if c.others_cpu is None else f"{max(0.0, c.others_cpu):.1f} s"
        flag = " ⚠" if c.requests / max(c.seconds, 1e-9) > 0.5 * ceiling_rps else ""
        lines.append(
            f"| {c.server} | {c.route} | {c.rows} | {c.clients} | {c.rps:,.0f}{flag} "
            f"| {c.rps * c.rows:,.0f} | {fmt_ms(c.p50_ms)} | {fmt_ms(c.p95_ms)} "
            f"| {fmt_ms(c.p99_ms)} | {c.non2xx} / {c.errors} | {cpu:.2f} | {others} |"
        )
    return "\n".join(lines)


def ratios(cells: list[Cell]) -> tuple[str, list[str]]:
    """mlctl over mlflow per cell (same route, rows and clients), and the targets."""
    base = {(c.rows, c.clients): c for c in cells if c.server == "mlflow"}
    lines = [
        "| server | route | rows/req | clients | req/s ÷ mlflow | p99 mlflow → mlctl (ms) |",
        "|---|---|---|---|---|---|",
    ]
    targets = []
    for c in cells:
        ref = base.get((c.rows, c.clients))
        if c.server == "mlflow" or ref is None or not ref.rps:
            continue
        ratio = c.rps / ref.rps
        failed = f" ({c.failed_share:.0%} not 2xx)" if c.failed_share > 0.01 else ""
        lines.append(
            f"| {c.server} | {c.route} | {c.rows} | {c.clients} | **{ratio:.1f}×**{failed} "
            f"| {fmt_ms(ref.p99_ms)} → {fmt_ms(c.p99_ms)} |"
        )
        if c.rows == 1 and c.route == "/invocations" and c.clients in (8, 64):
            ok = "met" if ratio >= 5 else "NOT met"
            targets.append(f"{c.server} {c.clients} clients: {ratio:.1f}× mlflow (≥ 5×: {ok})")
        if c.rows == 1 and c.route == "/invocations" and c.clients == 64:
            ok = "met" if c.p99_ms <= 25 else "NOT met"
            targets.append(f"{c.server} 64 clients: p99 {c.p99_ms:.1f} ms (≤ 25 ms: {ok})")
    return "\n".join(lines), targets


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="models=fast, 3 s per run")
    p.add_argument("--duration", type=float, help="seconds measured per run (default 10)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up per run (default 2)")
    p.add_argument("--clients", default="1,8,64", help="concurrent clients (default 1,8,64)")
    p.add_argument("--rows", default="1,100", help="rows per request (default 1,100)")
    p.add_argument("--workers", default="1,2", help="mlctl worker counts (default 1,2)")
    p.add_argument("--no-predict", action="store_true", help="skip mlctl's /predict route")
    p.add_argument("--models", help="models= group for training (default full; quick: fast)")
    p.add_argument("--workspace", type=Path, help="use this trained workspace (no training)")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--wait-quiet", type=float, default=0, help="wait up to S s for a quiet CPU")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    args = p.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    args.models = args.models or ("fast" if args.quick else "full")
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--_client":
        url, clients, seconds, *rest = sys.argv[2:]
        asyncio.run(_client_main(url, int(clients), float(seconds), rest[0] if rest else None))
        return 0
    args = parse_args(argv)
    kind = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if kind == "wrk" and not shutil.which("wrk"):
        print("wrk is not on PATH (apt-get install wrk), or use --client python", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="mlctl-serve-bench-"))
    started = time.monotonic()
    running: list[Server] = []
    try:
        ws = args.workspace.resolve() if args.workspace else tmp / "ws"
        if not args.workspace:
            print(f"• training recipes/churn.yaml models={args.models} into {ws} …", flush=True)
            train(tmp, ws, args.models)
        rows = telco_rows()
        sizes = [int(x) for x in args.rows.split(",")]
        clients = [int(x) for x in args.clients.split(",")]
        files = write_bodies(tmp, rows, sizes)
        running = servers(tmp, ws, [int(x) for x in args.workers.split(",")])
        for s in running:
            s.start(tmp)
        deadline = time.monotonic() + 240
        for s in running:
            s.wait_ready(deadline)
        agreement = verify(running, rows)
        print(f"• {agreement}", flush=True)
        if args.wait_quiet:
            busy = wait_quiet(args.wait_quiet)
            print(f"• machine busy before the runs: {busy:.0%}" if busy is not None else "")
        mlctl1 = next(s for s in running if s.name.startswith("mlctl"))
        top = max(clients)
        ceil = ceiling(kind, mlctl1, top, max(2.0, args.duration / 2))
        print(
            f"• load generator: {kind}; ceiling {ceil:,.0f} req/s ({top} clients, "
            f"GET /health on {mlctl1.name})",
            flush=True,
        )
        cells: list[Cell] = []
        order = list(running)
        for size in sizes:
            for n in clients:
                for s in order:
                    routes = ["/invocations"]
                    if s.name != "mlflow" and not args.no_predict:
                        routes.append("/predict")
                    for route in routes:
                        cell = run_cell(kind, s, route, size, n, args, files)
                        cells.append(cell)
                        print(
                            f"  {s.name:9s} {route:12s} rows={size:<3d} clients={n:<3d} "
                            f"{cell.rps:8.0f} req/s  p50 {cell.p50_ms:7.1f}  "
                            f"p99 {cell.p99_ms:7.1f} ms  non-2xx {cell.non2xx}  "
                            f"errors {cell.errors}",
                            flush=True,
                        )
                order.reverse()  # spread slow drift of the machine over the servers
        report(args, kind, ceil, agreement, cells, time.monotonic() - started)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "args": {k: str(v) for k, v in vars(args).items()},
                        "client": kind,
                        "ceiling_rps": ceil,
                        "agreement": agreement,
                        "cells": [asdict(c) | {"rps": c.rps} for c in cells],
                    },
                    indent=2,
                )
            )
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for s in running:
            s.stop()
        if args.keep:
            print(f"• kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(args, kind: str, ceil: float, agreement: str, cells: list[Cell], took: float) -> None:
    import mlflow
    import sklearn

    print()
    print(
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}, "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}, "
        f"mlflow {mlflow.__version__}, scikit-learn {sklearn.__version__}"
    )
    print(f"Model: recipes/churn.yaml models={args.models}; {agreement}")
    print(
        f"Load: {kind}, closed loop, {args.warmup:g} s warm-up + {args.duration:g} s "
        f"per run; load generator ceiling {ceil:,.0f} req/s (⚠: over half of it); "
        "req/s counts 2xx answers only, latencies all answers"
    )
    print()
    print(table(cells, ceil))
    print()
    text, targets = ratios(cells)
    print(text)
    print()
    for t in targets:
        print(f"• target: {t}")
    rps = [c.rps for c in cells if c.server == "mlflow"]
    if rps:
        print(f"• mlflow median req/s over its runs: {statistics.median(rps):.0f}")
    print(f"• total time {took:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
