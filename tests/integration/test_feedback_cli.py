"""mlctl feedback: labels from a file into a real prediction log, with the rules of
POST /feedback; the files it refuses, each with nothing written."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from serve_helpers import FAST, mlctl

from mlctl.predlog import PredictionLog, rows_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    """A served churn version (classes No/Yes) and a log of five predictions."""
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("feedback"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    log = PredictionLog(f"sqlite:///{root / '.mlctl' / 'predictions.db'}")
    log.open()
    try:
        ids = [f"req-{i}" for i in range(5)]
        rows = rows_for(
            ids,
            "req",
            time.time(),
            "churn",
            1,
            "champion",
            [{"tenure": i} for i in range(5)],
            ["No"] * 5,
            [0.2] * 5,
            [{"No": 0.8, "Yes": 0.2}] * 5,
            3.0,
        )
        log.write(rows).result(10)
    finally:
        log.close()
    return root


def feedback(root: Path, path: Path, *args: str, id_column: str = "request_id"):
    return mlctl(
        root,
        "feedback",
        "recipes/churn.yaml",
        "--labels",
        str(path),
        "--id-column",
        id_column,
        "--label-column",
        "Churn",
        *args,
    )


def feedback_in_process(root: Path, path: Path, id_column: str = "request_id"):
    """The real command in this process (click's CliRunner): the refused files below
    never reach the log, and each saves a process start (~3 s)."""
    from click.testing import CliRunner

    from mlctl.cli.main import cli

    here = Path.cwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(
            cli,
            ["feedback", "recipes/churn.yaml", "--labels", str(path)]
            + ["--id-column", id_column, "--label-column", "Churn"],
        )
    finally:
        os.chdir(here)


def stored(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    con = sqlite3.connect(root / ".mlctl" / "predictions.db")
    try:
        labels = dict(con.execute("SELECT request_id, label FROM feedback").fetchall())
        orphans = dict(con.execute("SELECT request_id, label FROM feedback_orphans").fetchall())
    finally:
        con.close()
    return labels, orphans


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_labels_join_predictions_and_unknown_ids_are_kept(project: Path, tmp_path) -> None:
    path = write(tmp_path, "l.csv", "request_id,Churn\nreq-0,Yes\nreq-1,No\nnobody,Yes\n")
    res = feedback(project, path, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["rows"], doc["sent"], doc["matched"], doc["orphans"]) == (3, 3, 2, 1)
    assert doc["orphan_ids"] == ["nobody"] and doc["rejected"] == 0
    labels, orphans = stored(project)
    assert labels["req-0"] == "Yes" and labels["req-1"] == "No" and orphans["nobody"] == "Yes"
    # Again, with a correction: idempotent, the last label wins.
    path = write(tmp_path, "l2.csv", "request_id,Churn\nreq-0,No\n")
    res = feedback(project, path)
    assert res.returncode == 0, res.stderr
    assert "1 labels sent: 1 matched a prediction, 0 unknown ids kept aside" in res.stdout
    assert stored(project)[0]["req-0"] == "No"


@pytest.mark.parametrize(
    ("text", "id_column", "message"),
    [
        ("request_id,Label\nreq-2,Yes\n", "request_id", "has no column 'Churn'; its columns"),
        ("", "request_id", "is empty (not even a header)"),
        ("request_id,Churn\n", "request_id", "has a header but no rows"),
        (
            "request_id,Churn\nreq-2,Yes\nreq-3,No\nreq-2,No\n",
            "request_id",
            "appear more than once in 'request_id', e.g. 'req-2' on rows 1, 3",
        ),
        (
            "request_id,Churn\nreq-2,Yes\nreq-3,Maybe\n,No\n",
            "request_id",
            "2 of 3 rows cannot be stored, nothing was sent: row 2 ('req-3'): label: "
            "'Maybe' is not a class of the model (classes: No, Yes); row 3 (''): "
            "request_id: must not be empty",
        ),
    ],
)
def test_refused_files_write_nothing(project, tmp_path, text, id_column, message) -> None:
    before = stored(project)
    res = feedback_in_process(project, write(tmp_path, "bad.csv", text), id_column=id_column)
    assert res.exit_code == 4, res.output
    assert message in " ".join(res.stderr.split()), res.stderr
    assert "Traceback" not in res.stderr
    assert stored(project) == before


def test_skip_invalid_sends_the_valid_rows(project: Path, tmp_path) -> None:
    frame = pd.DataFrame({"request_id": ["req-3", "req-4"], "Churn": ["Yes", "Maybe"]})
    frame.to_parquet(tmp_path / "l.parquet")
    res = feedback(project, tmp_path / "l.parquet", "--skip-invalid", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["sent"], doc["matched"], doc["rejected"]) == (1, 1, 1)
    assert doc["rejected_rows"][0]["row"] == 2 and "Maybe" in doc["rejected_rows"][0]["reason"]
    assert stored(project)[0]["req-3"] == "Yes" and "req-4" not in stored(project)[0]


def test_no_prediction_log_is_named(project: Path, tmp_path) -> None:
    path = write(tmp_path, "l.csv", "request_id,Churn\nreq-0,Yes\n")
    res = feedback(project, path, f"deploy.serve.log.url=sqlite:///{tmp_path}/none.db")
    assert res.returncode == 4, res.stderr
    assert "none.db" in res.stderr and "Traceback" not in res.stderr
