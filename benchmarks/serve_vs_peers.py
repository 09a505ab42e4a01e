"""Online serving: ``mlctl serve`` against BentoML and MLServer on the same model and load.

One churn model is trained and promoted once (``mlctl run recipes/churn.yaml
--promote``) into a temporary workspace, and its registered pipeline (verified and
loaded by mlctl) is exported once with joblib for the peers. Then these servers run
side by side on 127.0.0.1, each on a free port, one worker each:

* mlctl:    ``mlctl serve recipes/churn.yaml --workers 1`` (its own SQLite prediction
            log, committed before each answer; registry polling off), route
            ``/invocations`` (MLflow's ``dataframe_records`` body);
* bentoml:  a BentoML service (``@bentoml.service(workers=1)``) whose batchable API
            ``predict`` calls the same pipeline on a DataFrame, adaptive batching on
            (``max_batch_size`` / ``max_latency_ms`` below, tuned on this machine);
* mlserver: MLServer's scikit-learn runtime (``mlserver_sklearn.SKLearnModel``) on the
            same pipeline, adaptive batching on (``max_batch_size``,
            ``max_batch_time``), V2 inference protocol with the pandas codec.

The peers are installed by this script, each in its own venv under ``--venvs``
(default ``.bench-venvs/`` in the repository, git-ignored), from the package registry,
with the same scikit-learn, pandas and numpy versions as this venv (the pickle must
load identically); the pipeline's own transformers (``mlctl_runtime``, numpy, pandas
and scikit-learn only) are put on their ``PYTHONPATH``. Nothing is installed with
``--quick`` or ``--no-peers``.

Before any load, every server scores the same 400 rows and the benchmark stops
unless all give the same labels.

The load is mlctl's own generator (:mod:`mlctl.loadtest.generator`: keep-alive
HTTP/1.1, pre-encoded requests, an HDR histogram) in a separate process, the same
for every server: C closed-loop clients (1, 8, 64), each sending its next request
when it has the answer, for a bounded time after a short warm-up. Requests hold 1 or
100 rows of the Telco table (64 distinct bodies per size, rotating). The HTTP floor,
``GET /health`` on the same mlctl server, is measured at every client count in the
same run.

Printed per run: ``uptime`` before and after, one table (answered req/s counting 2xx
only, rows/s, p50/p99, non-2xx / 503 shed / socket errors per server and cell), the
ratios of mlctl to the best peer and to the floor, and the issue's goals.

Usage::

    .venv/bin/python benchmarks/serve_vs_peers.py                  # ~6 min + first install
    .venv/bin/python benchmarks/serve_vs_peers.py --quick          # mlctl + floor only, < 60 s
    .venv/bin/python benchmarks/serve_vs_peers.py --workspace WS   # reuse a trained workspace
    .venv/bin/python benchmarks/serve_vs_peers.py --peers mlserver --clients 64 --rows 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from _common import HOST, free_port, http, stop_group, tree_cpu, venv_bin

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "churn.yaml"
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
MODEL = "churn"
ID_COLUMN = "customerID"
TARGET = "Churn"
TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLCTL_TRACKING_URI")
BODIES_PER_SIZE = 64
VERIFY_ROWS = 400
ALL_PEERS = ("bentoml", "mlserver")
# What each peer's venv gets, besides this venv's scikit-learn, pandas and numpy.
PEER_PACKAGES = {
    "bentoml": ["bentoml==1.4.40"],
    # uvloop 0.22 refuses asyncio.get_event_loop() in a new process: MLServer 1.7.1's
    # parallel inference worker dies at start with it
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0"],
}
SHARED = ("scikit-learn", "pandas", "numpy", "scipy", "joblib")

BENTO_SERVICE = """
from typing import Any

import bentoml
import joblib
import pandas as pd

PIPELINE = {pipeline!r}
COLUMNS = {columns!r}


