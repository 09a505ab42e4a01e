"""Broken recipes through the real ``mlctl`` CLI.

Every ``*.yaml`` file in ``tests/fixtures/broken_recipes/`` is one case. Its leading
comment lines say what to run and what the user must see::

    # free text describing the case
    # command: run                  (default: validate)
    # args: modls=fast              (extra CLI arguments, shell-quoted)
    # env: KEY=VALUE                (repeatable; MLCTL_/MLFLOW_ tracking URIs are unset otherwise)
    # recipe: no_such_recipe.yaml   (pass this path instead of the fixture itself)
    # expect-exit: 4
    # expect: a substring of stderr (repeatable; stdout too when the exit code is 0)
    # expect-not: a substring that must not appear (repeatable)
    # absent: pwned                 (a path, relative to the cwd, that must not exist afterwards)

Each case runs ``mlctl <command> <recipe> <args>`` as its own process in its own empty
temporary folder (so any workspace lands there). A fresh ``python -m mlctl`` pays
~1.5-2.5 s of imports before it reads the recipe, so most cases are processes forked
from one helper that imported mlctl once (``cli_forks.py``: same CLI entry, exit
code, file descriptors, environment and folder per case). The cases in
:data:`SUBPROCESS_CASES` run on a fresh ``python -m mlctl`` too, and
``test_forked_cli_answers_like_a_fresh_interpreter`` checks that both answer the same.
Cases run concurrently (one process per CPU); results are computed once per module,
only for the cases selected (``-k`` works as usual).

Checks per case (all failed checks of a case are reported together): the exit
code; every expected substring (on whitespace-normalized output, and unbroken on
one line); no traceback and no "unexpected error"; a short error (the ``error:``
line at most 300 characters, not counting this checkout's folders; stderr short);
nothing on stdout when it fails; and, for ``run``, no MLflow run started and
nothing left in a workspace tracking DB (no RUNNING run, no registered model).
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_forks import Job, run_forked

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "broken_recipes"
CASE_FILES = sorted(FIXTURES.glob("*.yaml"))

MAX_ERROR_LINE = 300  # characters in the "error: ..." line
MAX_STDERR_CHARS = 3000
MAX_STDERR_LINES = 30
TIMEOUT_S = 120
# Cases that also run on a fresh interpreter: a valid recipe, a missing file, a bad
# recipe for ``run`` and a run that reaches for an unreachable tracking server.
SUBPROCESS_CASES = (
    "control_valid",
    "missing_recipe_file",
    "run_bad_recipe",
    "tracking_unreachable",
)
FORKED = "@forked"  # suffix of the forked twin of a SUBPROCESS_CASES result
# Variables that would change what a case sees; a case may set them with "# env:".
SCRUBBED_ENV = (
    "MLCTL_TRACKING_URI",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLCTL_TRACEBACK",
    "NOPE_NOT_SET",
    "MLCTL_TRUSTED_PREFIXES",
    "MLCTL_MAX_DATA_BYTES",
    "COLUMNS",
    "LINES",
    "FORCE_COLOR",
    "CLICOLOR_FORCE",
)

_DIRECTIVE = re.compile(
    r"^#\s*(command|args|env|recipe|expect-exit|expect|expect-not|absent):\s?(.*)$"
)


@dataclass(frozen=True)
class Case:
    name: str
    file: Path
    recipe: Path
    command: str = "validate"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    expect_exit: int | None = None
    expect: tuple[str, ...] = ()
    expect_not: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


@dataclass
class Result:
    case: Case
    cwd: Path
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # failures of the harness itself


def parse_case(path: Path) -> Case:
    """Read the leading comment block of a fixture file."""
    values: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        m = _DIRECTIVE.match(line.rstrip())
        if m:
            values.setdefault(m.group(1), []).append(m.group(2).rstrip())

    def one(key: str, default: str | None = None) -> str | None:
        got = values.get(key, [])
        if len(got) > 1:
            raise ValueError(f"{path.name}: '# {key}:' given {len(got)} times")
        return got[0] if got else default

    env = []
    for item in values.get("env", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: '# env: {item}' is not KEY=VALUE")
        env.append((key.strip(), value))
    exit_text = one("expect-exit")
    recipe = one("recipe")
    return Case(
        name=path.stem,
        file=path,
        recipe=(path.parent / recipe) if recipe else path,
        command=one("command", "validate"),
        args=tuple(shlex.split(one("args", "") or "")),
        env=tuple(env),
        expect_exit=int(exit_text) if exit_text is not None else None,
        expect=tuple(values.get("expect", [])),
        expect_not=tuple(values.get("expect-not", [])),
        absent=tuple(values.get("absent", [])),
    )


CASES = {p.stem: parse_case(p) for p in CASE_FILES}


def case_env(case: Case) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(dict(case.env))
    return env


def run_case(case: Case, cwd: Path) -> Result:
    """Run the real CLI for one case in ``cwd`` on a fresh interpreter."""
    env = case_env(case)
    cmd = [sys.executable, "-m", "mlctl", case.command, str(case.recipe), *case.args]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        err = exc.stderr or ""
        return Result(
            case,
            cwd,
            None,
            out if isinstance(out, str) else out.decode("utf-8", "replace"),
            err if isinstance(err, str) else err.decode("utf-8", "replace"),
            TIMEOUT_S,
            [f"timed out after {TIMEOUT_S} s: {shlex.join(cmd)}"],
        )
    elapsed = time.perf_counter() - started
    return Result(case, cwd, proc.returncode, proc.stdout, proc.stderr, elapsed)


def run_forked_cases(names: list[str], dirs: dict[str, Path], scratch: Path) -> dict:
    """Run cases as children of one pre-imported helper (:mod:`cli_forks`)."""
    jobs = []
    for name in names:
        case = CASES[name.removesuffix(FORKED)]
        argv = [case.command, str(case.recipe), *case.args]
        jobs.append(Job(name, argv, dirs[name], case_env(case), TIMEOUT_S))
    workers = max(2, os.cpu_count() or 2)
    results = {}
    for name, got in run_forked(jobs, workers, scratch).items():
        case = CASES[name.removesuffix(FORKED)]
        problems = [] if got.returncode is not None else [f"timed out after {TIMEOUT_S} s"]
        results[name] = Result(
            case, dirs[name], got.returncode, got.stdout, got.stderr, got.seconds, problems
        )
    return results


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Results of every selected case, run concurrently once per module: the cases of
    :data:`SUBPROCESS_CASES` on a fresh interpreter and forked, the others forked."""
    wanted = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec and "case" in callspec.params:
            name = callspec.params["case"]
            if name not in wanted:
                wanted.append(name)
    fresh = [name for name in wanted if name in SUBPROCESS_CASES]
    forked = [name for name in wanted if name not in SUBPROCESS_CASES]
    forked += [name + FORKED for name in fresh]
    dirs = {
        name: tmp_path_factory.mktemp(name.replace(FORKED, "_forked"), numbered=True)
        for name in fresh + forked
    }
    scratch = tmp_path_factory.mktemp("forks")
    with ThreadPoolExecutor(max_workers=1 + len(fresh)) as pool:
        many = pool.submit(run_forked_cases, forked, dirs, scratch)
        futures = {name: pool.submit(run_case, CASES[name], dirs[name]) for name in fresh}
        done = {name: f.result() for name, f in futures.items()}
        done.update(many.result())
    return done


