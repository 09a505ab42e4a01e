"""What the access log costs ``mlctl serve``: requests per second of ``POST /predict``
with ``--access-log off`` and ``--access-log info``, under the same wrk load.

A fast churn model is trained once into a temporary project. Then, alternating
(off, info, off, info, ...) so that drifts of a shared machine hit both alike, a
server is started (one worker, its console redirected to a file, as a container's
log driver reads it), loaded by ``wrk`` (``--threads``, ``--connections``,
``--duration``) with one row per request, and stopped. The ratio is the median of the
``info`` rates over the median of the ``off`` rates; ``off`` serves the app without the
access-log wrapper, the same code path as before the access log existed.

Usage::

    .venv/bin/python benchmarks/access_log_overhead.py --rounds 3 --duration 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from serve_helpers import FAST, ROW, env_without_tracking, free_port  # noqa: E402


def project(root: Path) -> Path:
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copytree(REPO / "recipes", root / "recipes")
    shutil.copytree(REPO / "data" / "telco", root / "data" / "telco")
    res = subprocess.run(
        [sys.executable, "-m", "mlctl", "run", "recipes/churn.yaml", *FAST, "--promote", "--yes"],
        cwd=root,
        capture_output=True,
        text=True,
        env=env_without_tracking(),
    )
    if res.returncode:
        raise SystemExit(res.stderr)
    return root


def one_round(root: Path, level: str, args: argparse.Namespace) -> float:
    port = free_port()
    console = open(root / f"console-{level}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "mlctl", "serve", "recipes/churn.yaml", "--port", str(port)]
        + ["--access-log", level, "--quiet"],
        cwd=root,
        stdout=console,
        stderr=console,
        env=env_without_tracking(),
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/ready", timeout=2) as res:
                    if res.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        script = root / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(json.dumps({'records': [ROW]}))}\n"
        )
        out = subprocess.run(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
            + ["-s", str(script), url + "/predict"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non_2xx:
            raise SystemExit(f"{non_2xx.group(1)} errors under load:\n{out}")
        return rate
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
        console.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlctl-access-bench-") as tmp:
        root = project(Path(tmp))
        rates: dict[str, list[float]] = {"off": [], "info": []}
        for _ in range(args.rounds):
            for level in ("off", "info"):
                rates[level].append(one_round(root, level, args))
                print(f"{level:>4}: {rates[level][-1]:8.1f} req/s", flush=True)
        text = (root / "console-info.log").read_text()
        lines = sum(1 for line in text.splitlines() if "mlctl.serve.access" in line)
        off, info = statistics.median(rates["off"]), statistics.median(rates["info"])
        print(
            json.dumps(
                {
                    "off_rps": rates["off"],
                    "info_rps": rates["info"],
                    "median_off": off,
                    "median_info": info,
                    "ratio_info_over_off": round(info / off, 3),
                    "access_lines_last_info_round": lines,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
