"""Nightly fuzzing of ``mlctl serve`` with schemathesis: many examples, no 5xx allowed.

The same set-up as ``tests/integration/test_schemathesis.py``, scaled up. A churn
model is trained and promoted once (``mlctl run recipes/churn.yaml models=fast``) in a
temporary copy of the project, served on a free port of 127.0.0.1, and the schemathesis
CLI runs every phase (examples, coverage, fuzzing, stateful) against two schemas:

* served: ``/schema/openapi.json`` as the server publishes it;
* typed:  the same document with request bodies typed by the model's signature
  (``with_model_inputs`` of the test module), so valid requests are scored and logged.

Only the server-error check runs (``-c not_a_server_error``; ``--all-checks`` adds
schemathesis' conformance checks, for information). Every request and response is read
back from schemathesis' NDJSON report: the script prints, per schema, the test cases
generated, the requests sent, the status codes, and every 5xx with its request. At the
end it checks that the server is still ready and that the SQLite prediction log passes
``PRAGMA integrity_check``. Exit code 0: no 5xx; 1: at least one.

Usage::

    .venv/bin/python benchmarks/schemathesis_nightly.py                      # 1000 per operation
    .venv/bin/python benchmarks/schemathesis_nightly.py --max-examples 200 --max-time 600
    .venv/bin/python benchmarks/schemathesis_nightly.py --workers 2 --seed 42 --keep

Needs ``schemathesis`` 4.x (the test extras).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from serve_helpers import Server, call, mlctl  # noqa: E402
from test_schemathesis import with_model_inputs  # noqa: E402

TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
FAST = ["models=fast", "evaluation.importance_repeats=0", "readiness=lenient"]


def build_project(root: Path, rows: int) -> Path:
    """conf/, recipes/churn.yaml and the first ``rows`` Telco rows under ``root``."""
    shutil.copytree(REPO / "conf", root / "conf")
    (root / "recipes").mkdir()
    (root / "data" / "telco").mkdir(parents=True)
    with TELCO.open() as src, (root / "data" / "telco" / TELCO.name).open("w") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    recipe = (REPO / "recipes" / "churn.yaml").read_text()
    (root / "recipes" / "churn.yaml").write_text(recipe.replace("min_rows: 1000", "min_rows: 500"))
    return root


def run_schemathesis(
    location: str, base_url: str, report: Path, args: argparse.Namespace
) -> tuple[int, str]:
    """The schemathesis CLI against one schema; (exit code, its output)."""
    checks = "all" if args.all_checks else "not_a_server_error"
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        location,
        "--url",
        base_url,
        "--checks",
        checks,
        "--max-examples",
        str(args.max_examples),
        "--max-time",
        str(args.max_time),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    # In the temporary folder: the CLI keeps a crash cache in ./.schemathesis.
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=report.parent)
    return res.returncode, res.stdout + res.stderr


def read_report(path: Path) -> dict[str, Any]:
    """Test cases, requests, status codes and 5xx interactions of an NDJSON report."""
    cases: set[str] = set()
    statuses: Counter = Counter()
    server_errors: list[dict[str, Any]] = []
    failed_checks: Counter = Counter()
    for line in path.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        cases.update(recorder.get("cases", {}))
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check["status"] == "failure":
                    failed_checks[check["name"]] += 1
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response")
            if response is None:
                statuses["no response"] += 1
                continue
            status = response["status_code"]
            statuses[status] += 1
            if status >= 500:
                server_errors.append(
                    {
                        "operation": recorder["label"],
                        "status": status,
                        "request": interaction["request"],
                        "response": _text(response.get("content"), 300),
                    }
                )
    return {
        "cases": len(cases),
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items(), key=str)),
        "server_errors": server_errors,
        "failed_checks": dict(failed_checks),
    }


def _text(content: Any, limit: int = 4000) -> str:
    if isinstance(content, dict) and "$base64" in content:
        content = base64.b64decode(content["$base64"]).decode("utf-8", "replace")
    return str(content)[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=1000, help="per operation")
    parser.add_argument(
        "--max-time", type=int, default=1800, help="seconds per schema (schemathesis' budget)"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rows", type=int, default=900, help="Telco rows to train on")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--all-checks", action="store_true", help="every schemathesis check")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="mlctl-schemathesis-"))
    root = build_project(tmp / "project", args.rows)
    print(f"• training in {root}", flush=True)
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "--yes", "--quiet")
    if res.returncode != 0:
        print(res.stderr, file=sys.stderr)
        return 2
    srv = Server(
        root, "recipes/churn.yaml", "deploy.serve.admin=true", "--workers", str(args.workers)
    )
    results: dict[str, dict[str, Any]] = {}
    try:
        srv.wait_ready()
        print(f"• serving on {srv.url} ({args.workers} worker(s))", flush=True)
        spec = call(f"{srv.url}/schema/openapi.json").json
        model = call(f"{srv.url}/model").json
        typed = tmp / "openapi-typed.json"
        typed.write_text(json.dumps(with_model_inputs(spec, model)))
        for name, location in (("served", f"{srv.url}/schema/openapi.json"), ("typed", str(typed))):
            started = time.monotonic()
            print(f"• schemathesis on the {name} schema ...", flush=True)
            code, output = run_schemathesis(location, srv.url, tmp / f"{name}.ndjson", args)
            (tmp / f"{name}.log").write_text(output)
            results[name] = read_report(tmp / f"{name}.ndjson")
            results[name]["exit_code"] = code
            results[name]["seconds"] = round(time.monotonic() - started, 1)
        ready = call(f"{srv.url}/ready").status
    finally:
        srv.stop()
    with sqlite3.connect(root / ".mlctl" / "predictions.db") as con:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        logged = con.execute("SELECT count(*) FROM predictions").fetchone()[0]

    total_5xx = 0
    print()
    print(f"{'schema':8} {'test cases':>11} {'requests':>9} {'5xx':>5} {'seconds':>8}  statuses")
    for name, r in results.items():
        n5 = len(r["server_errors"])
        total_5xx += n5
        print(
            f"{name:8} {r['cases']:>11,} {r['requests']:>9,} {n5:>5} {r['seconds']:>8}  {r['statuses']}"
        )
        if r["failed_checks"]:
            print(f"         failed checks: {r['failed_checks']}")
    for name, r in results.items():
        for err in r["server_errors"][:20]:
            req = err["request"]
            print(
                f"\n5xx ({name}) {err['operation']}: {err['status']} {req['method']} {req['uri']}"
            )
            print(f"  request headers: {req.get('headers')}")
            print(f"  request body: {_text(req.get('body'))}")
            print(f"  response: {err['response']}")
    print(
        f"\nafter the runs: /ready {ready}; prediction log integrity_check {integrity}, "
        f"{logged:,} rows; reports in {tmp if args.keep else '(removed; --keep to keep)'}"
    )
    print(f"server errors: {total_5xx}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if total_5xx or ready != 200 or integrity != "ok" else 0


if __name__ == "__main__":
    sys.exit(main())
