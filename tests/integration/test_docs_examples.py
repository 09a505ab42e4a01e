"""Every shell example of README.md and docs/*.md is run by a test, and its shown output
is compared where output is shown.

An example is a line starting with ``$ `` in a ```bash, ```console or ```text block
whose first line starts with ``$ `` (a line ending in ``\\`` continues on the next; a
trailing ``  # comment`` is not part of the command). The lines after it, up to the
next ``$ ``, are its shown output.

Each example is either

- run here (:data:`HERE`), in order, in one temporary copy of the project (conf/,
  recipes/, the full Telco table), where a fast churn model is trained by the README's
  own ``mlctl run`` commands: the exit code is checked, and the shown lines are
  compared after normalising what changes from run to run (run ids, times, numbers,
  folders; see :func:`normalise`); or
- run by another test, named in :data:`ELSEWHERE` (file and test function, both checked
  to exist), with a note when that test runs a variant; or
- not runnable on a test machine (:data:`NOT_RUNNABLE`: docker and kubectl only), with
  the reason.

:func:`test_every_example_is_run_somewhere` fails when a documented command is in none
of them, or when a mapping names a command the docs no longer show.

Commands that train (``mlctl run``) get fast overrides (:data:`FAST`), and then only
the structure of their output is compared (the lines listed in their spec), never the
leaderboard's rows. ``mlctl serve`` runs for real on a free port and the ``curl``
examples run in bash against it; 1,500 predictions and 800 labels go through it before
the README's ``mlctl monitor`` example, as in the README. A documented value this
workspace cannot have is swapped and said so (:attr:`Here.variant`: ``churn/3`` is
served as ``churn/1``; the feedback example labels a row id the server really gave).
About 60 s of the ~90 s are the two trainings (MLflow creates its database in the first).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = "data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MLCTL = str(Path(sys.executable).parent / "mlctl")
# A logistic regression without a search, no permutation importance, one process.
FAST = ["models=fast", "tuning=none", "tuning.n_jobs=1", "evaluation.importance_repeats=0"]
# deploy writes an image that installs mlctl: outside an mlctl checkout, from this pin
# (as tests/integration/test_deploy.py does)
REQ = "--mlctl-requirement=mlctl==0.1.0"


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Example:
    doc: str  # "README.md", "docs/serving.md"
    line: int
    command: str
    shown: tuple[str, ...]


def examples() -> list[Example]:
    out: list[Example] = []
    fence = re.compile(r"^ *```(bash|console|text)\n(.*?)^ *```", re.S | re.M)
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(REPO))
        for m in fence.finditer(text):
            body = m.group(2)
            if not body.startswith("$ "):
                continue
            first = text[: m.start(2)].count("\n") + 1
            lines = body.splitlines()
            i = 0
            while i < len(lines):
                if not lines[i].startswith("$ "):
                    i += 1
                    continue
                start, command = i, lines[i][2:]
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1].rstrip() + " " + lines[i].strip()
                command = re.split(r"\s{2,}# ", command)[0].strip()
                shown = []
                i += 1
                while i < len(lines) and not lines[i].startswith("$ "):
                    shown.append(lines[i])
                    i += 1
                out.append(Example(name, first + start, command, tuple(shown)))
    return out


EXAMPLES = examples()


# --------------------------------------------------------------------------- comparison

_BOX = re.compile(r"[│╭╮╰╯─━┃]+")
_DIR = re.compile(r"(?<![\w:])(?:sqlite:/+|file:/+)?[^\s'\"(]*/(?=[^\s/])")


def normalise(line: str) -> str:
    """A line without what changes between runs and machines: box drawing, folders
    (``…/x/report.html`` → ``report.html``), run ids, times, decimals and numbers of
    3 digits or more, spacing."""
    out = re.sub(r"^\d\d:\d\d:\d\d ", "", line)  # the time of a progress line (no TTY)
    out = _BOX.sub(" ", out)
    out = re.sub(r"\b[0-9a-f]{32}\b", "RUNID", out)
    out = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?", "TIME", out)
    out = _DIR.sub("", out)
    out = out.replace("…", " … ")
    # decimals and counts vary with the data and the run; small integers (versions,
    # column counts, exit codes) are compared as they are
    out = re.sub(r"-?\d+\.\d+(e-?\d+)?|\d{1,3}(,\d{3})+|\d{3,}", "N", out)
    return " ".join(out.split())


def compare(shown: list[str], printed: str) -> list[str]:
    """The shown lines missing from the printed output, both normalised. The output is
    searched as one text (lines joined by a space), so a line the terminal or the docs
    wrapped at another width still matches; a leading or trailing ``…`` is dropped."""
    text = " " + " ".join(normalise(line) for line in printed.splitlines()) + " "
    missing = []
    for line in shown:
        want = normalise(line).strip("… ").strip()
        if want and f" {want}" not in text and f"{want} " not in text:
            missing.append(line)
    return missing


# --------------------------------------------------------------------------- run here


@dataclass
class Here:
    """How one documented command runs here."""

    exit: tuple[int, ...] = (0,)
    extra: list[str] = field(default_factory=list)  # fast overrides appended
    keep: tuple[str, ...] | None = None  # compare only shown lines containing one of these
    expect: tuple[str, ...] = ()  # printed text checked when the docs show no output
    # "cli": in-process (click's runner); "process": the real console script (trainings);
    # "serve": a real `mlctl serve` on a free port, kept running for the commands after
    # it; "shell": bash, with localhost:8000 pointing at that server; "status": `echo $?`
    how: str = "cli"
    variant: dict[str, str] = field(default_factory=dict)  # documented -> what runs here
    json: bool = False  # the shown output is JSON: compare keys and stable values
    wait: bool = True  # serve: wait until ready before the next command
    setup: Callable[[Path, dict[str, Any]], None] | None = None


def _batch(root: Path, state: dict[str, Any]) -> None:
    frame = pd.read_csv(root / TELCO).iloc[5000:6500]
    frame.to_parquet(root / "batch-2026-11.parquet", index=False)


def _events(root: Path, state: dict[str, Any]) -> None:
    frame = pd.read_csv(root / TELCO).iloc[5000:6500].drop(columns=["Churn"])
    now = pd.Timestamp.now(tz="UTC").floor("s")
    frame["event_time"] = [now - pd.Timedelta(minutes=5 * i) for i in range(len(frame))]
    frame.to_csv(root / "events.csv", index=False)


def _traffic(root: Path, state: dict[str, Any]) -> None:
    """What the README's monitor example saw: 1,500 predictions through the server the
    docs started, 800 of them labelled through POST /feedback."""
    server = state["server"]
    frame = pd.read_csv(root / TELCO, dtype=str, keep_default_na=False).iloc[2000:3500]
    truth = frame.pop("Churn").tolist()
    for col in ("SeniorCitizen", "tenure"):
        frame[col] = frame[col].astype(int)
    frame["MonthlyCharges"] = frame["MonthlyCharges"].astype(float)
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    ids: list[str] = []
    for i in range(0, len(records), 300):
        reply = server.post("/predict", {"records": records[i : i + 300]})
        assert reply.status == 200, reply.body
        ids += [row["request_id"] for row in reply.json["predictions"]]
    labels = [{"request_id": r, "label": y} for r, y in zip(ids[:800], truth[:800], strict=True)]
    reply = server.post("/feedback", {"feedback": labels})
    assert reply.status == 200 and reply.json["accepted"] == 800, reply.body


_RUN_KEYS = ("• data:", "• MLflow run", "Leaderboard (roc_auc)", "Test metrics of the winner",
             "accuracy   precision", "Readiness gate: READY", "no champion yet",
             "✓ registered", "report:", "run:")  # fmt: skip

PREDICT_CURL = (
    "curl -s -X POST localhost:8000/predict -H 'content-type: application/json' -d "
    '\'{"records": [{"customerID": "x-1", "gender": "Female", "SeniorCitizen": 0, '
    '"Partner": "Yes", "Dependents": "No", "tenure": 1, "PhoneService": "No", '
    '"MultipleLines": "No phone service", "InternetService": "DSL", "OnlineSecurity": '
    '"No", "OnlineBackup": "Yes", "DeviceProtection": "No", "TechSupport": "No", '
    '"StreamingTV": "No", "StreamingMovies": "No", "Contract": "Month-to-month", '
    '"PaperlessBilling": "Yes", "PaymentMethod": "Electronic check", "MonthlyCharges": '
    '29.85, "TotalCharges": 29.85}]}\''
)
FEEDBACK_CURL = (
    "curl -s localhost:8000/feedback -H 'Content-Type: application/json' -d "
    '\'{"request_id": "35be0753916e425ba85106088e2c19e1-0", "label": "No"}\''
)

# In the order they run: init, validate and show before training; the two README
# trainings; then the registry, scoring, monitoring, deploy and the error examples.
HERE: dict[str, Here] = {
    f"mlctl init {TELCO} --target churn": Here(exit=(4,)),
    f"mlctl init {TELCO} --target customerID": Here(exit=(4,)),
    f"mlctl init {TELCO} --target Churn --name telco": Here(),
    "mlctl validate recipes/telco.yaml": Here(),
    "mlctl validate recipes/churn.yaml": Here(),
    "mlctl show recipes/churn.yaml models=fast split.seed=7": Here(),
    "mlctl run recipes/churn.yaml --promote --yes": Here(extra=FAST, keep=_RUN_KEYS, how="process"),
    "mlctl run recipes/churn.yaml models=fast split.seed=7 --quiet": Here(
        extra=FAST[1:], keep=("not worse than champion", "✓ registered"), how="process"
    ),
    "mlctl models list churn": Here(),
    "mlctl models promote churn 2 --yes": Here(),
    'mlctl models rollback churn --yes --reason "canary error rate"': Here(),
    f"mlctl predict recipes/churn.yaml --input {TELCO} --output scored.parquet": Here(),
    "mlctl serve --model churn/3": Here(how="serve", variant={"churn/3": "churn/1"}, wait=False),
    "mlctl serve recipes/churn.yaml": Here(how="serve"),
    PREDICT_CURL: Here(how="shell", json=True),
    FEEDBACK_CURL: Here(
        how="shell", json=True, variant={"35be0753916e425ba85106088e2c19e1-0": "{request_id}"}
    ),
    "mlctl monitor recipes/churn.yaml --window 1h --report reports/churn.html": Here(
        setup=_traffic
    ),
    "mlctl monitor recipes/churn.yaml": Here(expect=("Monitoring: healthy", "1,501 rows")),
    "mlctl monitor recipes/churn.yaml --window 7d --report reports/churn.html": Here(
        expect=("Monitoring: healthy",)
    ),
    "mlctl monitor recipes/churn.yaml --json > result.json": Here(),
    "echo $?": Here(how="status", expect=("0",)),
    "mlctl monitor recipes/churn.yaml --current batch-2026-11.parquet --label-column Churn": Here(
        exit=(0, 3), setup=_batch, expect=("Monitoring: ", "labelled predictions")
    ),
    "mlctl monitor recipes/churn.yaml --current events.csv --timestamp-column event_time "
    "--window 7d": Here(setup=_events, expect=("Monitoring: healthy", "1,500 rows")),
    "mlctl deploy recipes/churn.yaml --target k8s --out deploy/k8s/": Here(),
    "mlctl deploy recipes/churn.yaml --target github-actions": Here(extra=[REQ]),
    "check-jsonschema --builtin-schema vendor.github-workflows "
    ".github/workflows/mlctl-churn.yml": Here(how="process", expect=("validation done",)),
    # docs/sweeps.md says which exit 4 (the recipe) and which 2 (a hydra/... option).
    "mlctl run recipes/churn.yaml -m split.seed=1,two,3": Here(exit=(4,)),
    "mlctl run recipes/churn.yaml -m split.sed=1,2": Here(exit=(4,)),
    "mlctl run recipes/churn.yaml -m models=fast,fastt": Here(exit=(4,)),
    "mlctl run recipes/churn.yaml -m hydra/launcher=jobllib split.seed=1,2": Here(exit=(2,)),
    "mlctl run recipes/churn.yaml -m hydra/sweeper=optuna hydra.sweeper.direction=minimize "
    "split.seed=1,2": Here(exit=(2,)),
}

SERVING_DOCS = "tests/integration/test_serving_docs.py::test_documented_example"
MONITOR = "tests/integration/test_monitor.py"
README_ERRORS = (
    "tests/integration/test_readme_errors.py::test_the_readme_error_examples_print_what_is_shown"
)
# command -> (test that runs it, what that test runs when it is not the command as shown)
ELSEWHERE: dict[str, tuple[str, str]] = {
    "mlctl run recipes/churn.yaml 'evaluation.segments=[Contract,gender]'": (
        "tests/integration/test_insights_run.py::test_a_run_with_segments_reports_every_insight",
        "fast models on the first 1,500 Telco rows; the report folder's insights.json read",
    ),
    "mlctl feedback recipes/churn.yaml --labels labels.csv --id-column request_id "
    "--label-column Churn": (
        "tests/integration/test_compare.py::test_split_traffic_labels_from_a_file_then_a_verdict",
        "300 real rows through a split server, their labels from a CSV, then compared",
    ),
    "mlctl compare recipes/churn.yaml --window 7d": (
        "tests/integration/test_compare.py::"
        "test_shadow_traffic_labels_over_http_then_a_paired_comparison",
        "two small churn versions in shadow; --window 1h and --json",
    ),
    "mlctl validate recipes/churn.yaml features.numeric=[tenure,MonthlyCharge]": (
        README_ERRORS,
        "",
    ),
    "mlctl run recipes/churn.yaml models.candidates.logreg.search.Cc=[1,2]": (README_ERRORS, ""),
    "MLFLOW_TRACKING_URI=sqlite:///.mlctl/mlflow.db mlflow models serve -m "
    "models:/churn@champion --env-manager local": (
        "tests/integration/test_model_portable.py::test_mlflow_models_serve_without_mlctl",
        "a workspace without mlctl installed, on a free port",
    ),
    "mlctl run recipes/churn.yaml -m hydra/launcher=joblib models=fast,full split.seed=1,2,3": (
        "tests/integration/test_sweep.py::"
        "test_joblib_sweep_ranks_six_jobs_and_registers_the_best_passing_one",
        "a 2 x 3 joblib sweep on a small slice, fast models; the table compared structurally",
    ),
    "mlctl import-recipe old_project/recipe.yaml --profile local": (
        "tests/integration/test_import_recipe.py::test_the_report_lists_mapped_and_unmapped_items",
        "a converted MLflow Recipes fixture project",
    ),
    "mlctl deploy recipes/churn.yaml --target docker --no-bake": (
        "tests/integration/test_deploy.py::test_the_docs_examples_run",
        "",
    ),
    "mlctl deploy recipes/churn.yaml --target docker": (
        "tests/integration/test_deploy.py::test_the_docs_examples_run",
        "",
    ),
    "mlctl deploy recipes/churn.yaml --target k8s --registry ghcr.io/acme": (
        "tests/integration/test_deploy.py::test_the_docs_examples_run",
        "",
    ),
    "mlctl deploy recipes/churn.yaml --target k8s --model churn@challenger": (
        "tests/integration/test_deploy.py::test_the_docs_examples_run",
        "",
    ),
    "mlctl loadtest recipes/churn.yaml --duration 10": (
        "tests/integration/test_loadtest.py::"
        "test_it_starts_the_service_passes_the_slo_and_records_it_on_the_version",
        "variant: --duration 2 --clients 2 --json; the document's fields are checked",
    ),
    "curl -s localhost:8000/ready": (
        SERVING_DOCS,
        "serving.md's /ready example against mlctl serve, not the compose deployment",
    ),
    "mlctl serve recipes/churn.yaml deploy.serve.poll_seconds=5 --port 9000 --workers 2": (
        "tests/integration/test_serve_backends.py::"
        "test_workers_share_connections_and_a_dead_worker_is_replaced",
        "variant: --workers 2 on a free port; poll_seconds is overridden in test_serve.py's "
        "hot-swap test",
    ),
    "mlctl serve --model churn@challenger --port 8001": (
        "tests/integration/test_serve.py::test_unknown_model_reference_fails_fast",
        "only --model NAME@ALIAS's refusal of an unknown alias; a challenger is not served "
        "by any test (here the README's rollback leaves no challenger alias)",
    ),
    "mlctl monitor recipes/churn.yaml --window 24h --end 2025-11-27T00:00:00Z --json > day.json": (
        f"{MONITOR}::test_closed_window_twice_gives_the_same_document",
        "another --end, on the test's log",
    ),
    "mlctl rollout recipes/churn.yaml --watch --every 30": (
        "tests/integration/test_rollout.py::test_the_whole_loop_on_the_churn_model",
        "variant: --every 1 --json, min_requests=15 and min_minutes=0 under generated traffic",
    ),
    "mlctl rollout recipes/churn.yaml --approve": (
        "tests/integration/test_rollout.py::test_the_whole_loop_on_the_churn_model",
        "with --json and the test's min_requests/min_minutes overrides",
    ),
    "mlctl run recipes/telco.yaml --promote --yes": (
        "tests/integration/test_quickstart.py::test_every_command_succeeds",
        "on a 500-row slice; the shown leaderboard is not compared",
    ),
    "mlctl serve recipes/telco.yaml": (
        "tests/integration/test_quickstart.py::test_telco_walk_predicts_over_http",
        "on a free port",
    ),
}

# Programs that need a container runtime or a cluster, which test machines do not have.
NOT_RUNNABLE: dict[str, str] = {
    "docker compose -f deploy/compose.yaml up -d --build": "needs docker",
    "docker compose -f deploy/compose.yaml logs monitor": "needs docker",
    "docker compose -f deploy/compose.yaml config --quiet": (
        "needs docker; test_deploy checks the file against the compose spec's schema"
    ),
    "kubectl apply --dry-run=server -k deploy/k8s": (
        "needs a cluster; test_deploy checks the objects against Kubernetes' schemas"
    ),
}


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLCTL_", "MLFLOW_"))}
    return {**env, "COLUMNS": "120", "NO_COLOR": "1", "HOME": str(root)}


def _in_process(root: Path, words: list[str]) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from mlctl.cli.main import cli

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for key in list(os.environ):
            if key.startswith(("MLCTL_", "MLFLOW_")):
                mp.delenv(key)
        mp.setenv("COLUMNS", "120")
        result = CliRunner().invoke(cli, words, catch_exceptions=True)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _stop(state: dict[str, Any], out: dict[str, tuple[int, str]]) -> None:
    """Stop the servers; each command's result is what its server printed."""
    for command, server in state.pop("servers", {}).items():
        code = server.stop()
        out[command] = (0 if code in (0, -15) else code, server.output())


