"""mlctl compare on a real log: a real mlctl serve of two small churn versions with a
traffic split or a shadow, real rows as traffic, their true labels sent back with
mlctl feedback, then a verdict with intervals (and the MLflow record)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from serve_helpers import FAST, Server, mlctl, version_tags

pytestmark = pytest.mark.integration

LABELS = "monitor.performance.min_labels=30"


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, trained_churn_project) -> Path:
    """v1 champion, v2 challenger (another split seed), on 700 Telco rows."""
    root, runs = trained_churn_project(
        tmp_path_factory.mktemp("compare"),
        700,
        [*FAST, "--promote", "--yes", "--quiet"],
        [*FAST, "split.seed=5", "--quiet"],
    )
    for res in runs:
        assert res.returncode == 0, res.stderr
    return root


def traffic(root: Path, n: int) -> tuple[list[dict], list[str]]:
    """``n`` real rows as the server takes them, and their true labels."""
    path = next((root / "data" / "telco").glob("*.csv"))
    frame = pd.read_csv(path)
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    frame = frame.dropna().head(n)
    labels = frame.pop("Churn").tolist()
    return frame.to_dict(orient="records"), labels


def send(
    server: Server, rows: list[dict], labels: list[str], batch: int = 5, headers=None
) -> pd.DataFrame:
    """Score the rows in small requests; the request id, variant and label per row."""
    out = []
    for start in range(0, len(rows), batch):
        reply = server.post("/predict", {"records": rows[start : start + batch]}, headers=headers)
        assert reply.status == 200, reply.body
        body = reply.json
        for i, p in enumerate(body["predictions"]):
            out.append((p["request_id"], body["model"]["variant"], labels[start + i]))
    return pd.DataFrame(out, columns=["request_id", "variant", "Churn"])


def compare_json(root: Path, *args: str) -> tuple[int, dict]:
    res = mlctl(root, "compare", "recipes/churn.yaml", LABELS, "--json", *args)
    assert res.stdout, res.stderr
    return res.returncode, json.loads(res.stdout)


def check_intervals(doc: dict) -> None:
    for m in doc["metrics"]:
        for role in ("champion", "challenger", "difference"):
            e = m[role]
            assert e["low"] <= e["value"] <= e["high"], (m["name"], role, e)
        assert m["difference"]["value"] == pytest.approx(
            m["challenger"]["value"] - m["champion"]["value"]
        )


def test_split_traffic_labels_from_a_file_then_a_verdict(two_versions: Path, tmp_path) -> None:
    root = two_versions
    rows, labels = traffic(root, 300)
    server = Server(root, "recipes/churn.yaml", "deploy.serve.traffic.challenger_percent=50")
    try:
        server.wait_ready()
        sent = send(server, rows, labels)
    finally:
        assert server.stop() == 0
    assert set(sent["variant"]) == {"champion", "challenger"}

    # Before any label comes back: nothing to compare yet (exit 7).
    code, doc = compare_json(root, "--no-mlflow")
    assert (code, doc["status"], doc["verdict"]) == (7, "no_labels", "unknown")
    assert "mlctl feedback" in doc["message"]

    labels_file = tmp_path / "labels.csv"
    sent[["request_id", "Churn"]].to_csv(labels_file, index=False)
    res = mlctl(
        root,
        "feedback",
        "recipes/churn.yaml",
        "--labels",
        str(labels_file),
        "--id-column",
        "request_id",
        "--label-column",
        "Churn",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    fed = json.loads(res.stdout)
    assert (fed["rows"], fed["matched"], fed["orphans"], fed["rejected"]) == (300, 300, 0, 0)

    report = tmp_path / "compare.html"
    code, doc = compare_json(root, "--report", str(report))
    assert doc["status"] == "compared" and doc["mode"] == "split"
    assert (doc["champion"]["version"], doc["challenger"]["version"]) == (1, 2)
    n_champion = int((sent["variant"] == "champion").sum())
    assert doc["champion"]["evaluated"] == n_champion
    assert doc["challenger"]["evaluated"] == 300 - n_champion
    assert doc["verdict"] in ("better", "worse", "unknown")
    assert code == (3 if doc["verdict"] == "worse" else 0)
    auc = doc["metrics"][0]
    assert auc["name"] == "roc_auc" and auc["method"] == "delong_unpaired"
    check_intervals(doc)
    assert doc["message"].startswith(
        {"better": "challenger better", "worse": "challenger worse", "unknown": "not yet known"}[
            doc["verdict"]
        ]
    )
    page = report.read_text()
    assert "roc_auc" in page and "<svg" in page
    assert not any(tag in page for tag in ("<script", "<link", "<img", "url("))  # offline
    tags = version_tags(root, 2)
    assert tags["mlctl.compare.last_status"].startswith(doc["verdict"])
    assert len(tags["mlctl.compare.last_run_id"]) == 32

    # A window that holds no traffic: nothing to compare.
    code, doc = compare_json(root, "--no-mlflow", "--end", "2020-01-01T00:00:00Z")
    assert (code, doc["status"]) == (7, "no_challenger")


def test_shadow_traffic_labels_over_http_then_a_paired_comparison(two_versions: Path, tmp_path):
    root = two_versions
    rows, labels = traffic(root, 200)
    key = {"CHURN_API_KEY": "s3cret-key"}
    with_key = "deploy.serve.api_key_env=CHURN_API_KEY"
    server = Server(
        root, "recipes/churn.yaml", "deploy.serve.traffic.shadow=true", with_key, env=key
    )
    try:
        server.wait_ready()
        sent = send(server, rows, labels, batch=20, headers={"X-API-Key": "s3cret-key"})
        labels_file = tmp_path / "labels.parquet"
        sent[["request_id", "Churn"]].to_parquet(labels_file)
        args = [
            "feedback",
            "recipes/churn.yaml",
            "--labels",
            str(labels_file),
            "--id-column",
            "request_id",
            "--label-column",
            "Churn",
            "--url",
            server.url,
            "--json",
            "deploy.serve.max_batch_rows=64",
            with_key,
        ]
        res = mlctl(root, *args)  # the key's variable is not set here
        assert res.returncode == 2 and "CHURN_API_KEY, which is not set" in res.stderr
        res = mlctl(root, *args, env=key)
        assert res.returncode == 0, res.stderr
    finally:
        assert server.stop() == 0
    fed = json.loads(res.stdout)
    assert (fed["matched"], fed["orphans"], fed["chunks"]) == (200, 0, 4)

    code, doc = compare_json(root, "--no-mlflow", "--window", "1h")
    assert doc["status"] == "compared" and doc["mode"] == "shadow"
    assert doc["champion"]["evaluated"] == doc["challenger"]["evaluated"] == 200
    assert doc["metrics"][0]["method"] == "delong_paired"
    check_intervals(doc)
    assert code in (0, 3)
