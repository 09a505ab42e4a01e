"""The service under load: one given by ``--url``, or one started like ``mlctl serve``.

A started service is ``mlctl serve RECIPE`` itself in a child process (its own
session, so a terminal's Ctrl-C reaches only ``loadtest``, which then stops it; on
Linux it also dies with ``loadtest``) on 127.0.0.1 and a free port. Its prediction log
is a temporary SQLite file beside the workspace's (removed after), so load-test rows
never reach the log that ``mlctl monitor`` judges; a PostgreSQL log is kept as the
recipe says (the measurement then includes it, and a warning says so).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.errors import ExitCode, LoadtestCannotRun, MlctlError
from mlctl.loadtest.http import Target

READY_TIMEOUT = 180.0  # loading a model (downloads, SHA-256, smoke batch) on a busy machine


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def message(self) -> str:
        doc = self.json()
        if isinstance(doc, dict):
            text = doc.get("message") or doc.get("error") or doc.get("detail")
            if text:
                return str(text)
        return self.body[:300].decode("utf-8", "replace").strip() or f"HTTP {self.status}"


def request(
    target: Target,
    method: str,
    route: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One request with the standard library (set-up and checks, not the load).

    Raises:
        LoadtestCannotRun: no connection or no answer (naming the URL and why).
    """
    cls = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    conn = cls(target.host, target.port, timeout=timeout)
    sent = {"Content-Type": "application/json"} if body is not None else {}
    sent.update(headers or {})
    try:
        conn.request(method, target.prefix + route, body=body, headers=sent)
        res = conn.getresponse()
        return Reply(res.status, res.read())
    except (OSError, http.client.HTTPException) as exc:
        why = (
            exc.strerror
            if isinstance(exc, OSError) and exc.strerror
            else str(exc) or type(exc).__name__
        )
        raise LoadtestCannotRun(
            f"cannot reach the service at {target.base}{route}: {why}",
            hint="start it (mlctl serve RECIPE), check --url, or leave --url out to let "
            "loadtest start one",
        ) from None
    finally:
        conn.close()


def wait_ready(target: Target, timeout: float, alive: Any = None) -> dict[str, Any]:
    """``GET /ready`` until it answers 200; its details. ``alive`` (a callable) stops the
    wait early when it raises (a started server that exited)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if alive is not None:
            alive()
        try:
            reply = request(target, "GET", "/ready", timeout=5.0)
            if reply.status == 200:
                return reply.json() or {}
            last = f"/ready answered {reply.status}: {_ready_reason(reply)}"
        except LoadtestCannotRun as exc:
            last = exc.message
            if alive is None:  # a service that should be up already
                raise
        if time.monotonic() > deadline:
            waited = f" after {timeout:.0f} s" if timeout else ""
            raise LoadtestCannotRun(
                f"the service at {target.base} is not ready{waited}: {last}",
                hint="GET /ready says why (model loading or refused, log not writable)",
            )
        time.sleep(0.2)


def _ready_reason(reply: Reply) -> str:
    doc = reply.json()
    if isinstance(doc, dict):
        for key in ("last_load_error", "message"):
            if doc.get(key):
                return str(doc[key])
        if doc.get("loading"):
            return "the model is loading"
        if doc.get("draining"):
            return "the service is draining"
    return reply.message()


def served_model(target: Target) -> dict[str, Any]:
    """``GET /model``: the served name, version and input columns."""
    reply = request(target, "GET", "/model")
    doc = reply.json()
    if reply.status != 200 or not isinstance(doc, dict) or "version" not in doc:
        raise LoadtestCannotRun(
            f"GET {target.base}/model answered {reply.status}: {reply.message()}; "
            "is it an mlctl serve service?"
        )
    return doc


def input_example(target: Target) -> dict[str, Any] | None:
    """The served model's input example row, from its OpenAPI document."""
    with contextlib.suppress(LoadtestCannotRun):
        doc = request(target, "GET", "/schema/openapi.json").json() or {}
        post = (doc.get("paths") or {}).get("/predict", {}).get("post") or {}
        content = (post.get("requestBody") or {}).get("content") or {}
        records = ((content.get("application/json") or {}).get("example") or {}).get("records")
        if records and isinstance(records[0], dict):
            return records[0]
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """``mlctl serve`` for the recipe in a child process; a context manager."""

    recipe: Path
    overrides: list[str]
    workspace: str | None
    log_folder: Path | None  # a temporary SQLite log goes here (None: the recipe's log)
    drain_seconds: float = 10.0
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _tmp: Path | None = None
    _errors: Any = None
    warnings: list[str] = field(default_factory=list)

    @property
    def target(self) -> Target:
        return Target("http", "127.0.0.1", self.port, "")

    def __enter__(self) -> LocalServer:
        self.port = free_port()
        args = [str(self.recipe), *self.overrides]
        if self.log_folder is not None:
            self._tmp = Path(tempfile.mkdtemp(prefix=".loadtest-", dir=self.log_folder))
            args.append(f"deploy.serve.log.url='sqlite:///{self._tmp / 'loadtest-log.db'}'")
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--quiet"]
        if self.workspace:
            args += ["--workspace", self.workspace]
        self._errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlctl", "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
            start_new_session=True,  # a terminal's Ctrl-C is for loadtest, which stops it
            preexec_fn=_die_with_parent(),
        )
        try:
            wait_ready(self.target, READY_TIMEOUT, alive=self._alive)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _alive(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is None:
            return
        assert self._errors is not None
        self._errors.seek(0)
        text = self._errors.read().decode("utf-8", "replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        said = next((ln for ln in lines if ln.startswith("error:")), lines[-1] if lines else "")
        hint = next((ln for ln in lines if ln.startswith("hint:")), None)
        error = LoadtestCannotRun(
            f"the service could not start (mlctl serve exited {code}): "
            f"{said.removeprefix('error:').strip() or 'no message'}",
            hint=hint.removeprefix("hint:").strip() if hint else None,
        )
        if code in {int(c) for c in ExitCode} and code not in (0, 1):
            error.exit_code = ExitCode(code)  # the same code mlctl serve gives
        raise error

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(self.drain_seconds + 15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self._errors is not None:
            self.warnings.extend(server_errors(self._errors))
            self._errors.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def server_errors(console: Any, limit: int = 3) -> list[str]:
    """Warnings for the errors the started service logged during the test (its console
    is a temporary file that goes with it): how many, and the first few lines."""
    console.seek(0)
    lines = console.read().decode("utf-8", "replace").splitlines()
    errors = [ln.strip() for ln in lines if " ERROR " in ln or " CRITICAL " in ln]
    if not errors:
        return []
    shown = "; ".join(ln[:300] for ln in errors[:limit])
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return [f"the service logged {len(errors)} error line(s) during the test: {shown}{more}"]


def _die_with_parent() -> Any:
    """Linux: a function for the child, run between fork and exec, that asks for SIGTERM
    when loadtest dies (even by SIGKILL); None elsewhere. Resolved here, in the parent:
    the child of a process with threads (the progress spinner) must not import."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_death_signal


__all__ = ["LocalServer", "MlctlError", "Reply", "request", "served_model", "wait_ready"]
