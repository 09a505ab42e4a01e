"""Many runs of the real ``mlctl`` CLI for the price of one interpreter start.

``python -m mlctl`` spends ~1.5-2.5 s importing libraries before it reads a recipe; a
test module with dozens of short CLI cases pays that for each. :func:`run_forked`
starts ONE helper process (this file as a script) that imports mlctl and the
libraries its commands use, then forks one child per job. Each child is still its own
process running the real CLI exactly as ``python -m mlctl`` does (``runpy`` on
``mlctl.__main__``): its own working folder, environment (replaced whole), stdin from
/dev/null, stdout and stderr on real file descriptors, its exit code or the signal that
ended it, a traceback printed by Python's own hook, atexit handlers and non-daemon
threads run at exit. What differs from a fresh interpreter: modules are imported before
the job's environment is set (so a variable read at *import* time sees the helper's
environment) and before the job's working folder is entered. Tests that use this keep
a few cases on a true ``python -m mlctl`` too.

The job's ``PYTHONPATH`` entries are put on ``sys.path`` after the working folder, as
the interpreter does at start (imports made before that, from :data:`PRELOAD`, are not
redone).

:class:`ForkServer` is the same helper kept running for one test module's sequential
calls: each :meth:`ForkServer.run` forks one child and waits for it, so a test reads
like one ``subprocess.run`` of ``python -m mlctl`` and pays no import.

The helper refuses to fork if importing left a thread running (forking a threaded
process is unsafe) and fails if the imports printed anything.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# What the commands import lazily (mlctl.cli.main keeps ``mlctl --help`` fast); a module
# not listed is simply imported by the child that needs it.
PRELOAD = (
    "mlctl.cli.main",
    "mlctl.train.checks",
    "mlctl.data.prepare",
    "mlctl.runner",
    "mlctl.redact",
    "hydra",
    "hydra.core.override_parser.overrides_parser",
    "hydra.core.global_hydra",
    "omegaconf",
    "rich.console",
    "rich.table",
)


@dataclass
class Job:
    name: str
    argv: list[str]  # after "python -m mlctl"
    cwd: Path
    env: dict[str, str]
    timeout: float


@dataclass
class Outcome:
    returncode: int | None  # None: killed at the timeout; negative: ended by that signal
    stdout: str
    stderr: str
    seconds: float


def run_forked(jobs: list[Job], workers: int, scratch: Path) -> dict[str, Outcome]:
    """Run every job as a child of one pre-imported helper, ``workers`` at a time."""
    scratch.mkdir(parents=True, exist_ok=True)
    spec = []
    for i, job in enumerate(jobs):
        spec.append(
            {
                "name": job.name,
                "argv": job.argv,
                "cwd": str(job.cwd),
                "env": job.env,
                "timeout": job.timeout,
                "stdout": str(scratch / f"{i}.out"),
                "stderr": str(scratch / f"{i}.err"),
            }
        )
    (scratch / "jobs.json").write_text(json.dumps(spec))
    budget = 120 + sum(j.timeout for j in jobs) / max(1, workers)
    helper = subprocess.run(
        [sys.executable, __file__, str(scratch / "jobs.json"), str(workers)],
        cwd=scratch,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=budget,
        check=False,
    )
    assert helper.returncode == 0 and not helper.stderr, (
        f"the CLI fork helper failed (exit {helper.returncode}):\n{helper.stderr}"
    )
    done = json.loads(helper.stdout)
    outcomes = {}
    for item in spec:
        status = done[item["name"]]

        def read(path: str) -> str:
            return Path(path).read_bytes().decode("utf-8", "replace")

        outcomes[item["name"]] = Outcome(
            status["returncode"], read(item["stdout"]), read(item["stderr"]), status["seconds"]
        )
    return outcomes


class ForkServer:
    """One pre-imported helper (``cli_forks.py --serve``) that forks a child per call.

    ``run`` is ``python -m mlctl *argv`` in ``cwd`` with ``env`` (replaced whole), stdin
    from /dev/null, and answers a :class:`subprocess.CompletedProcess` (returncode None:
    killed at the timeout). Calls from several threads take turns; :meth:`close` ends
    the helper."""

    def __init__(self, scratch: Path) -> None:
        scratch.mkdir(parents=True, exist_ok=True)
        self.scratch = scratch
        self.calls = 0
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            cwd=scratch,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(scratch / "helper.err").open("w"),
            text=True,
        )

    def run(
        self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
    ) -> subprocess.CompletedProcess:
        with self.lock:
            return self._run(argv, cwd, env, timeout)

    def _run(
        self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess:
        self.calls += 1
        out, err = self.scratch / f"{self.calls}.out", self.scratch / f"{self.calls}.err"
        job = {
            "name": str(self.calls),
            "argv": list(argv),
            "cwd": str(cwd),
            "env": dict(env),
            "timeout": timeout,
            "stdout": str(out),
            "stderr": str(err),
        }
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        problem = (self.scratch / "helper.err").read_text()
        assert line and not problem, f"the CLI fork server failed:\n{problem}"
        status = json.loads(line)

        def read(path: Path) -> str:
            text = path.read_bytes().decode("utf-8", "replace")
            path.unlink()
            return text

        return subprocess.CompletedProcess(
            ["mlctl", *argv], status["returncode"], read(out), read(err)
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_SHARED: list[ForkServer] = []
_SHARED_LOCK = threading.Lock()


def shared_server() -> ForkServer:
    """This process's :class:`ForkServer` (one per xdist worker), started on first use
    and closed at exit."""
    with _SHARED_LOCK:
        if not _SHARED or _SHARED[0].proc.poll() is not None:
            scratch = Path(tempfile.mkdtemp(prefix="mlctl-forks-"))
            _SHARED[:] = [ForkServer(scratch)]
            atexit.register(_SHARED[0].close)
            atexit.register(shutil.rmtree, scratch, True)
        return _SHARED[0]


def run_mlctl(
    cwd: Path, *args: str, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    """``subprocess.run([python, -m, mlctl, *args], cwd, env, timeout, capture_output,
    text)`` forked from :func:`shared_server` (a timeout raises ``TimeoutExpired``)."""
    res = shared_server().run(list(args), cwd, env, timeout)
    if res.returncode is None:
        raise subprocess.TimeoutExpired(res.args, timeout, res.stdout, res.stderr)
    return res


# ----------------------------------------------------------------------- the helper


def _child(job: dict) -> None:
    """In the forked child: become ``python -m mlctl <argv>`` and never return."""
    import atexit
    import runpy
    import threading

    code = 1
    try:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(path, flags, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        sys.path[0] = os.getcwd()  # as "python -m" puts the working folder first
        extra = [p for p in job["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[1:1] = [os.path.abspath(p) for p in extra]  # as the interpreter does
        sys.argv = ["mlctl", *job["argv"]]
        try:
            runpy.run_module("mlctl", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:  # what the interpreter does with it
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        threading._shutdown()  # the interpreter's exit: wait for non-daemon threads
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                code = 120  # as the interpreter exits when it cannot flush stdout
    finally:
        os._exit(code & 0xFF)


def _preload() -> None:
    import importlib
    import threading
    import warnings

    with warnings.catch_warnings():
        # As mlctl.cli.main.main() sets them before its commands import these libraries.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        for name in PRELOAD:
            importlib.import_module(name)
    if threading.active_count() != 1:
        raise RuntimeError(f"imports left threads running: {threading.enumerate()}")
    sys.stdout.flush()
    sys.stderr.flush()


def _serve_lines() -> None:
    """:class:`ForkServer`'s helper: one job per line on stdin, its status on stdout."""
    _preload()
    for line in sys.stdin:
        job = json.loads(line)
        print(json.dumps(_serve([job], 1)[job["name"]]), flush=True)


def _serve(jobs: list[dict], workers: int) -> dict[str, dict]:
    pending = list(jobs)
    running: dict[int, tuple[dict, float]] = {}
    results: dict[str, dict] = {}
    while pending or running:
        while pending and len(running) < workers:
            job = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                _child(job)
            running[pid] = (job, time.perf_counter())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.perf_counter()
            for child, (job, started) in list(running.items()):
                if now - started > job["timeout"]:
                    os.kill(child, 9)
                    os.waitpid(child, 0)
                    del running[child]
                    results[job["name"]] = {"returncode": None, "seconds": now - started}
            time.sleep(0.01)
            continue
        job, started = running.pop(pid)
        results[job["name"]] = {
            "returncode": os.waitstatus_to_exitcode(status),
            "seconds": time.perf_counter() - started,
        }
    return results


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve_lines()
    else:
        _preload()
        print(json.dumps(_serve(json.loads(Path(sys.argv[1]).read_text()), int(sys.argv[2]))))
