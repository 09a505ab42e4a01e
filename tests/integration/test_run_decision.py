"""``mlctl run`` shows the decision threshold and the recommendations, on a terminal
and in ``--json``, as the run logged them and the report's ``insights.json`` has them.

Two real runs on the first 900 Telco rows (a fast logistic regression): the shipped
fixed threshold 0.5 with ``--json``, then ``{optimize: cost}`` on the terminal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

QUICK = [
    "models=fast",
    "tuning=none",
    "evaluation.importance_repeats=0",
    "tuning.n_jobs=1",
    "readiness.cv_std_k=0.5",
]
COST = "evaluation.threshold={optimize:cost,costs:{fp:1,fn:5}}"


def mlctl(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    return subprocess.run(
        [sys.executable, "-m", "mlctl", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip


def logged_threshold(project: Path, run_id: str) -> float:
    import mlflow

    uri = f"sqlite:///{project / '.mlctl' / 'mlflow.db'}"
    return mlflow.MlflowClient(tracking_uri=uri).get_run(run_id).data.metrics["decision_threshold"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, churn_project) -> Path:
    return churn_project(tmp_path_factory.mktemp("decision"), 900)


def test_json_has_the_threshold_and_the_recommendations(project: Path) -> None:
    res = mlctl(project, "run", "recipes/churn.yaml", *QUICK, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["threshold"] == {"value": 0.5, "method": "fixed", "costs": None, "chosen_on": None}
    assert logged_threshold(project, doc["run_id"]) == 0.5
    insights = json.loads((Path(doc["report"]["html"]).parent / "insights.json").read_text())
    assert doc["recommendations"] == insights["recommendations"]
    # 'Yes' is ~26 % of the rows and the threshold the default 0.5
    assert {"imbalance", "threshold"} <= {item["topic"] for item in doc["recommendations"]}
    for item in doc["recommendations"]:
        assert set(item) == {"topic", "text", "figure", "severity"} and item["figure"]


def test_terminal_shows_the_chosen_threshold_and_numbered_recommendations(project: Path) -> None:
    res = mlctl(project, "run", "recipes/churn.yaml", *QUICK, COST)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    run_id = re.search(r"run:\s+([0-9a-f]{32})", out).group(1)
    value = logged_threshold(project, run_id)
    assert value < 0.5  # a missed churner costs 5 false alarms
    line = next(x for x in out.splitlines() if x.startswith("Decision threshold"))
    assert line == (
        f"Decision threshold {value:.4f}: chosen by cost on out-of-fold probabilities of "
        "720 training rows (3 folds); costs: a false positive 1, a false negative 5"
    )
    report = Path(re.search(r"report:\s+(\S+)", out).group(1)).parent
    items = json.loads((report / "insights.json").read_text())["recommendations"]
    assert items and out.index("Recommendations") < out.index("Readiness gate")
    for n, item in enumerate(items, 1):
        severity = "⚠ warn" if item["severity"] == "warn" else "ℹ info"
        row = rf"^\s+{n}\s+{severity}\s+{re.escape(item['topic'])}\s+"
        assert re.search(row + re.escape(item["text"].split()[0]), out, re.M), (n, out)
        # the figure, wrapped in its column: its words in order
        words = [re.escape(w) for w in item["figure"].split()]
        assert re.search(r"\s+(?:.*\s+)?".join(words), out, re.S), (item["figure"], out)