def _run(root: Path, command: str, spec: Here, state: dict[str, Any],
         out: dict[str, tuple[int, str]]) -> None:  # fmt: skip
    for documented, here in spec.variant.items():
        command = command.replace(documented, here.format(**state))
    if spec.how == "status":
        return out.__setitem__(command, (0, str(state["last_exit"])))
    if spec.how == "shell":
        line = command.replace("localhost:8000", f"127.0.0.1:{state['server'].port}")
        done = subprocess.run(["bash", "-c", line], cwd=root, env=_env(root),
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        return out.__setitem__(command, (done.returncode, done.stdout + done.stderr))
    command, _, redirect = command.partition(" > ")
    words = shlex.split(command) + spec.extra
    if spec.how == "serve":
        from serve_helpers import Server

        args = words[2:]
        if "--port" in args:
            i = args.index("--port")
            del args[i : i + 2]
        servers = state.setdefault("servers", {})
        servers[command] = state["server"] = Server(root, *args)
        if spec.wait:  # servers started together load their models at the same time
            for server in servers.values():
                server.wait_ready(120)
        return None
    if spec.how == "process":
        exe = MLCTL if words[0] == "mlctl" else str(Path(sys.executable).parent / words[0])
        done = subprocess.run([exe, *words[1:]], cwd=root, env=_env(root), capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    else:
        assert words[0] == "mlctl"
        code, stdout, stderr = _in_process(root, words[1:])
    if redirect:
        (root / redirect.strip()).write_text(stdout)
        stdout = ""
    state["last_exit"] = code
    out[command + (f" > {redirect}" if redirect else "")] = (code, stdout + stderr)
    return None


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """Every command of :data:`HERE`, in order, in one project copy."""
    root = tmp_path_factory.mktemp("docs")
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copytree(REPO / "recipes", root / "recipes")
    (root / "data" / "telco").mkdir(parents=True)
    shutil.copy(REPO / TELCO, root / TELCO)
    out: dict[str, tuple[int, str]] = {}
    state: dict[str, Any] = {}
    try:
        for command, spec in HERE.items():
            if spec.setup:
                spec.setup(root, state)
            _run(root, command, spec, state, out)
            if command == PREDICT_CURL:  # the row id the feedback example labels
                state["request_id"] = json.loads(out[command][1])["predictions"][0]["request_id"]
    finally:
        _stop(state, out)
    out["root"] = (0, str(root))
    return out


# --------------------------------------------------------------------------- tests


def test_the_docs_have_examples() -> None:
    docs = {e.doc for e in EXAMPLES}
    assert {"README.md", "docs/quickstart.md", "docs/monitoring.md", "docs/sweeps.md"} <= docs
    assert len(EXAMPLES) >= 50


def test_every_example_is_run_somewhere() -> None:
    commands = {e.command for e in EXAMPLES}
    places = (set(HERE), set(ELSEWHERE), set(NOT_RUNNABLE))
    nowhere = [f"{e.doc}:{e.line}: {e.command}" for e in EXAMPLES
               if not any(e.command in p for p in places)]  # fmt: skip
    assert nowhere == [], "documented commands that no test runs:\n" + "\n".join(nowhere)
    stale = sorted(set().union(*places) - commands)
    assert stale == [], f"mapped commands the docs no longer show: {stale}"
    assert not (set(HERE) & set(ELSEWHERE)) and not (set(HERE) & set(NOT_RUNNABLE))
    assert all(c.split()[0] in ("docker", "kubectl") for c in NOT_RUNNABLE)


@pytest.mark.parametrize("command", sorted(ELSEWHERE))
def test_the_mapped_test_exists(command: str) -> None:
    node, _ = ELSEWHERE[command]
    path, _, name = node.partition("::")
    source = (REPO / path).read_text(encoding="utf-8")
    assert not name or re.search(rf"^def {re.escape(name)}\(", source, re.M), node


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if e.command in HERE],
    ids=lambda e: f"{e.doc}:{e.line}",
)
def test_example_runs_as_shown(ran: dict[str, Any], example: Example) -> None:
    spec = HERE[example.command]
    where = f"{example.doc}:{example.line}"
    ran_as = example.command
    for documented, here in spec.variant.items():
        if "{" not in here:
            ran_as = ran_as.replace(documented, here)
    code, printed = ran[ran_as] if ran_as in ran else ran[_key(ran, example.command)]
    assert code in spec.exit, f"{where}: exit {code}\n{printed[-3000:]}"
    assert "Traceback" not in printed
    for text in spec.expect:
        assert text in printed, f"{where}: {text!r} not in\n{printed}"
    shown = list(example.shown)
    if spec.json:
        assert same_shape(json.loads("\n".join(shown)), json.loads(printed)), (where, printed)
        return
    if spec.keep is not None:
        shown = [line for line in shown if any(k in line for k in spec.keep)]
    missing = compare(shown, printed)
    assert missing == [], (
        f"{where}: `{example.command}` did not print these shown lines "
        f"(normalised: run ids, times, numbers, folders):\n"
        + "\n".join(missing)
        + "\n--- printed:\n"
        + printed[-4000:]
    )