def _normalize(text: str) -> str:
    return " ".join(text.split())


def _error_line(stderr: str) -> str | None:
    for line in stderr.splitlines():
        if line.startswith(("error:", "unexpected error:")):
            return line
    return None


def _leftovers(cwd: Path) -> list[str]:
    """What a failed ``run`` left in the workspace tracking DB (if it made one)."""
    db = cwd / ".mlctl" / "mlflow.db"
    if not db.exists():
        return []
    problems = []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            running = con.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'").fetchall()
            models = con.execute("SELECT name FROM registered_models").fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return [f"workspace DB {db} is unreadable or incomplete: {exc}"]
    if running:
        problems.append(f"runs left RUNNING in {db}: {[r[0] for r in running]}")
    if models:
        problems.append(f"models registered in {db}: {[m[0] for m in models]}")
    return problems


def check(result: Result) -> list[str]:
    """Every way the CLI's answer to a case falls short; empty when it is right."""
    case = result.case
    problems = list(result.problems)
    out, err = result.stdout, result.stderr
    failed = case.expect_exit != 0
    if "Traceback" in out or "Traceback" in err:
        problems.append("a traceback was printed")
    if "unexpected error" in err:
        problems.append("the error is not an mlctl error (printed as 'unexpected error')")
    if result.returncode != case.expect_exit:
        problems.append(f"exit code {result.returncode}, expected {case.expect_exit}")
    haystack = err if failed else out + "\n" + err
    flat = _normalize(haystack)
    for text in case.expect:
        if _normalize(text) not in flat:
            problems.append(f"missing from the output: {text!r}")
        elif text not in haystack:
            problems.append(f"{text!r} is broken over several lines (output wrapped?)")
    for text in case.expect_not:
        if _normalize(text) in _normalize(out + "\n" + err):
            problems.append(f"should not appear in the output: {text!r}")
    if failed:
        line = _error_line(err)
        if line is None:
            problems.append("no line starting with 'error:' on stderr")
        else:
            # Measure without the folders of this checkout and of the tmp cwd, so the
            # limit does not depend on where the repository lives.
            short = line
            for folder in (FIXTURES, FIXTURES.parent, result.cwd):
                short = short.replace(f"{folder}/", "")
            if len(short) > MAX_ERROR_LINE:
                problems.append(
                    f"the error line is {len(short)} characters without its folders "
                    f"(limit {MAX_ERROR_LINE})"
                )
        if len(err) > MAX_STDERR_CHARS or len(err.splitlines()) > MAX_STDERR_LINES:
            problems.append(
                f"stderr is too long: {len(err)} characters, {len(err.splitlines())} lines"
            )
        if "error:" in out:
            problems.append("the error was printed on stdout, not stderr")
    for rel in case.absent:
        if (result.cwd / rel).exists():
            problems.append(f"{rel} exists in the working folder: something ran or was left")
    if case.command == "run":
        if failed and "MLflow run " in err:
            problems.append("an MLflow run was started before the error (must fail before it)")
        problems += _leftovers(result.cwd)
    return problems


