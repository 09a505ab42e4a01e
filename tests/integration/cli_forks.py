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

The helper refuses to fork if importing left a thread running (forking a threaded
process is unsafe) and fails if the imports printed anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def _serve(jobs: list[dict], workers: int) -> dict[str, dict]:
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
    print(json.dumps(_serve(json.loads(Path(sys.argv[1]).read_text()), int(sys.argv[2]))))