@bentoml.service(workers=1, traffic={{"timeout": 60}})
class Churn:
    def __init__(self) -> None:
        self.pipeline = joblib.load(PIPELINE)

    # A list of row objects, batched by row (BentoML 1.4's DataFrame container reports
    # its batch size as a shape tuple, which breaks the adaptive dispatcher).
    @bentoml.api(batchable=True, max_batch_size={max_batch_size}, max_latency_ms={max_latency_ms})
    def predict(self, records: list[dict[str, Any]]) -> list[str]:
        frame = pd.DataFrame.from_records(records, columns=COLUMNS)
        return self.pipeline.predict(frame).tolist()
"""


class BenchmarkError(Exception):
    """A step failed, or the servers disagree."""


# ----------------------------------------------------------------------- environment


def sub_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TRACKING_ENV}
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def uptime() -> str:
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "uptime: n/a"


# ------------------------------------------------------------------------ peer venvs
def peer_python(venvs: Path, peer: str) -> Path:
    return venvs / peer / "bin" / "python"


def ensure_venv(venvs: Path, peer: str, install: bool) -> Path:
    """The peer's venv, created and installed from the package registry when missing or
    when a pinned package has another version. Returns its python."""
    wanted = PEER_PACKAGES[peer] + [f"{p}=={metadata.version(p)}" for p in SHARED]
    python = peer_python(venvs, peer)
    if python.exists() and satisfied(python, wanted):
        return python
    if not install:
        raise BenchmarkError(f"no {peer} venv at {venvs / peer} and --no-install was given")
    print(f"• installing {peer} into {venvs / peer}: {' '.join(wanted)} …", flush=True)
    venvs.mkdir(parents=True, exist_ok=True)
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venvs / peer)], check=True, timeout=300)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0 or not satisfied(python, wanted):
        raise BenchmarkError(f"installing {peer} failed:\n{proc.stderr[-3000:]}")
    return python


def satisfied(python: Path, wanted: list[str]) -> bool:
    """Every ``name==version`` of ``wanted`` is what ``python`` has installed."""
    pins = dict(w.split("==", 1) for w in wanted)
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: out[name] = None\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run(
        [str(python), "-c", code, json.dumps(list(pins))],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return json.loads(proc.stdout) == pins
    except ValueError:
        return False


def package_version(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


# --------------------------------------------------------------------------- servers
@dataclass
class Server:
    """One server under test, started in its own session (stopped as a process group)."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    ready_path: str
    route: str
    log: Path
    cwd: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        out = open(self.log, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                tail = self.log.read_text()[-3000:]
                raise BenchmarkError(f"{self.name} exited before it was ready:\n{tail}")
            with contextlib.suppress(OSError):
                if http(self.url + self.ready_path, timeout=2)[0] == 200:
                    return
            time.sleep(0.5)
        raise BenchmarkError(f"{self.name} not ready in time; see {self.log}")

    def stop(self) -> None:
        stop_group(self.proc)


def mlctl_server(tmp: Path, ws: Path) -> Server:
    port = free_port()
    cmd = [str(venv_bin() / "mlctl"), "serve", str(RECIPE), "--workspace", str(ws)]
    cmd += ["--port", str(port), "--workers", "1"]
    cmd += [f"deploy.serve.log.url=sqlite:///{tmp / 'predictions.db'}"]
    cmd += ["deploy.serve.poll_seconds=0"]  # no registry polls during the load
    return Server("mlctl", cmd, sub_env(), port, "/ready", "/invocations", tmp / "mlctl.log", tmp)


def runtime_path(tmp: Path) -> Path:
    """A folder holding only ``mlctl_runtime`` (the pipeline's own transformers)."""
    path = tmp / "runtime"
    if not path.exists():
        shutil.copytree(REPO / "mlctl_runtime", path / "mlctl_runtime")
    return path


def bentoml_server(tmp: Path, python: Path, pipeline: Path, columns: list[str], args) -> Server:
    folder = tmp / "bento"
    folder.mkdir(exist_ok=True)
    (folder / "service.py").write_text(
        BENTO_SERVICE.format(
            pipeline=str(pipeline),
            columns=columns,
            max_batch_size=args.bento_max_batch_size,
            max_latency_ms=args.bento_max_latency_ms,
        )
    )
    port = free_port()
    cmd = [str(python.parent / "bentoml"), "serve", "service:Churn", "--host", HOST]
    cmd += ["--port", str(port)]
    env = sub_env(
        {
            "PYTHONPATH": str(runtime_path(tmp)),
            "BENTOML_HOME": str(tmp / "bentoml-home"),
            "BENTOML_DO_NOT_TRACK": "True",
            "OMP_NUM_THREADS": "1",
        }
    )
    return Server("bentoml", cmd, env, port, "/readyz", "/predict", tmp / "bentoml.log", folder)


def mlserver_server(tmp: Path, python: Path, pipeline: Path, columns: list[str], args) -> Server:
    folder = tmp / "mlserver"
    (folder / MODEL).mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {
        "host": HOST,
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": args.mlserver_parallel_workers,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(pipeline)},
        "max_batch_size": args.mlserver_max_batch_size,
        "max_batch_time": args.mlserver_max_batch_time_ms / 1000.0,
    }
    (folder / MODEL / "model-settings.json").write_text(json.dumps(model_settings))
    cmd = [str(python.parent / "mlserver"), "start", str(folder)]
    env = sub_env({"PYTHONPATH": str(runtime_path(tmp)), "OMP_NUM_THREADS": "1"})
    ready = f"/v2/models/{MODEL}/ready"
    route = f"/v2/models/{MODEL}/infer"
    return Server("mlserver", cmd, env, port, ready, route, tmp / "mlserver.log", folder)


# ---------------------------------------------------------------------- model, data
def train(tmp: Path, ws: Path, models: str) -> None:
    cmd = [str(venv_bin() / "mlctl"), "run", str(RECIPE), f"models={models}", "--promote"]
    cmd += ["--yes", "--workspace", str(ws), "--quiet"]
    proc = subprocess.run(
        cmd, cwd=tmp, env=sub_env(), capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"mlctl run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def export_pipeline(ws: Path, out: Path) -> list[str]:
    """The champion's verified pipeline as a joblib file; returns its input columns."""
    import joblib

    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import resolve_workspace

    loaded = Registry(resolve_workspace(ws)).load_reference(f"{MODEL}@champion")
    joblib.dump(loaded.pipeline, out)
    return [str(c) for c in loaded.pipeline.feature_names_in_]


def telco_rows(columns: list[str]) -> list[dict[str, Any]]:
    """Telco rows as JSON objects with the model's columns: numbers as numbers (the 11
    rows with a blank ``TotalCharges`` are left out: MLServer's codec wants one type)."""
    import pandas as pd

    frame = pd.read_csv(TELCO, dtype={ID_COLUMN: str}).drop(columns=[TARGET])
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    frame = frame.dropna(subset=["TotalCharges"]).reset_index(drop=True)
    return json.loads(frame[columns].to_json(orient="records"))


def body(server: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    if server == "mlctl":
        return {"dataframe_records": rows}
    if server == "bentoml":
        return {"records": rows}
    inputs = []
    for name in rows[0]:
        values = [r[name] for r in rows]
        text = any(isinstance(v, str) for v in values)
        inputs.append(
            {
                "name": name,
                "shape": [len(values)],
                "datatype": "BYTES" if text else "FP64",
                "data": values if text else [float(v) for v in values],
            }
        )
    return {"parameters": {"content_type": "pd"}, "inputs": inputs}


def labels(server: Server, rows: list[dict[str, Any]]) -> list[Any]:
    """The labels of ``rows``, asked 100 at a time (BentoML waits forever for a request
    larger than its ``max_batch_size``)."""
    if len(rows) > 100:
        return [v for k in range(0, len(rows), 100) for v in labels(server, rows[k : k + 100])]
    status, doc = http(server.url + server.route, body(server.name, rows))
    if status != 200:
        raise BenchmarkError(f"{server.name} {server.route} answered {status}: {str(doc)[:500]}")
    if server.name == "mlctl":
        return doc["predictions"]
    if server.name == "bentoml":
        return doc
    return doc["outputs"][0]["data"]


def verify(servers: list[Server], rows: list[dict[str, Any]]) -> str:
    sample = rows[:VERIFY_ROWS]
    reference = labels(servers[0], sample)
    for server in servers[1:]:
        got = labels(server, sample)
        if got != reference:
            bad = sum(a != b for a, b in zip(got, reference, strict=False))
            raise BenchmarkError(f"{server.name} disagrees with {servers[0].name} on {bad} rows")
    share = sum(1 for v in reference if v == "Yes") / len(reference)
    return f"all servers give the same labels on {len(sample)} rows ({share:.1%} 'Yes')"


def write_bodies(tmp: Path, server: str, rows: list[dict[str, Any]], size: int) -> Path:
    path = tmp / f"bodies-{server}-{size}.jsonl"
    with path.open("w") as f:
        for k in range(BODIES_PER_SIZE):
            start = (k * size * 7) % (len(rows) - size)
            f.write(json.dumps(body(server, rows[start : start + size])) + "\n")
    return path


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
    shed: int = 0  # 503 answers
    errors: int = 0  # no answer (reset, timeout...)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_cpu: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        """Answered requests per second, 2xx only (a 503 is cheap)."""
        return (self.requests - self.non2xx) / self.seconds if self.seconds else 0.0


def drive(server: Server, path: str, bodies: Path | None, clients: int, seconds: float) -> dict:
    cmd = [sys.executable, __file__, "--_client", server.url, path, str(clients), str(seconds)]
    cmd += [str(bodies)] if bodies is not None else []
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + 90, check=False, env=sub_env()
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("MLCTL_BENCH ")), None)
    if line is None:
        raise BenchmarkError(f"no summary from the load generator: {proc.stderr[-2000:]}")
    return json.loads(line.split(" ", 1)[1])


def run_cell(server: Server, path: str, bodies: Path | None, rows: int, clients: int, args):
    if args.warmup > 0:
        drive(server, path, bodies, clients, args.warmup)  # warm-up, not counted
    cpu0 = tree_cpu(server.proc.pid)
    s = drive(server, path, bodies, clients, args.duration)
    cell = Cell(server.name if bodies is not None else "floor", path, rows, clients)
    cell.requests, cell.seconds = s["answered"], s["elapsed"]
    cell.non2xx, cell.shed, cell.errors = s["non2xx"], s["shed"], s["errors"]
    cell.p50_ms, cell.p99_ms = s["p50_ms"] or 0.0, s["p99_ms"] or 0.0
    cell.server_cpu = tree_cpu(server.proc.pid) - cpu0
    return cell


def client_main(url: str, path: str, clients: int, seconds: float, bodies: str | None) -> None:
    """The load generator process: mlctl's own closed-loop clients."""
    from mlctl.loadtest.generator import Plan, percentiles, run
    from mlctl.loadtest.http import Target, encode_post

    target = Target.parse(url)
    if bodies:
        lines = [x.encode() for x in Path(bodies).read_text().splitlines() if x]
        requests = [encode_post(target, path, b, {}) for b in lines]
    else:
        requests = [f"GET {path} HTTP/1.1\r\nHost: {target.host_header()}\r\n\r\n".encode()]
    plan = Plan(requests, 1, seconds, clients=clients, timeout=30.0)
    m = run(plan, target)
    p = percentiles(m)
    summary = {
        "answered": m.answered,
        "elapsed": m.elapsed,
        "non2xx": sum(n for status, n in m.statuses.items() if not 200 <= status < 300),
        "shed": m.statuses.get(503, 0),
        "errors": sum(m.failures.values()),
        "p50_ms": p["p50_ms"],
        "p99_ms": p["p99_ms"],
        "cpu": m.cpu_seconds,
    }
    print("MLCTL_BENCH " + json.dumps(summary), flush=True)


# ------------------------------------------------------------------------- report
def fmt_ms(v: float) -> str:
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def table(cells: list[Cell]) -> str:
    head = (
        "| server | rows/req | clients | req/s (2xx) | rows/s | p50 ms | p99 ms "
        "| non-2xx / 503 shed / errors | server CPU ms/req |"
    )
    lines = [head, "|" + "---|" * 9]
    for c in cells:
        cpu = c.server_cpu / c.requests * 1000 if c.requests else float("nan")
        lines.append(
            f"| {c.server} | {c.rows if c.server != 'floor' else '-'} | {c.clients} "
            f"| {c.rps:,.0f} | {c.rps * c.rows:,.0f} | {fmt_ms(c.p50_ms)} | {fmt_ms(c.p99_ms)} "
            f"| {c.non2xx} / {c.shed} / {c.errors} | {cpu:.2f} |"
        )
    return "\n".join(lines)


def ratios(cells: list[Cell]) -> tuple[str, list[str]]:
    floor = {c.clients: c for c in cells if c.server == "floor"}
    lines = [
        "| rows/req | clients | mlctl req/s | best peer | mlctl ÷ best peer | mlctl ÷ floor |",
        "|---|---|---|---|---|---|",
    ]
    goals = []
    for c in cells:
        if c.server != "mlctl":
            continue
        peers = [
            p for p in cells if p.server in ALL_PEERS and (p.rows, p.clients) == (c.rows, c.clients)
        ]
        best = max(peers, key=lambda p: p.rps, default=None)
        vs_peer = c.rps / best.rps if best is not None and best.rps else None
        f = floor.get(c.clients)
        vs_floor = c.rps / f.rps if f is not None and f.rps else None
        lines.append(
            f"| {c.rows} | {c.clients} | {c.rps:,.0f} "
            f"| {f'{best.server} {best.rps:,.0f}' if best else 'n/a'} "
            f"| {f'**{vs_peer:.1f}×**' if vs_peer else 'n/a'} "
            f"| {f'{vs_floor:.0%}' if vs_floor else 'n/a'} |"
        )
        if c.rows == 1 and c.clients == 64:
            if vs_peer is not None:
                ok = "met" if vs_peer >= 2 else "NOT met"
                goals.append(
                    f"single-row req/s at 64 clients: {vs_peer:.2f}× the best peer (≥ 2×: {ok})"
                )
            if vs_floor is not None:
                ok = "met" if vs_floor >= 0.5 else "NOT met"
                goals.append(
                    f"single-row req/s at 64 clients: {vs_floor:.0%} of the floor (≥ 50 %: {ok})"
                )
            ok = "met" if c.p99_ms <= 25 else "NOT met"
            goals.append(f"single-row p99 at 64 clients: {c.p99_ms:.1f} ms (≤ 25 ms: {ok})")
        if c.rows == 100 and c.clients == 64:
            ok = "met" if c.shed == 0 else "NOT met"
            goals.append(f"100-row requests at 64 clients: {c.shed} answered 503 (none: {ok})")
    return "\n".join(lines), goals


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="mlctl + floor only, models=fast, 2 s runs")
    p.add_argument("--peers", help=f"comma-separated of {','.join(ALL_PEERS)} (default: all)")
    p.add_argument("--no-peers", action="store_true", help="mlctl and the floor only")
    p.add_argument("--no-install", action="store_true", help="fail rather than install a peer")
    p.add_argument("--venvs", type=Path, default=REPO / ".bench-venvs", help="peers' venvs")
    p.add_argument("--duration", type=float, help="seconds measured per run (default 8)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up per run (default 2)")
    p.add_argument("--clients", default="1,8,64", help="concurrent clients (default 1,8,64)")
    p.add_argument("--rows", default="1,100", help="rows per request (default 1,100)")
    p.add_argument("--models", help="models= group for training (default fast)")
    p.add_argument("--workspace", type=Path, help="use this trained workspace (no training)")
    p.add_argument("--bento-max-batch-size", type=int, default=1024, help="rows (default 1024)")
    p.add_argument("--bento-max-latency-ms", type=int, default=1000, help="default 1000")
    p.add_argument("--mlserver-max-batch-size", type=int, default=64, help="requests (64)")
    p.add_argument("--mlserver-max-batch-time-ms", type=float, default=5.0, help="default 5")
    p.add_argument("--mlserver-parallel-workers", type=int, default=1)
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    args = p.parse_args(argv)
    if args.quick:
        args.no_peers = True
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    args.models = args.models or "fast"
    if args.no_peers:
        args.peer_list = []
    else:
        args.peer_list = [x for x in (args.peers or ",".join(ALL_PEERS)).split(",") if x]
        unknown = set(args.peer_list) - set(ALL_PEERS)
        if unknown:
            p.error(f"unknown peer(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--_client":
        url, path, clients, seconds, *rest = sys.argv[2:]
        client_main(url, path, int(clients), float(seconds), rest[0] if rest else None)
        return 0
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="mlctl-peers-bench-"))
    started = time.monotonic()
    running: list[Server] = []
    try:
        pythons = {
            peer: ensure_venv(args.venvs, peer, not args.no_install) for peer in args.peer_list
        }
        ws = args.workspace.resolve() if args.workspace else tmp / "ws"
        if not args.workspace:
            print(f"• training recipes/churn.yaml models={args.models} into {ws} …", flush=True)
            train(tmp, ws, args.models)
        pipeline = tmp / "pipeline.joblib"
        columns = export_pipeline(ws, pipeline)
        rows = telco_rows(columns)
        sizes = [int(x) for x in args.rows.split(",")]
        clients = [int(x) for x in args.clients.split(",")]
        running = [mlctl_server(tmp, ws)]
        makers = {"bentoml": bentoml_server, "mlserver": mlserver_server}
        for peer in args.peer_list:
            running.append(makers[peer](tmp, pythons[peer], pipeline, columns, args))
        for s in running:
            s.start()
        deadline = time.monotonic() + 300
        for s in running:
            s.wait_ready(deadline)
        agreement = verify(running, rows)
        print(f"• {agreement}", flush=True)
        before = uptime()
        print(f"• {before}", flush=True)
        files = {(s.name, n): write_bodies(tmp, s.name, rows, n) for s in running for n in sizes}
        mlctl = running[0]
        cells: list[Cell] = []
        order = list(running)
        for n in clients:
            cell = run_cell(mlctl, "/health", None, 0, n, args)
            cells.append(cell)
            _progress(cell)
            for size in sizes:
                for s in order:
                    cell = run_cell(s, s.route, files[(s.name, size)], size, n, args)
                    cells.append(cell)
                    _progress(cell)
                order.reverse()  # spread slow drift of the machine over the servers
        after = uptime()
        versions = {peer: package_version(py, peer) for peer, py in pythons.items()}
        report(args, agreement, cells, before, after, versions, time.monotonic() - started)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "args": {k: str(v) for k, v in vars(args).items()},
                        "uptime": [before, after],
                        "agreement": agreement,
                        "versions": versions,
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