def _key(ran: dict[str, Any], command: str) -> str:
    """The command as run when its variant depended on an earlier result."""
    spec = HERE[command]
    pattern = re.escape(command)
    for documented in spec.variant:
        pattern = pattern.replace(re.escape(documented), r"\S+")
    return next(k for k in ran if re.fullmatch(pattern, k))


def same_shape(shown: Any, printed: Any) -> bool:
    """Same keys at every level, same types; texts equal except ids and times."""
    if isinstance(shown, dict):
        return (isinstance(printed, dict) and set(shown) == set(printed)
                and all(same_shape(shown[k], printed[k]) for k in shown))  # fmt: skip
    if isinstance(shown, list):
        return (
            isinstance(printed, list)
            and len(shown) == len(printed)
            and all(same_shape(a, b) for a, b in zip(shown, printed, strict=True))
        )
    if isinstance(shown, str):
        return (
            isinstance(printed, str)
            and normalise(shown) == normalise(printed)
            or (bool(re.search(r"[0-9a-f]{32}|\d{4}-\d\d-\d\d", shown)))
        )
    if isinstance(shown, bool) or shown is None:
        return shown == printed
    return isinstance(printed, int | float) and not isinstance(printed, bool)


def test_the_commands_left_their_files(ran: dict[str, Any]) -> None:
    root = Path(ran["root"][1])
    assert (root / "recipes" / "telco.yaml").is_file()
    assert (root / "scored.parquet").is_file()
    assert list((root / "deploy" / "k8s").iterdir())
    assert (root / ".github" / "workflows" / "mlctl-churn.yml").is_file()
    assert json.loads((root / "result.json").read_text())["status"] == "healthy"
    # the README's report, from a real log: every input column plotted, and the volume
    page = (root / "reports" / "churn.html").read_text(encoding="utf-8")
    assert page.count(": reference vs current</title>") == 19 + 2  # inputs, score, prediction
    assert "<title>Predictions per hour (UTC)</title>" in page


def test_normalise() -> None:
    a = "  report: …/.mlctl/reports/churn/16e8212cb40544608159f1e84995b8c1/report.html"
    b = "  report: /tmp/x/.mlctl/reports/churn/0123456789abcdef0123456789abcdef/report.html"
    assert normalise(a) == normalise(b) == "report: report.html"
    assert normalise("2         challenger   2026-11-27 09:45:20   passed   roc_auc 0.8657") == (
        "2 challenger TIME passed roc_auc N"
    )
    assert normalise("• data: 7043 rows, 1,869 of 7,043 (26.5%)") == "• data: N rows, N of N (N%)"
    assert compare(["hint: columns: a, b, …"], "hint: columns: a, b, c, d") == []
    assert compare(["✓ churn version 2 is now champion"], "✓ churn version 3 is now champion")
    wrapped = "│ ✓ not worse   0.8662   champion v1 (trained on other data or another │\n│ split) │"
    assert compare(["…   ✓   not worse  0.8657   champion v1 (trained on other data or "
                    "another split)"], wrapped) == []  # fmt: skip
    assert compare(["18:50:07 • data: 7043 rows"], "• data: 7043 rows") == []