def _describe(result: Result, problems: list[str]) -> str:
    case = result.case
    cmd = shlex.join(["mlctl", case.command, str(case.recipe), *case.args])
    env = " ".join(f"{k}={v}" for k, v in case.env)
    lines = [f"case {case.name}: {cmd}" + (f"  (env {env})" if env else "")]
    lines += [f"  - {p}" for p in problems]
    lines.append(
        f"--- exit {result.returncode} after {result.seconds:.1f} s; stderr:\n{result.stderr.rstrip()}"
    )
    if result.stdout.strip():
        lines.append(f"--- stdout:\n{result.stdout.rstrip()}")
    return "\n".join(lines)


def test_fixture_headers_are_complete() -> None:
    assert len(CASES) >= 30, f"only {len(CASES)} fixture files found in {FIXTURES}"
    bad = [
        name
        for name, c in CASES.items()
        if c.expect_exit is None or not c.expect or c.command not in ("validate", "run")
    ]
    assert not bad, f"fixtures without '# expect-exit:' / '# expect:' or with a bad command: {bad}"
    # An expectation the recipe's own path satisfies would pass whatever the message says.
    vacuous = [
        f"{name}: {text!r}"
        for name, c in CASES.items()
        for text in c.expect
        if text in str(c.recipe) and ".yaml" not in text
    ]
    assert not vacuous, f"expectations found in the recipe path itself: {vacuous}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_recipe(case: str, results: dict[str, Result]) -> None:
    result = results[case]
    problems = check(result)
    assert not problems, _describe(result, problems)


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_forked_cli_answers_like_a_fresh_interpreter(case: str, results) -> None:
    """The harness itself: a forked case prints and exits as ``python -m mlctl`` does."""
    fresh, forked = results[case], results[case + FORKED]

    def seen(result: Result) -> tuple:
        def text(s: str) -> str:  # without this case's folder and the progress clock
            return re.sub(r"(?m)^\d\d:\d\d:\d\d ", "<time> ", s.replace(str(result.cwd), "<cwd>"))

        return result.returncode, text(result.stdout), text(result.stderr)

    assert seen(forked) == seen(fresh)