def _progress(c: Cell) -> None:
    print(
        f"  {c.server:9s} rows={c.rows:<3d} clients={c.clients:<3d} {c.rps:8,.0f} req/s  "
        f"p50 {c.p50_ms:7.1f}  p99 {c.p99_ms:7.1f} ms  non-2xx {c.non2xx} (503: {c.shed})  "
        f"errors {c.errors}",
        flush=True,
    )


def report(args, agreement, cells, before, after, versions, took) -> None:
    import sklearn

    print()
    print(
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.platform()}, "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}, scikit-learn "
        f"{sklearn.__version__}; " + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    print(f"Model: recipes/churn.yaml models={args.models}; {agreement}")
    print(
        f"Load: mlctl.loadtest's generator, closed loop, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s per run; req/s counts 2xx answers, latencies all answers"
    )
    if "bentoml" in versions:
        print(
            f"BentoML: max_batch_size {args.bento_max_batch_size}, max_latency_ms "
            f"{args.bento_max_latency_ms}, workers 1"
        )
    if "mlserver" in versions:
        print(
            f"MLServer: max_batch_size {args.mlserver_max_batch_size}, max_batch_time "
            f"{args.mlserver_max_batch_time_ms:g} ms, parallel_workers "
            f"{args.mlserver_parallel_workers}"
        )
    print(f"uptime before: {before}")
    print(f"uptime after:  {after}")
    print()
    print(table(cells))
    print()
    text, goals = ratios(cells)
    print(text)
    print()
    for g in goals:
        print(f"• goal: {g}")
    print(f"• total time {took:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
