"""The HTML reports in a real headless browser: Debian's chromium, driven by Playwright.

Both reports (monitoring and training) are opened from file:// URLs. A page passes when
its plots are laid out (every plot has a non-zero box), the console stays free of
errors, and the page asks for nothing but itself: every request that is not a file://
or data: URL is aborted and fails the test. The training report with every section
(tests/report_fixtures.py: a realistic context and real PNGs) must also fit a 1,280 px
window: no horizontal scroll of the page, every table wholly visible without scrolling
its box.

Without chromium (or the playwright package) the tests skip, except when ``CI`` is set:
then they fail, so CI cannot go green without looking at the pages. ``.ci/run``
installs chromium (``apt-get install -y --no-install-recommends chromium``).

The screenshots in docs/images (monitor-report, training-report, report-top,
report-threshold) are made by the same code:

    .venv/bin/python tests/integration/test_report_browser.py
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from browser_helpers import chromium_path
from browser_helpers import need_browser as _need_browser
from browser_helpers import save_png as _save_png
from report_fixtures import full_context, full_plots

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
DOCS_IMAGES = REPO / "docs" / "images"
LOCAL = ("file://", "data:", "about:")
WIDTH = 1280


# --------------------------------------------------------------------------- the reports


def monitor_report(out: Path) -> Path:
    """The monitoring report of the document the report's unit tests use (real drift,
    performance and volume results on Telco, shifted)."""
    from mlctl.monitor.report import write_report

    conftest = REPO / "tests" / "unit" / "monitor" / "conftest.py"
    spec = importlib.util.spec_from_file_location("monitor_report_conftest", conftest)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.build_result(pd.read_csv(TELCO))
    return write_report(result, out / "monitor.html")


def training_report(out: Path) -> Path:
    """The training report of a logistic regression on Telco: real fit, cross-validation,
    permutation importance and plots (what `mlctl run` computes, on 4 columns)."""
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import cross_val_score

    from mlctl.evaluate.plots import make_plots
    from mlctl.evaluate.report import write_reports

    frame = pd.read_csv(TELCO)
    names = ["tenure", "MonthlyCharges", "SeniorCitizen", "Contract"]
    x = frame[names[:3]].to_numpy(dtype=float)
    x = np.column_stack([x, (frame["Contract"] == "Month-to-month").to_numpy(dtype=float)])
    y = frame["Churn"].to_numpy()
    train, test = slice(0, 5000), slice(5000, None)
    model = LogisticRegression(max_iter=500)
    cv = cross_val_score(model, x[train], y[train], scoring="roc_auc", cv=3)
    model.fit(x[train], y[train])
    proba = model.predict_proba(x[test])
    pred = model.predict(x[test])
    auc = float(roc_auc_score(y[test] == "Yes", proba[:, 1]))
    acc = float(accuracy_score(y[test], pred))
    imp = permutation_importance(model, x[test], y[test], scoring="roc_auc", n_repeats=3,
                                 random_state=0)  # fmt: skip
    importances = sorted(zip(names, imp.importances_mean, imp.importances_std, strict=True),
                         key=lambda t: -t[1])  # fmt: skip
    plots = make_plots("classification", y[test], pred, proba, list(model.classes_), "Yes",
                       importances, out / "plots")  # fmt: skip
    ctx: dict[str, Any] = {
        "name": "churn",
        "task": "classification",
        "model_name": "LogisticRegression",
        "run_id": "0123456789abcdef",
        "created": "2026-12-05T12:00:00+00:00",
        "data": {
            "source": "data/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv",
            "rows": 7043,
            "train_rows": 5000,
            "test_rows": 2043,
        },  # fmt: skip
        "selection_metric": "roc_auc",
        "leaderboard": [
            {
                "candidate": "logreg",
                "estimator": "logistic_regression",
                "cv_mean": cv.mean(),
                "cv_std": cv.std(),
                "test": {"roc_auc": auc, "accuracy": acc},
                "best_params": {"C": 1.0},
                "fit_seconds": 0.4,
                "is_winner": True,
                "is_baseline": False,
            },
            {
                "candidate": "baseline",
                "estimator": "dummy",
                "cv_mean": 0.5,
                "cv_std": 0.0,
                "test": {"roc_auc": 0.5, "accuracy": float(np.mean(y[test] == "No"))},
                "best_params": {},
                "fit_seconds": 0.01,
                "is_winner": False,
                "is_baseline": True,
            },
        ],  # fmt: skip
        "test_metrics": {"roc_auc": auc, "accuracy": acc},
        "threshold": 0.5,
        "importance": importances,
        "gate": {
            "passed": True,
            "checks": [
                {
                    "name": "beats baseline",
                    "actual": auc,
                    "required": 0.55,
                    "op": ">=",
                    "passed": True,
                    "detail": "baseline 0.5000, margin 0.05",
                }
            ],
        },  # fmt: skip
        "registered": {"name": "churn", "version": 1, "aliases": ["champion"]},
    }
    return write_reports(ctx, plots, out / "training")[1]


def full_report(out: Path) -> Path:
    """The training report with every section of issue 17 and real PNGs."""
    from mlctl.evaluate.report import write_reports

    ctx = full_context()
    return write_reports(ctx, full_plots(ctx, out / "full" / "plots"), out / "full")[1]


# --------------------------------------------------------------------------- the browser


def open_in_chromium(page_path: Path, screenshot: Path, executable: str) -> dict[str, Any]:
    """Load the page, measure its plots, take a full-page screenshot.

    Returns ``{"plots": [{"tag", "name", "width", "height"}], "console_errors": [...],
    "page_errors": [...], "external": [urls aborted]}``.
    """
    from playwright.sync_api import sync_playwright

    external: list[str] = []
    console: list[str] = []
    errors: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if url.startswith(LOCAL):
            r.continue_()
        else:
            external.append(url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: console.append(f"failed: {r.url}"))
            page.route("**/*", route)
            page.goto(page_path.as_uri(), wait_until="load")
            plots = page.evaluate(
                """() => [...document.querySelectorAll('figure > svg, figure img')].map(e => {
                    const r = e.getBoundingClientRect();
                    const name = e.tagName.toLowerCase() === 'img' ? e.alt
                        : (e.querySelector('title') || {}).textContent || '';
                    return {tag: e.tagName.toLowerCase(), name, width: r.width,
                            height: r.height, loaded: e.tagName !== 'IMG' || e.naturalWidth > 0};
                })"""
            )
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"plots": plots, "console_errors": console, "page_errors": errors,
            "external": external}  # fmt: skip


LAYOUT = """() => {
    const width = window.innerWidth;
    const tables = [...document.querySelectorAll('table')].map(t => {
        const r = t.getBoundingClientRect(), box = t.parentElement;
        const section = t.closest('section');
        return {section: section ? section.id : '', left: r.left, right: r.right,
                overflow: box.scrollWidth - box.clientWidth};
    });
    const images = [...document.querySelectorAll('img')].map(i => {
        const r = i.getBoundingClientRect();
        return {alt: i.alt, right: r.right, loaded: i.naturalWidth > 0};
    });
    return {width, page: document.documentElement.scrollWidth,
            body: document.body.scrollWidth, tables, images,
            sections: [...document.querySelectorAll('section')].map(e => e.id)};
}"""


def open_full_report(page_path: Path, executable: str, shots: dict[str, str] | None = None):
    """Load the page at 1,280 px and measure its layout; with ``shots`` (file name ->
    a CSS selector, or "" for the top of the page) take those screenshots."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(str(e)))
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL)
                       else (external.append(r.request.url), r.abort()))  # fmt: skip
            page.goto(page_path.as_uri(), wait_until="load")
            layout = page.evaluate(LAYOUT)
            for name, selector in (shots or {}).items():
                if selector:
                    page.locator(selector).screenshot(path=name)
                else:
                    page.screenshot(path=name)
        finally:
            browser.close()
    return layout, console, external


