"""The HTML monitoring report on result documents made by the real building blocks."""

from __future__ import annotations

import copy
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlctl.monitor.drift import dataset_drift, prediction_drift
from mlctl.monitor.performance import performance
from mlctl.monitor.profile import build_profile
from mlctl.monitor.report import MAX_COLUMN_PLOTS, NOT_COMPUTED, render_report, write_report
from mlctl.monitor.volume import volume_check

pytestmark = pytest.mark.unit

EVIL = "<script>alert(1)</script>"
VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """Tags, text and plots (inline SVG, by their <title>) of a page; fails on unbalanced
    tags. Text inside an SVG is not page text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.plots: list[str] = []
        self._svg_depth = 0
        self._in_title = False
        self.chunks: list[str] = []
        self.headings: list[str] = []
        self._in_heading = False
        self.feed(text)
        self.close()
        assert self.stack == [], f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "svg":
            self._svg_depth += 1
            if self._svg_depth == 1:
                self.plots.append("")
        self._in_title = tag == "title" and self._svg_depth > 0
        if tag not in VOID:
            self.stack.append(tag)
        self._in_heading = tag in ("h1", "h2", "h3")

    def handle_endtag(self, tag) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag == "svg":
            self._svg_depth -= 1
        self._in_title = False
        if tag in ("h1", "h2", "h3"):
            self._in_heading = False

    def handle_data(self, data) -> None:
        if self._svg_depth:
            if self._in_title and not self.plots[-1]:
                self.plots[-1] = data
            return
        self.chunks.append(data)
        if self._in_heading and data.strip():
            self.headings.append(data.strip())

    @property
    def text(self) -> str:
        return " ".join(self.chunks)

    def columns(self) -> list[str]:
        """The columns of the reference vs current plots, in page order."""
        suffix = ": reference vs current"
        return [t[: -len(suffix)] for t in self.plots if t.endswith(suffix)]


def section(html_text: str, heading: str) -> str:
    """The HTML between an <h2> and the next one."""
    start = html_text.index(f"<h2>{heading}</h2>")
    end = html_text.find("<h2>", start + 1)
    return html_text[start : end if end >= 0 else html_text.index("</body>")]


def light(result: dict, keep: str = "") -> dict:
    """The document without the data of plots, except in section ``keep`` (faster)."""
    for key in ("drift", "prediction_drift"):
        if key != keep and isinstance(result.get(key), dict):
            for c in result[key].get("columns", []):
                c["histogram"] = None
    if keep != "performance" and result.get("performance"):
        result["performance"]["series"]["points"] = []
    if keep != "volume" and result.get("volume"):
        result["volume"]["hourly"] = []
    return result


# ------------------------------------------------------------------ content


def test_full_report_is_valid_self_contained_html(result: dict, tmp_path: Path) -> None:
    path = write_report(result, tmp_path / "deep" / "report.html")
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.tags.count("html") == 1 and "script" not in page.tags
    for needle in ("http://", "https://", "<link", "@import", "xmlns", "<?xml"):
        assert needle not in text.replace("https://hooks.example.com/T000", ""), needle
    assert re.findall(r"url\((?!#)", text) == []  # only references inside the page
    assert page.images == [] and len(page.plots) >= 19 + 2 + 1 + 2
    assert "Matplotlib v" not in text and "<metadata" not in text  # no software metadata
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))  # several SVGs in one page never share an id
    for heading in (
        "Summary",
        "Checks",
        "Data drift",
        "Prediction drift",
        "Performance",
        "Volume",
        "Alerts",
    ):
        assert heading in page.headings
    assert "churn v3" in page.text and "attention" in page.text
    assert "2024-05-08 00:00:00 UTC → 2024-05-09 00:00:00 UTC (1d)" in page.text
    assert "log: sqlite:///.mlctl/predictions.db" in page.text
    assert not list(tmp_path.joinpath("deep").glob(".*tmp"))


def test_reasons_are_listed_under_the_status(result: dict, html_text: str) -> None:
    page = Page(html_text)
    for reason in result["reasons"]:
        assert reason in page.text


def test_drifted_columns_come_first_and_are_plotted(result: dict, html_text: str) -> None:
    text = html_text
    drift = result["drift"]
    drifted = [c["column"] for c in drift["columns"] if c["drifted"]]
    assert {"tenure", "MonthlyCharges", "Contract", "PaymentMethod"} <= set(drifted)
    block = section(text, "Data drift")
    rows = re.findall(r"<tr( class=\"drifted\")?><td>([^<]*)</td>", block)
    names = [name for _, name in rows]
    assert names[: len(drifted)] == drifted
    assert all(flag for flag, _ in rows[: len(drifted)])
    assert not any(flag for flag, _ in rows[len(drifted) :])
    plotted = Page(block).columns()
    assert plotted[: len(drifted)] == drifted  # drifted first, then every other column
    assert sorted(plotted) == sorted(c["column"] for c in drift["columns"])
    assert f"{drift['n_drifted']} of {drift['n_tested']} tested columns drifted" in Page(block).text
    assert "customerID" in block  # ignored: not in the profile


def test_new_categories_and_missing_shares_are_shown(result: dict, html_text: str) -> None:
    page = Page(section(html_text, "Data drift"))
    assert f"Crypto {EVIL}" in page.text  # as text, escaped in the markup
    total = next(c for c in result["drift"]["columns"] if c["column"] == "TotalCharges")
    assert total["cur_missing_share"] > 0.15
    assert f"{100 * total['cur_missing_share']:.1f} % (ref" in page.text


def test_prediction_drift_plots_the_score_distribution(html_text: str) -> None:
    page = Page(section(html_text, "Prediction drift"))
    assert page.columns() == ["score", "prediction"]
    assert "ks" in page.text and "drifted" in page.text


def test_prediction_drift_may_be_one_column(telco: pd.DataFrame, result: dict) -> None:
    profile = build_profile(telco.head(500), ["tenure"], [], scores=np.linspace(0, 1, 500))
    one = prediction_drift(profile, scores=np.linspace(0.3, 1, 300)).columns[0]
    result["prediction_drift"] = one.to_dict()
    page = Page(section(render_report(light(result, "prediction_drift")), "Prediction drift"))
    assert page.columns() == ["score"]


def test_performance_compares_with_training_and_plots_the_days(html_text: str) -> None:
    block = section(html_text, "Performance")
    page = Page(block)
    assert "log_loss" in page.text and "lower is better" in page.text
    assert "29.4 %" in page.text  # 600 of 2043 labelled
    assert "degraded" in page.text
    assert page.plots == ["Production metrics per day (none below 30 labels)"]
    assert "production min_roc_auc" in page.text


def test_not_enough_labels_is_a_status_not_a_failure(result: dict) -> None:
    frame = pd.DataFrame({"label": ["Yes", "No"], "prediction": ["Yes", "Yes"], "ts": [0, 10]})
    perf = performance(frame, "classification", ["No", "Yes"], "Yes", ["accuracy"],
                       {"accuracy": 0.8}, 0.05, 200, {}, n_predictions=900)  # fmt: skip
    result["performance"] = perf.to_dict()
    page = Page(section(render_report(light(result, "performance")), "Performance"))
    assert "not enough labels" in page.text and "Not enough labels yet" in page.text
    assert "0.2 %" in page.text  # 2 of 900 labelled


def test_volume_marks_recent_and_baseline(html_text: str) -> None:
    page = Page(section(html_text, "Volume"))
    assert "drop" in page.text and "118/h (median of 168 hours with history)" in page.text
    assert page.plots == ["Predictions per hour (UTC)", "Predictions per day (UTC)"]


def test_volume_without_history_renders(result: dict) -> None:
    end = 1_714_521_600 + 48 * 3600
    vol = volume_check({end - 5 * 3600: 40, end - 2 * 3600: 12}, 24, 24, 0.5, 3.0, 12, end=end)
    assert any(count is None for _, count in vol.hourly)
    result["volume"] = vol.to_dict()
    page = Page(section(render_report(light(result, "volume")), "Volume"))
    assert "not enough history" in page.text and page.plots == ["Predictions per hour (UTC)"]
    assert "No prediction was logged before 2024-05-02 19:00:00 UTC" in page.text


# ------------------------------------------------------------------ escaping


def test_text_from_the_data_is_escaped(telco: pd.DataFrame, result: dict) -> None:
    frame = telco[["tenure", "Contract"]].head(800).rename(columns={"Contract": EVIL})
    profile = build_profile(frame, ["tenure"], [EVIL])
    cur = frame.head(300).copy()
    cur[EVIL] = [f"{EVIL} $x$ $5 & more"] * 300  # a new category, with math markup
    result["drift"] = dataset_drift(profile, cur).to_dict()
    assert result["drift"]["columns"][1]["drifted"]
    result["reasons"] = [EVIL]
    result["model"]["name"] = EVIL
    result["source"]["location"] = EVIL
    result["alerts"] = [{"kind": EVIL, "error": EVIL}]
    result["retrain"] = {"status": EVIL}
    text = render_report(result)
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Page(text)
    assert EVIL in page.text and f"{EVIL} $x$ $5 &amp; more" not in page.text
    assert "svg" in Page(section(text, "Data drift")).tags


# ------------------------------------------------------------------ stability


def test_same_document_gives_the_same_bytes(result: dict, tmp_path: Path) -> None:
    a = write_report(result, tmp_path / "a.html").read_bytes()
    b = write_report(copy.deepcopy(result), tmp_path / "b.html").read_bytes()
    assert a == b
    light(result)  # only the time differs; the plots are left out to save a render
    c = write_report(result, tmp_path / "c.html").read_bytes()
    result["generated_at"] = "2024-05-09T00:06:00Z"
    assert write_report(result, tmp_path / "d.html").read_bytes() != c


@pytest.mark.parametrize("key", ["drift", "prediction_drift", "performance", "volume"])
def test_a_null_section_says_not_computed(result: dict, key: str) -> None:
    result[key] = None  # absent keys: see test_an_empty_document_still_renders
    text = render_report(light(result))
    Page(text)
    heading = {
        "drift": "Data drift",
        "prediction_drift": "Prediction drift",
        "performance": "Performance",
        "volume": "Volume",
    }[key]
    assert NOT_COMPUTED in Page(section(text, heading)).text
    assert Page(section(text, heading)).plots == []


@pytest.mark.parametrize(
    "patch",
    [
        {"drift": {"columns": [{"column": "a", "drifted": True, "n_new_categories": "3",
                                "new_categories": "x", "histogram": {"reference": [None, 1],
                                "current": ["a", 0.5], "labels": ["p", "q"]}}]}},
        {"drift": {"columns": [{"column": "b", "drifted": True,
                                "histogram": {"reference": [1], "current": [1, 2], "edges": [0]}}]}},
        {"performance": {"metrics": [1, 2], "series": {"points": [{"metrics": None}, 3]}}},
        {"volume": {"hourly": [{"hour": 0, "count": None}, {"hour": "x"}], "recent": []}},
        {"window": {"start": "abc", "seconds": -1}, "model": "churn", "reasons": "one"},
    ],
)  # fmt: skip
def test_odd_values_do_not_break_the_report(patch: dict) -> None:
    page = Page(render_report({"status": "attention", **patch}))
    assert "attention" in page.text


def test_an_empty_document_still_renders() -> None:
    page = Page(render_report({}))
    assert page.text.count(NOT_COMPUTED) >= 8  # 4 verdicts and 4 sections
    assert "unknown" in page.text and "Alerts" not in page.headings


def test_a_whole_file_run_with_notes(result: dict) -> None:
    result.update(window=None, volume=None, notes=["--current lacks input columns: gender"])
    result["source"] = {"kind": "file", "location": "/data/new.parquet", "rows": 2043}
    page = Page(render_report(light(result)))
    assert "the whole file" in page.text and "/data/new.parquet" in page.text
    assert "--current lacks input columns: gender" in page.text


def test_retrain_block_is_shown(result: dict) -> None:
    result["retrain"] = {"status": "promoted", "run_id": "f00", "version": "4"}
    page = Page(section(render_report(light(result)), "Retrain"))
    assert "promoted" in page.text and "f00" in page.text


def test_plots_are_capped_drifted_first(result: dict) -> None:
    columns = result["drift"]["columns"]
    base = next(c for c in columns if c["drifted"])
    extra = MAX_COLUMN_PLOTS + 7 - len(columns)
    for i in range(extra):
        columns.append({**base, "column": f"extra_{i:02d}"})
    block = section(render_report(light(result, "drift")), "Data drift")
    plotted = Page(block).columns()
    assert len(plotted) == MAX_COLUMN_PLOTS
    drifted = [c["column"] for c in columns if c["drifted"]]
    assert len(drifted) < MAX_COLUMN_PLOTS and plotted[: len(drifted)] == drifted
    assert "7 more columns not plotted (see the table)" in Page(block).text


def test_drifted_columns_past_the_cap_are_counted(result: dict) -> None:
    base = next(c for c in result["drift"]["columns"] if c["drifted"])
    for i in range(MAX_COLUMN_PLOTS + 3):
        result["drift"]["columns"].append({**base, "column": f"extra_{i:02d}"})
    block = section(render_report(light(result, "drift")), "Data drift")
    assert all(c in Page(block).columns() for c in ("tenure", "MonthlyCharges"))
    n_drifted = sum(c["drifted"] for c in result["drift"]["columns"])
    more = len(result["drift"]["columns"]) - MAX_COLUMN_PLOTS
    text = f"{more} more columns not plotted, {n_drifted - MAX_COLUMN_PLOTS} of them drifted"
    assert text in Page(block).text


def test_p_values_and_distances_say_which_is_which(result: dict, html_text: str) -> None:
    """A distance has no p-value: the cell says so instead of a bare n/a."""
    drift = Page(section(html_text, "Data drift")).text
    assert "— " in drift and "≥ 0.1" in drift and "no p-value (—)" in drift
    pred = section(html_text, "Prediction drift")
    score = next(c for c in result["prediction_drift"]["columns"] if c["column"] == "score")
    assert re.search(r"<td>score</td>.*?p ≤ 0.05", pred)
    assert f"p = {score['p_value']:.4g}" in Page(pred).text


def test_the_first_hour_of_traffic(result: dict) -> None:
    """Right after a quickstart: one hour of predictions, labels on one day. The charts
    start at the first prediction (no week of "no history" hatching) and the per-day
    performance says it has one day so far."""
    end = 1_714_521_600 + 30 * 60
    vol = volume_check({end - 1800: 1503}, 6, 168, 0.5, 3.0, 72, end=end)
    result["volume"] = vol.to_dict()
    frame = pd.DataFrame({"label": ["Yes", "No"] * 50, "prediction": ["Yes", "No"] * 50,
                          "ts": [end - 100] * 100})  # fmt: skip
    result["performance"] = performance(frame, "classification", ["No", "Yes"], "Yes",
                                        ["accuracy"], {"accuracy": 0.8}, 0.05, 50, {},
                                        n_predictions=1503).to_dict()  # fmt: skip
    text = render_report(result)
    vol_page = Page(section(text, "Volume"))
    assert vol_page.plots == ["Predictions per hour (UTC)"]
    assert "No prediction was logged before 2024-04-30 23:30:00 UTC" in vol_page.text
    svg = section(text, "Volume")
    assert "hatch" not in svg and "no history yet" not in svg
    perf = Page(section(text, "Performance"))
    assert perf.plots == ["Production metrics per day (none below 30 labels)"]
    assert "1 day with enough labels (30 or more) so far" in perf.text


def test_a_hundred_columns_render_in_a_few_seconds(result: dict) -> None:
    rng = np.random.default_rng(1)
    n = 5000
    ref = pd.DataFrame({f"num_{i:02d}": rng.normal(size=n) for i in range(60)})
    for i in range(40):
        ref[f"cat_{i:02d}"] = rng.choice([f"v{k}" for k in range(12)], n)
    numeric, categorical = list(ref.columns[:60]), list(ref.columns[60:])
    profile = build_profile(ref, numeric, categorical)
    cur = ref.sample(2000, random_state=2).reset_index(drop=True)
    cur[numeric[:30]] += 0.5  # 30 drifted numeric columns
    result["drift"] = dataset_drift(profile, cur).to_dict()
    assert result["drift"]["n_tested"] == 100 and result["drift"]["n_drifted"] >= 30
    started = time.perf_counter()
    text = render_report(result)
    assert time.perf_counter() - started < 10.0  # about 1.5 s here; generous for CI
    assert text.count('<tr class="drifted">') >= 30
