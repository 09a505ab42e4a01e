import base64
import re

import pytest
from report_fixtures import full_context, full_plots

from mlctl.evaluate.plots import confusion_matrix_png, importance_png, roc_curve_png
from mlctl.evaluate.report import render_html, render_markdown, write_reports

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


def test_markdown_has_leaderboard_gate_and_tables():
    md = render_markdown(make_ctx(), {"roc": "out/plots/roc.png"})
    assert md.startswith("# Model report: churn\n")
    assert "## Leaderboard" in md
    header = next(line for line in md.splitlines() if line.startswith("| # | Candidate"))
    assert "CV roc\\_auc" not in header  # underscores inside words are left alone
    assert "| Test roc_auc | Test accuracy | Test log_loss |" in header
    assert "| 1 | **logreg (LogisticRegression; winner)** | 0.9123 ± 0.0123 | 0.9000 |" in md
    assert "| 3 | baseline (DummyClassifier; baseline) |" in md
    assert "| C=1 |" in md  # a hyperparameter as set, not 1.0000
    assert "## Gate: FAILED ✗" in md
    assert "| roc_auc | 0.9000 | ≥ | 0.8000 | ✓ pass |" in md
    assert "✗ fail" in md
    assert "| accuracy | 0.8500 | higher is better |" in md
    assert "| log_loss | n/a | lower is better |" in md
    assert "| no | 90 | 10 | 100 |" in md
    assert "### Permutation importance (top 20)" in md
    assert "| 20 | f19 |" in md and "f20" not in md
    assert "![ROC curve](roc.png)" in md
    assert "| Rows | 1,000 (train 800 / test 200) |" in md
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
    assert "## Gate: PASSED ✓" in md
    assert "not registered" in md
    assert "Confusion matrix" not in md
    assert "Decision threshold" not in md


def test_html_is_self_contained_and_escaped(plot_files):
    page = render_html(make_ctx(), plot_files)
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page
    assert "href=" not in page
    assert "<link" not in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # the confusion matrix is a table here: its heat map is not shown again
    shown = {k: v for k, v in plot_files.items() if k != "confusion_matrix"}
    assert len(uris) == len(shown)
    for uri, path in zip(uris, shown.values(), strict=True):
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
    assert "![Permutation importance](plots/importance.png)" in md
    assert "confusion_matrix.png" not in md
    assert html_path.read_text(encoding="utf-8").count("data:image/png;base64,") == 2


# --------------------------------------------------------------------------- issue 17

ORDER = [
    "Summary",
    "Recommendations",
    "Leaderboard",
    "Test metrics (winner)",
    "Decision threshold",
    "Calibration",
    "Lift and gain",
    "Segments",
    "Explanations",
    "Learning curve",
    "Gate: PASSED ✓",
    "Data",
]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    ctx = full_context()
    return ctx, full_plots(ctx, tmp_path_factory.mktemp("full"))


def test_every_section_in_reading_order_in_both_reports(full):
    ctx, plots = full
    md = render_markdown(ctx, plots)
    assert re.findall(r"^## (.+)$", md, re.M) == ORDER
    page = render_html(ctx, plots)
    titles = re.findall(r"<h2>(.*?)(?: <span|</h2>)", page)
    assert titles == [t.split(":")[0] for t in ORDER]
    # every plot once, in its section
    for name, path in plots.items():
        count = md.count(f"]({path.name})")
        assert count == (0 if name == "confusion_matrix" else 1), name
    assert page.count('<figure id="plot-') == len(plots) - 1
    order = [page.index(f'id="plot-{n}"') for n in ("roc", "threshold", "calibration", "gain",
                                                    "lift", "importance", "shap", "learning_curve")]  # fmt: skip
    assert order == sorted(order)
    # permutation importance and SHAP side by side
    explanations = page[page.index('id="explanations"') : page.index('id="learning-curve"')]
    assert explanations.count('<div class="cols">') == 1
    assert "Permutation importance (top 7)" in explanations and "SHAP (top 7)" in explanations


def test_new_sections_render_their_numbers(full):
    ctx, plots = full
    md = render_markdown(ctx, plots)
    chosen = ctx["threshold_analysis"]["chosen"]
    assert f"| Decision threshold | {chosen:.4f} (cost) |" in md
    assert "Costs: a false positive 1, a false negative 5." in md
    assert "| recall | 0.9447 | 0.7763 | +0.1684 |" in md
    assert "| Applied | isotonic |" in md
    assert "| 1 | 141 | 131 | 0.9291 | 3.44 | 3.44 | 0.3447 |" in md  # decile 1
    assert "| Contract | Month-to-month | 774 | 0.4251 | 0.7689 | -0.0778 | ⚠ flagged |" in md
    assert "| gender | (other) | 12 | n/a | n/a | n/a |  | 3 values under 30 rows" in md
    assert "| 2 | charge\\_drift | 0.2696 | MonthlyCharges, TotalCharges, tenure |" not in md
    assert "| 2 | charge_drift | 0.2696 | MonthlyCharges, TotalCharges, tenure |" in md
    assert "| 7 | gender | 0.0000 |" in md  # permutation importance -2.558e-05 and SHAP 0
    assert "Mean absolute SHAP value (log-odds of class 'Yes') over 500 test rows, by Tree" in md
    assert "| 5,634 | 0.8489 |" in md
    assert "| ⚠ warn | segments | Month-to-month customers" in md
    assert "learning_rate=0.04738; max_depth=2; n_estimators=200" in md
    assert "| 4 | mlp (sklearn.neural_network.MLPClassifier; failed) | n/a |" in md
    assert "**Warning:** mlp failed: ValueError: Solver produced non-finite" in md
    assert "| 1,234.57 |" in md  # fit seconds
    assert "e-0" not in md and "-0.0000" not in md