def _assert_fits(layout: dict[str, Any]) -> None:
    assert layout["width"] == WIDTH
    assert layout["page"] <= WIDTH and layout["body"] <= WIDTH, "the page scrolls sideways"
    hidden = [t for t in layout["tables"]
              if t["left"] < 0 or t["right"] > WIDTH or t["overflow"] > 0]  # fmt: skip
    assert hidden == [], f"tables not wholly visible: {hidden}"
    images = [i for i in layout["images"] if not i["loaded"] or i["right"] > WIDTH]
    assert images == [], f"plots not shown whole: {images}"


def _assert_clean(seen: dict[str, Any]) -> None:
    assert seen["external"] == [], f"the page asked for {seen['external']}"
    assert seen["console_errors"] == [] and seen["page_errors"] == [], seen
    empty = [p for p in seen["plots"] if not (p["width"] > 0 and p["height"] > 0 and p["loaded"])]
    assert empty == [], f"plots not laid out: {empty}"


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def browser() -> str:
    return _need_browser()


def test_monitor_report_plots_are_visible(browser: str, tmp_path: Path) -> None:
    page = monitor_report(tmp_path)
    seen = open_in_chromium(page, tmp_path / "monitor.png", browser)
    _assert_clean(seen)
    svgs = [p for p in seen["plots"] if p["tag"] == "svg"]
    assert len(svgs) == len(seen["plots"]), "the monitoring report's plots are inline SVG"
    names = [p["name"] for p in svgs]
    # every input column of the churn recipe: reference vs current, drifted first
    assert sum(n.endswith(": reference vs current") for n in names) >= 19
    assert names[0].startswith(("tenure", "MonthlyCharges", "Contract", "PaymentMethod",
                                "TotalCharges", "InternetService"))  # fmt: skip
    assert any(n.startswith("Production metrics per day") for n in names)
    assert "Predictions per hour (UTC)" in names
    assert any(n.startswith("Predictions per day") for n in names)
    assert (tmp_path / "monitor.png").stat().st_size > 50_000


