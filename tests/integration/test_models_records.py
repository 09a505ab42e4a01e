"""``mlctl models list`` shows why a version was rolled back, and ``models describe``
the version's operation records (load test, monitoring, comparison, rollout), read from
the version tags the operations set; in a real registry, as tables and with ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from serve_helpers import FAST, SECOND_VERSION, env_without_tracking, mlctl

pytestmark = pytest.mark.integration

ROLLED = "2026-12-05T21:30:00+0000: guard p95 180.0 ms > 100 ms at 25 %"
TAGS = {
    "mlctl.loadtest.last_status": "pass: p95 12.1 ms <= 100 ms",
    "mlctl.loadtest.last_run_id": "a" * 32,
    "mlctl.monitoring.last_status": "attention",
    "mlctl.monitoring.last_run_id": "b" * 32,
    "mlctl.compare.last_status": "not yet known: 412 labelled rows, 1,900 needed",
    "mlctl.compare.last_run_id": "c" * 32,
    "mlctl.rollout.last_status": "rolled back: p95 180.0 ms > 100 ms",
    "mlctl.rollout.last_run_id": "d" * 32,
    "mlctl.rollout.status": "rolled_back",
    "mlctl.rollout.percent": "25",
    "mlctl.rolled_back": ROLLED,
}
# A second version of the same model files (no second training), made champion; the
# tags on version 1, as the operations set them.
SET_TAGS = SECOND_VERSION + (
    "import json, sys\n"
    "for k, value in json.loads(sys.argv[2]).items():\n"
    "    client.set_model_version_tag('churn', sys.argv[1], k, value)\n"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project):
    """Two versions: 1 with every record and a rollback, 2 (the champion) with none."""
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("records"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [sys.executable, "-c", SET_TAGS, "1", json.dumps(TAGS)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env_without_tracking(),
    )
    assert res.returncode == 0, res.stderr
    return root


def test_list_shows_the_rollback_reason(project) -> None:
    res = mlctl(project, "models", "list", "churn")
    assert res.returncode == 0, res.stderr
    assert "rolled back" in res.stdout
    assert "guard p95 180.0 ms > 100 ms at 25 %" in " ".join(res.stdout.split())
    listed = json.loads(mlctl(project, "models", "list", "churn", "--json").stdout)
    by_version = {v["version"]: v for v in listed}
    assert by_version[1]["rolled_back"] == ROLLED and by_version[2]["rolled_back"] is None
    assert by_version[2]["records"] == {}


def test_describe_shows_the_operation_records(project) -> None:
    res = mlctl(project, "models", "describe", "churn", "1")
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())
    assert "Operation records" in text
    for line in (
        "loadtest pass: p95 12.1 ms <= 100 ms " + "a" * 32,
        "monitoring attention " + "b" * 32,
        "compare not yet known: 412 labelled rows, 1,900 needed " + "c" * 32,
        "rollout rolled_back at 25 %; rolled back: p95 180.0 ms > 100 ms " + "d" * 32,
        "rolled back " + ROLLED,
    ):
        assert line in text, line
    assert "mlctl.loadtest.last_status" not in text  # shown once, in the records
    doc = json.loads(mlctl(project, "models", "describe", "churn", "1", "--json").stdout)
    assert doc["records"] == {
        "loadtest": {"status": TAGS["mlctl.loadtest.last_status"], "run_id": "a" * 32},
        "monitoring": {"status": "attention", "run_id": "b" * 32},
        "compare": {"status": TAGS["mlctl.compare.last_status"], "run_id": "c" * 32},
        "rollout": {
            "status": TAGS["mlctl.rollout.last_status"],
            "run_id": "d" * 32,
            "state": "rolled_back",
            "percent": "25",
        },
    }
    assert doc["rolled_back"] == ROLLED and doc["tags"]["mlctl.rolled_back"] == ROLLED
    champion = mlctl(project, "models", "describe", "churn")
    assert champion.returncode == 0 and "Operation records" not in champion.stdout