def test_missing_keys_leave_their_sections_out(full):
    ctx, plots = full
    keys = ("threshold_analysis", "calibration_step", "calibration", "lift", "segments",
            "learning_curve", "explanations", "recommendations", "importance")  # fmt: skip
    partial = {k: v for k, v in ctx.items() if k not in keys}
    md = render_markdown(partial, {})
    assert re.findall(r"^## (.+)$", md, re.M) == [
        "Summary",
        "Leaderboard",
        "Test metrics (winner)",
        "Gate: PASSED ✓",
        "Data",
    ]
    # a producer's plot without its section still shows, at the end
    md = render_markdown(partial, {"lift": plots["lift"]})
    assert "## Other plots" in md and "![Lift by decile](lift.png)" in md
    # None values read n/a
    nones = {**partial, "lift": {"base_rate": None, "bins": [{"decile": 1, "lift": None}]}}
    assert "| 1 | n/a | n/a | n/a | n/a | n/a | n/a |" in render_markdown(nones, {})


def test_shap_unavailable_says_why(full):
    ctx, plots = full
    ctx = {**ctx, "explanations": {"method": "shap", "explainer": None, "rows": 0,
                                   "features": [], "unavailable": "no fast SHAP explainer for SVC"}}  # fmt: skip
    md = render_markdown(ctx, {k: v for k, v in plots.items() if k != "shap"})
    assert "Not computed: no fast SHAP explainer for SVC" in md
    assert "### Permutation importance (top 7)" in md


def test_everything_new_is_escaped(full):
    ctx, plots = full
    evil = "<img src=x onerror=alert(1)>"
    ctx = {**ctx, "recommendations": [{"topic": evil, "text": evil, "figure": evil,
                                       "severity": "warn"}],  # fmt: skip
           "segments": {**ctx["segments"], "rows": [{"column": evil, "value": evil, "rows": 1,
                                                     "flagged": True, "note": evil}]},  # fmt: skip
           "explanations": {**ctx["explanations"], "explainer": evil,
                            "features": [{"feature": evil, "mean_abs_shap": 1.0,
                                          "inputs": [evil, "b"]}]}}  # fmt: skip
    page = render_html(ctx, plots)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    md = render_markdown(ctx, plots)
    assert not re.search(r"(?<!\\)<img", md)
    assert "\\<img src=x onerror=alert(1)\\>" in md


def test_regression_numbers_follow_the_policy():
    ctx = make_ctx()
    ctx["task"] = "regression"
    ctx["selection_metric"] = "rmse"
    ctx["confusion"] = None
    ctx["test_metrics"] = {"rmse": 52345.678, "mae": 1.82, "r2": -2.558e-05}
    ctx["leaderboard"] = [{"candidate": "gbm", "estimator": "gradient_boosting",
                           "cv_mean": 52345.678, "cv_std": 1234.5, "test": ctx["test_metrics"],
                           "best_params": {"model__alpha": 1e-05}, "fit_seconds": 2,
                           "is_winner": True}]  # fmt: skip
    md = render_markdown(ctx)
    assert "| rmse | 52,346 | lower is better |" in md
    assert "| mae | 1.820 | lower is better |" in md
    assert "| r2 | 0.0000 | higher is better |" in md
    assert "52,346 ± 1,235" in md
    assert "alpha=1e-05" in md


def test_multiclass_has_no_threshold_and_a_large_matrix_is_the_heat_map(plot_files):
    ctx = make_ctx()
    ctx["threshold"] = None
    labels = [f"c{i}" for i in range(12)]
    ctx["confusion"] = {"labels": labels, "matrix": [[1] * 12 for _ in labels]}
    md = render_markdown(ctx, plot_files)
    assert "threshold" not in md.lower()
    assert "actual \\\\ predicted" not in md  # no 13-column table
    assert md.count("](confusion_matrix.png)") == 1


def test_a_fixed_half_threshold_shows_one_column_and_how_to_choose_one():
    ctx = full_context()
    ctx["threshold_analysis"] = {
        **ctx["threshold_analysis"],
        "method": "fixed",
        "chosen": 0.5,
        "costs": None,
    }
    md = render_markdown(ctx, {})
    section = md[md.index("## Decision threshold") :]
    section = section[: section.index("\n## ", 3)]
    assert "fixed by the recipe" in section and "optimize: f1" in section
    assert "| Test metric | At 0.5000 |" in section and "Change" not in section
