import base64
import re

import pytest

from mlctl.evaluate.plots import confusion_matrix_png, importance_png, roc_curve_png
from mlctl.evaluate.report import fmt, render_html, render_markdown, write_reports

pytestmark = pytest.mark.unit

NAN = float("nan")


def make_ctx():
    return {
        "name": "churn",
        "task": "classification",
        "model_name": "LogisticRegression",
        "run_id": "abc123",
        "created": "2025-01-02T03:04:05+00:00",
        "data": {
            "source": "data/churn.csv",
            "rows": 1000,
            "train_rows": 800,
            "test_rows": 200,
            "fingerprint": "sha256:deadbeef",
        },
        "selection_metric": "roc_auc",
        "leaderboard": [
            {
                "candidate": "logreg",
                "estimator": "LogisticRegression",
                "cv_mean": 0.912345,
                "cv_std": 0.0123,
                "test": {"roc_auc": 0.9, "log_loss": NAN},
                "best_params": {"C": 1.0},
                "fit_seconds": 1.5,
                "is_winner": True,
                "is_baseline": False,
            },
            {
                "candidate": "<script>alert(1)</script>",
                "estimator": "RandomForest",
                "cv_mean": 0.85,
                "cv_std": 0.02,
                "test": {"roc_auc": 0.84},
                "best_params": {},
                "fit_seconds": 3.25,
                "is_winner": False,
                "is_baseline": False,
            },
            {
                "candidate": "baseline",
                "estimator": "DummyClassifier",
                "cv_mean": 0.5,
                "cv_std": 0.0,
                "test": {"roc_auc": 0.5},
                "best_params": {},
                "fit_seconds": 0.01,
                "is_winner": False,
                "is_baseline": True,
            },
        ],
        "test_metrics": {"roc_auc": 0.9, "accuracy": 0.85, "log_loss": NAN},
        "threshold": 0.5,
        "confusion": {"labels": ["no", "yes"], "matrix": [[90, 10], [20, 80]]},
        "importance": [(f"f{i}", 0.1 / (i + 1), 0.01) for i in range(25)],
        "gate": {
            "passed": False,
            "checks": [
                {
                    "name": "roc_auc",
                    "actual": 0.9,
                    "required": 0.8,
                    "op": ">=",
                    "passed": True,
                    "detail": "",
                },
                {
                    "name": "beats_baseline",
                    "actual": 0.4,
                    "required": 0.5,
                    "op": ">=",
                    "passed": False,
                    "detail": "margin over the baseline",
                },
            ],
        },
        "registered": {"name": "churn", "version": 3, "aliases": ["challenger"]},
    }


@pytest.fixture(scope="module")
def plot_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("plots")
    return {
        "roc": roc_curve_png([0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6], out / "roc.png", "yes"),
        "confusion_matrix": confusion_matrix_png(
            [[90, 10], [20, 80]], ["no", "yes"], out / "confusion_matrix.png"
        ),
        "importance": importance_png([("a", 0.2, 0.01)], out / "importance.png"),
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (NAN, "n/a"),
        (None, "n/a"),
        (0.912345, "0.9123"),
        (2.0, "2.0000"),
        (0.0, "0.0000"),
        (0.0000123456, "1.235e-05"),
        (7, "7"),
        (True, "yes"),
        ("x", "x"),
    ],
)
def test_fmt(value, text):
    assert fmt(value) == text


def test_markdown_has_leaderboard_gate_and_tables():
    md = render_markdown(make_ctx(), {"roc": "out/plots/roc.png"})
    assert md.startswith("# Model report: churn\n")
    assert "## Leaderboard" in md
    header = next(line for line in md.splitlines() if line.startswith("| # | Candidate"))
    assert "CV roc\\_auc" not in header  # underscores are left alone
    assert "Test roc_auc" in header and "Test log_loss" in header
    assert "| 1 | logreg | LogisticRegression | 0.9123 ± 0.0123 | 0.9000 | n/a |" in md
    assert "winner" in md and "baseline" in md
    assert "C=1.0000" in md
    # the gate verdict with check marks
    assert "## Gate verdict: FAILED ✗" in md
    assert "| roc_auc | 0.9000 | ≥ | 0.8000 | ✓ pass |" in md
    assert "✗ fail" in md
    # test metrics, confusion, importance (top 20 only)
    assert "| accuracy | 0.8500 | higher is better |" in md
    assert "| log_loss | n/a | lower is better |" in md
    assert "| no | 90 | 10 |" in md
    assert "## Feature importance (top 20)" in md
    assert "| 20 | f19 |" in md and "f20" not in md
    assert "![ROC curve](roc.png)" in md
    assert "nan" not in md.lower().replace("n/a", "")
    # the candidate's markup is neutralised
    assert "<script>" not in md
    assert "\\<script\\>" in md


def test_markdown_passed_gate_and_regression():
    ctx = make_ctx()
    ctx["gate"] = {"passed": True, "checks": []}
    ctx["task"] = "regression"
    ctx["registered"] = None
    ctx["confusion"] = None
    md = render_markdown(ctx)
    assert "## Gate verdict: PASSED ✓" in md
    assert "not registered" in md
    assert "Confusion matrix" not in md
    assert "Decision threshold |" not in md


def test_html_is_self_contained_and_escaped(plot_files):
    page = render_html(make_ctx(), plot_files)
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page
    assert "href=" not in page
    assert "<link" not in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == len(plot_files)
    for uri, path in zip(uris, plot_files.values(), strict=True):
        assert base64.b64decode(uri) == path.read_bytes()
    assert "FAILED ✗" in page
    assert "0.9123 ± 0.0123" in page
    assert "n/a" in page


def test_html_notes_a_missing_plot(tmp_path):
    page = render_html(make_ctx(), {"roc": tmp_path / "gone.png"})
    assert "Plot not found: ROC curve" in page
    assert "data:image/png" not in page


def test_write_reports(tmp_path, plot_files):
    out = tmp_path / "report"
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True)
    local = {}
    for name, path in plot_files.items():
        local[name] = plots_dir / path.name
        local[name].write_bytes(path.read_bytes())
    md_path, html_path = write_reports(make_ctx(), local, out)
    assert md_path == out / "report.md"
    assert html_path == out / "report.html"
    md = md_path.read_text(encoding="utf-8")
    assert "![ROC curve](plots/roc.png)" in md
    assert "![Confusion matrix](plots/confusion_matrix.png)" in md
    assert html_path.read_text(encoding="utf-8").count("data:image/png;base64,") == 3