def test_training_report_plots_are_visible(browser: str, tmp_path: Path) -> None:
    page = training_report(tmp_path)
    seen = open_in_chromium(page, tmp_path / "training.png", browser)
    _assert_clean(seen)
    assert len(seen["plots"]) >= 4  # roc, pr, calibration, confusion matrix, importance
    assert (tmp_path / "training.png").stat().st_size > 20_000


def test_an_external_request_is_caught(browser: str, tmp_path: Path) -> None:
    """The interception works: a page that loads a remote image is reported."""
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/x.png" alt="x"></body></html>')
    seen = open_in_chromium(page, tmp_path / "leaky.png", browser)
    assert seen["external"] == ["http://127.0.0.1:9/x.png"]


def test_full_training_report_fits_a_1280_px_window(browser: str, tmp_path: Path) -> None:
    layout, console, external = open_full_report(full_report(tmp_path), browser)
    assert console == [] and external == []
    _assert_fits(layout)
    assert layout["sections"] == ["summary", "recommendations", "leaderboard", "test-metrics",
                                  "threshold", "calibration", "lift", "segments",
                                  "explanations", "learning-curve", "gate", "data"]  # fmt: skip
    assert len(layout["tables"]) == 15  # every table of every section
    assert {i["alt"] for i in layout["images"]} >= {
        "ROC curve", "Metrics by decision threshold", "Calibration", "Cumulative gain",
        "Lift by decile", "Permutation importance", "SHAP: mean |SHAP| per input column",
        "Learning curve"}  # fmt: skip


def test_a_real_run_explains_its_winner_in_a_report_that_fits(
    browser: str, tmp_path: Path, churn_project
) -> None:
    """A real `mlctl run` (900 Telco rows, the fast logistic regression) with
    evaluation.shap on: SHAP values per input column in both reports, and the page fits."""
    import json

    from serve_helpers import mlctl

    from mlctl.evaluate.explain import shap_installed

    if not shap_installed():
        pytest.skip("needs shap: pip install -e '.[explain]'")
    root = churn_project(tmp_path / "project")
    res = mlctl(root, "run", "recipes/churn.yaml", "models=fast", "tuning=none",
                "tuning.n_jobs=1", "readiness=lenient", "evaluation.importance_repeats=1",
                "evaluation.shap=on", "evaluation.shap_max_rows=100", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    html = Path(json.loads(res.stdout)["report"]["html"])
    md = (html.parent / "report.md").read_text()
    assert "### SHAP (top 20)" in md
    assert "over 100 test rows, by LinearExplainer on LogisticRegression" in md
    # a derived feature of two columns keeps its name and says which it reads
    assert re.search(r"\| avg_monthly_spend \| \d\.\d{4} \| TotalCharges, tenure \|", md)
    assert (html.parent / "shap.png").stat().st_size > 10_000
    layout, console, external = open_full_report(html, browser)
    assert console == [] and external == []
    _assert_fits(layout)
    assert "explanations" in layout["sections"]
    assert "SHAP: mean |SHAP| per input column" in {i["alt"] for i in layout["images"]}


def test_the_fit_check_catches_a_wide_page(browser: str, tmp_path: Path) -> None:
    """The measurement works: the report before issue 17 (a leaderboard 1,400 px wide,
    no wrapping) fails it."""
    page = tmp_path / "wide.html"
    cells = "".join(f"<td>balanced_accuracy_{i}</td>" for i in range(14))
    page.write_text(f"<html><body><section id='x'><div><table><tr>{cells}</tr></table>"
                    "</div></section></body></html>")  # fmt: skip
    layout, _, _ = open_full_report(page, browser)
    with pytest.raises(AssertionError, match="the page scrolls sideways"):
        _assert_fits(layout)


# --------------------------------------------------------------------------- screenshots


def main() -> int:
    """Regenerate docs/images/monitor-report.png, training-report.png, report-top.png and
    report-threshold.png."""
    import tempfile

    executable = chromium_path()
    if executable is None:
        sys.stderr.write("no chromium on PATH (apt-get install -y chromium)\n")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, build, height in (("monitor-report", monitor_report, 10_000),
                                    ("training-report", training_report, 10_000)):  # fmt: skip
            shot = tmp / f"{name}.png"
            _assert_clean(open_in_chromium(build(tmp), shot, executable))
            out = DOCS_IMAGES / f"{name}.png"
            _save_png(shot, out, height)
            sys.stdout.write(f"{out} ({out.stat().st_size:,} bytes)\n")
        shots = {"report-top": "", "report-threshold": "#threshold"}
        paths = {str(tmp / f"{n}.png"): n for n in shots}
        layout, console, external = open_full_report(
            full_report(tmp), executable, {str(tmp / f"{n}.png"): sel for n, sel in shots.items()}
        )
        _assert_fits(layout)
        assert console == [] and external == []
        for shot, name in paths.items():
            out = DOCS_IMAGES / f"{name}.png"
            _save_png(Path(shot), out, 10_000)
            sys.stdout.write(f"{out} ({out.stat().st_size:,} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
