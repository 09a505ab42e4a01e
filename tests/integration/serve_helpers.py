"""Starting and talking to a real ``mlctl serve`` on 127.0.0.1 (shared by serve tests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_forks import run_mlctl

# Small, quick training for the serve tests: one logreg, no importance, the lenient gate.
# tuning.n_jobs=1: on a few hundred rows, starting joblib's worker processes costs more
# than it saves (a run: 8.3 s wall / 8.9 s CPU against 10.3 s / 12.5 s with -1), and the
# suite's two workers already keep both cores busy. test_run.py keeps the default.
FAST = [
    "models=fast",
    "evaluation.importance_repeats=0",
    "evaluation.shap=off",  # SHAP is tested where it is the subject,
    "readiness=lenient",
    "tuning.n_jobs=1",
]

ROW = {
    "customerID": "7590-VHVEG",
    "gender": "Female",
    "SeniorCitizen": 0,
    "Partner": "Yes",
    "Dependents": "No",
    "tenure": 1,
    "PhoneService": "No",
    "MultipleLines": "No phone service",
    "InternetService": "DSL",
    "OnlineSecurity": "No",
    "OnlineBackup": "Yes",
    "DeviceProtection": "No",
    "TechSupport": "No",
    "StreamingTV": "No",
    "StreamingMovies": "No",
    "Contract": "Month-to-month",
    "PaperlessBilling": "Yes",
    "PaymentMethod": "Electronic check",
    "MonthlyCharges": 29.85,
    "TotalCharges": 29.85,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_without_tracking(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    env.update(extra or {})
    return env


def mlctl(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """``python -m mlctl *args``, forked from this worker's pre-imported helper
    (``cli_forks.run_mlctl``: the real CLI in its own process, without the ~2 s of
    imports); :func:`fresh_mlctl` starts a new interpreter."""
    return run_mlctl(cwd, *args, env=env_without_tracking(env), timeout=timeout)


def fresh_mlctl(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """``python -m mlctl *args`` on a new interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "mlctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env_without_tracking(env),
    )


MOVE_ALIAS = (
    "import sys, mlflow\n"
    "client = mlflow.MlflowClient('sqlite:///.mlctl/mlflow.db')\n"
    "client.set_registered_model_alias(sys.argv[1], 'champion', sys.argv[2])\n"
)


def move_champion(cwd: Path, version: int, name: str = "churn") -> None:
    """Point ``@champion`` at ``version`` as any MLflow client can, without mlctl's
    ``models promote`` (which refuses a version whose files changed): the server must
    guard itself against what reaches the registry by other ways."""
    res = subprocess.run(
        [sys.executable, "-c", MOVE_ALIAS, name, str(version)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env_without_tracking(),
    )
    assert res.returncode == 0, res.stderr


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", content_type)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return Reply(res.status, {k.lower(): v for k, v in res.headers.items()}, res.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


class Server:
    """``mlctl serve`` in a subprocess; stopped with SIGTERM (or SIGKILL) by the test.

    Its console is read while it runs, as a terminal or a container's log driver reads
    it (the access log writes a line per request; a pipe nobody reads fills after ~64 KB
    and the server then drops lines): ``read_console=False`` leaves it unread."""

    def __init__(
        self,
        cwd: Path,
        *args: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        read_console: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlctl", "serve", *args, "--port", str(self.port)],
            cwd=cwd,
            env=env_without_tracking(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._console: list[list[str]] = []
        self._readers: list[threading.Thread] = []
        if read_console:
            for stream in (self.proc.stdout, self.proc.stderr):
                lines: list[str] = []
                reader = threading.Thread(target=_read_lines, args=(stream, lines), daemon=True)
                reader.start()
                self._console.append(lines)
                self._readers.append(reader)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                if call(self.url + "/ready", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready after {timeout} s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode

    def output(self) -> str:
        if self.proc.poll() is None:
            return ""
        if self._readers:
            for reader in self._readers:
                reader.join(5)
            return "".join("".join(lines) for lines in self._console)
        out, err = self.proc.communicate(timeout=5)
        return (out or "") + (err or "")

    def post(self, path: str, body: Any, **kw: Any) -> Reply:
        return call(self.url + path, "POST", body, **kw)

    def get(self, path: str, **kw: Any) -> Reply:
        return call(self.url + path, **kw)


def _read_lines(stream: Any, sink: list[str]) -> None:
    for line in iter(stream.readline, ""):
        sink.append(line)


# ------------------------------------------------------------ services and helpers
# Where the services are (the same on developers' machines and in CI by default).
PG_ADMIN = os.environ.get("MLCTL_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
REDIS = os.environ.get("MLCTL_TEST_REDIS", "redis://127.0.0.1:6379")  # no /db: tests pick one


def require(service: str, probe: Callable[[], object]) -> None:
    """Skip when a service is missing on a developer's machine; fail in CI."""
    try:
        probe()
    except Exception as exc:
        message = f"{service} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the service must be there)")
        pytest.skip(message)


def pg_url(schema: str) -> str:
    """A log URL whose tables live in ``schema`` (libpq ``options`` sets search_path);
    the application name lets a test find the server's connections."""
    sep = "&" if "?" in PG_ADMIN else "?"
    return f"{PG_ADMIN}{sep}options=-csearch_path%3D{schema}&application_name={schema}"


def wait_all_ready(srv: Server, workers: int) -> None:
    """/ready answers for whichever worker accepts the connection: with several
    workers, wait for a run of 200s so that all of them have loaded the model."""
    srv.wait_ready()
    run, deadline = 0, time.monotonic() + 90
    while run < 10 * workers and time.monotonic() < deadline:
        run = run + 1 if call(srv.url + "/ready", timeout=5).status == 200 else 0
        time.sleep(0.01 if run else 0.2)


# A second registered version of the same model files (no second training: ~8 s saved),
# made champion; run with ``python -c`` in a project folder.
SECOND_VERSION = (
    "import mlflow\n"
    "mlflow.set_tracking_uri('sqlite:///.mlctl/mlflow.db')\n"
    "client = mlflow.MlflowClient('sqlite:///.mlctl/mlflow.db')\n"
    "v = client.get_model_version('churn', '1')\n"
    "client.create_model_version('churn', v.source, run_id=v.run_id, tags=v.tags,\n"
    "                            model_id=getattr(v, 'model_id', None))\n"
    "client.set_registered_model_alias('churn', 'champion', '2')\n"
)


def version_tags(root: Path, version: int | str) -> dict[str, str]:
    """The tags of a registered churn version in the project's workspace."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root}/.mlctl/mlflow.db")
    return dict(client.get_model_version("churn", str(version)).tags)
