"""``benchmarks/serve_vs_peers.py --quick`` on a trained workspace: mlctl and its HTTP
floor measured in one run, nothing installed (the peers' install never runs here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from serve_helpers import FAST, env_without_tracking, mlctl

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_quick_mode_measures_mlctl_and_the_floor_without_peers(tmp_path, churn_project) -> None:
    root = churn_project(tmp_path / "project", 700)
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "--yes", "--quiet")
    assert res.returncode == 0, res.stderr
    out, venvs = tmp_path / "out.json", tmp_path / "venvs"
    cmd = [sys.executable, str(REPO / "benchmarks" / "serve_vs_peers.py"), "--quick"]
    cmd += ["--workspace", str(root / ".mlctl"), "--venvs", str(venvs), "--json", str(out)]
    cmd += ["--clients", "1,8", "--duration", "1", "--warmup", "0"]
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=env_without_tracking(None),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    cells = doc["cells"]
    assert {(c["server"], c["rows"], c["clients"]) for c in cells} == {
        ("floor", 0, 1),
        ("floor", 0, 8),
        ("mlctl", 1, 1),
        ("mlctl", 100, 1),
        ("mlctl", 1, 8),
        ("mlctl", 100, 8),
    }
    assert all(c["requests"] > 0 and c["errors"] == 0 and c["non2xx"] == 0 for c in cells)
    assert doc["versions"] == {} and not venvs.exists()  # no peer, nothing installed
    assert "uptime before:" in proc.stdout and "mlctl ÷ floor" in proc.stdout
