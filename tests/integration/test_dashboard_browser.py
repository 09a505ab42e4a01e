"""The live dashboard (``GET /dashboard``) of a real ``mlctl serve`` in a real headless
chromium (Debian's, driven by Playwright), while traffic flows.

The server runs two workers with a challenger answering 30 % of requests, so the page's
numbers come from prometheus-client's multiprocess aggregation. The page must show
numbers that move while requests arrive, and, once traffic stops and the page has
refreshed, the same totals as ``/metrics``. It must ask for nothing outside the server
and log no console error. With an API key set, the page shows the key prompt and no
data until the key is entered; with ``deploy.serve.dashboard: false`` every dashboard
route is 404.

Without chromium (or playwright) the tests skip, except when ``CI`` is set: they fail.
docs/images/dashboard.png is made by the same code:

    .venv/bin/python tests/integration/test_dashboard_browser.py
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_helpers import chromium_path, need_browser, save_png
from prometheus_client.parser import text_string_to_metric_families
from serve_helpers import FAST, ROW, Server, call, mlctl, wait_all_ready

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
SCORING = ("/predict", "/invocations", "/v2/models/{name}/infer")
WIDTH = 1280
API_KEY = "dash-s3cret-key"
SPLIT = ("deploy.serve.workers=2", "deploy.serve.traffic.challenger_percent=30")


# --------------------------------------------------------------------------- set-up


# v1 promoted, then v2 registered as @challenger (as tests/integration/test_compare.py).
TWO_VERSIONS = ([*FAST, "--promote", "--yes", "--quiet"], [*FAST, "split.seed=5", "--quiet"])


def train_two_versions(root: Path) -> None:
    for args in TWO_VERSIONS:
        res = mlctl(root, "run", "recipes/churn.yaml", *args)
        assert res.returncode == 0, res.stderr


def write_monitoring_result(root: Path, version: int = 1) -> None:
    """A real monitoring document (drift, performance and volume computed on shifted
    Telco rows, as the monitor's unit tests build it), as ``mlctl monitor`` leaves it."""
    from mlctl.paths import latest_path

    conftest = REPO / "tests" / "unit" / "monitor" / "conftest.py"
    spec = importlib.util.spec_from_file_location("dashboard_monitor_conftest", conftest)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = module.build_result(pd.read_csv(TELCO))
    doc = doc.to_dict() if hasattr(doc, "to_dict") else doc
    doc["model"] = {**(doc.get("model") or {}), "name": "churn", "version": version}
    path = latest_path(str(root / ".mlctl"), "churn")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


class Traffic:
    """Requests from a thread: good rows (1 to 4 per request) and one bad row in ten."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url, self.headers = url, headers or {}
        self.stop_event = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(7)
        while not self.stop_event.is_set():
            n = rng.randint(1, 4)
            rows = [
                {**ROW, "customerID": f"c-{rng.randint(0, 10**6)}", "tenure": rng.randint(0, 72),
                 "MonthlyCharges": round(rng.uniform(18, 118), 2),
                 "Contract": rng.choice(["Month-to-month", "One year", "Two year"])}
                for _ in range(n)
            ]  # fmt: skip
            if rng.random() < 0.1:
                rows[0]["tenure"] = "many"  # 422
            call(self.url + "/predict", "POST", {"records": rows}, headers=self.headers)
            self.sent += 1
            time.sleep(rng.uniform(0.005, 0.03))

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(30)


# --------------------------------------------------------------------------- the browser


class Page:
    """A Playwright page on the dashboard; records what it asked outside the server and
    what its console said."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.external: list[str] = []
        self.requests: list[str] = []
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console.append(f"page error: {e}"))
        page.route("**/*", self._route)

    def _route(self, r: Any) -> None:
        url = r.request.url
        self.requests.append(url)
        if url.startswith(self.base + "/") or url.startswith(("data:", "about:")):
            r.continue_()
        else:
            self.external.append(url)
            r.abort()

    def value(self, selector: str, attribute: str = "data-value") -> float | None:
        raw = self.page.get_attribute(selector, attribute)
        return None if raw in (None, "", "null") else float(raw)

    def samples(self) -> int:
        return int(self.page.get_attribute("body", "data-samples") or 0)

    def wait_refreshes(self, n: int, timeout: float = 30) -> None:
        target = self.samples() + n
        deadline = time.monotonic() + timeout
        while self.samples() < target:
            assert time.monotonic() < deadline, f"the page did not refresh {n} times"
            self.page.wait_for_timeout(200)


@contextmanager
def dashboard(executable: str, srv: Server, height: int = 900) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": height})
            watched = Page(page, srv.url)
            page.goto(srv.url + "/dashboard", wait_until="load")
            yield watched
        finally:
            browser.close()


def metrics_totals(srv: Server) -> dict[str, float]:
    """What /metrics says: scoring requests, 5xx and 4xx among them, rows by variant."""
    text = srv.get("/metrics").body.decode()
    out = {"requests": 0.0, "5xx": 0.0, "4xx": 0.0, "champion": 0.0, "challenger": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "mlctl_requests_total" and s.labels["route"] in SCORING:
                out["requests"] += s.value
                code = s.labels["code"][0]
                if code in "45":
                    out[f"{code}xx"] += s.value
            elif s.name == "mlctl_predictions_total":
                out[s.labels["variant"]] = out.get(s.labels["variant"], 0.0) + s.value
    return out


def page_totals(page: Page) -> dict[str, float]:
    return {
        "requests": page.value("#requests-total"),
        "5xx": page.value("#errors-total"),
        "4xx": page.value("#client-errors-total"),
        "champion": page.value("#split-table", "data-champion"),
        "challenger": page.value("#split-table", "data-challenger"),
    }


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def browser() -> str:
    return need_browser()


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, runs = trained_churn_project(tmp_path_factory.mktemp("dashboard"), 700, *TWO_VERSIONS)
    for res in runs:
        assert res.returncode == 0, res.stderr
    write_monitoring_result(root)
    return root


def test_the_page_moves_with_traffic_and_matches_metrics(browser, project) -> None:
    srv = Server(project, "recipes/churn.yaml", *SPLIT)
    try:
        wait_all_ready(srv, 2)
        with dashboard(browser, srv) as page:
            page.wait_refreshes(1)
            assert page.page.get_attribute("#versions", "data-champion") == "1"
            assert page.page.get_attribute("#versions", "data-challenger") == "2"
            with Traffic(srv.url) as traffic:
                page.wait_refreshes(2)
                first = page.value("#requests-total")
                page.wait_refreshes(2)
                second = page.value("#requests-total")
                assert second > first > 0, (first, second)  # the numbers move
                assert page.value("#rate") > 0
                p50, p95, p99 = (page.value(f"#p{q}-ms") for q in (50, 95, 99))
                assert 0 < p50 <= p95 <= p99 < 10, (p50, p95, p99)
            assert traffic.sent > 20
            page.wait_refreshes(2)  # after the last request: the totals are final
            shown, scraped = page_totals(page), metrics_totals(srv)
            assert shown == {k: scraped[k] for k in shown}, (shown, scraped)
            assert shown["4xx"] > 0 and shown["5xx"] == 0
            assert shown["champion"] > shown["challenger"] > 0  # 70 % / 30 %
            # the latest monitoring result: verdict, drifted columns, production metrics
            assert page.page.get_attribute("#monitor", "data-status") == "attention"
            assert page.page.locator("#drifted-columns tbody tr").count() >= 1
            names = page.page.locator("#production-metrics tbody td:first-child").all_inner_texts()
            assert "roc_auc" in names
            assert page.page.locator("#labels-table tbody tr").count() == 2  # No, Yes
            assert page.page.inner_text("#log-state") == "writable"
            # the page's quantile is PromQL's (and mlctl.serve.dashboard.data's)
            check_quantile_arithmetic(page)
            assert page.external == [], page.external
            assert page.console == [], page.console
    finally:
        assert srv.stop() == 0, srv.output()


def check_quantile_arithmetic(page: Page) -> None:
    from mlctl.serve.dashboard.data import histogram_quantile

    cases = [
        (0.5, [0.1, 0.5, 1.0], [10, 30, 40, 40]),
        (0.95, [0.1, 0.5, 1.0], [10, 30, 40, 40]),
        (0.99, [0.1, 0.5, 1.0], [10, 30, 40, 45]),  # in +Inf: the highest finite bound
        (0.5, [0.0, 0.1], [0, 4, 4]),
        (0.5, [1, 2], [0, 0, 0]),  # no observations
    ]
    for q, le, counts in cases:
        js = page.page.evaluate(
            "([q, le, c]) => window.mlctlDashboard.histogramQuantile(q, le, c)", [q, le, counts]
        )
        py = histogram_quantile(q, le, counts)
        assert js == pytest.approx(py) if py is not None else js is None, (q, le, counts, js)


def test_with_an_api_key_the_page_asks_for_it(browser, project) -> None:
    srv = Server(
        project,
        "recipes/churn.yaml",
        "deploy.serve.api_key_env=DASH_KEY",
        env={"DASH_KEY": API_KEY},
    )
    try:
        srv.wait_ready()
        assert srv.get("/dashboard").status == 200  # the shell: no data in it
        assert srv.get("/dashboard/data").status == 401
        auth = {"Authorization": f"Bearer {API_KEY}"}
        assert srv.get("/dashboard/data", headers=auth).status == 200
        with dashboard(browser, srv) as page:
            page.page.wait_for_selector("#key-form", state="visible")
            assert page.page.is_hidden("#panels")
            assert page.value("#requests-total") is None  # no number reached the page
            page.page.fill("#key-input", "not-the-key")
            page.page.click("#key-form button")
            page.page.wait_for_selector("#key-error", state="visible")
            page.page.fill("#key-input", API_KEY)
            page.page.click("#key-form button")
            page.page.wait_for_selector("#panels", state="visible")
            with Traffic(srv.url, auth):
                page.wait_refreshes(2)
            assert page.value("#requests-total") > 0
            assert page.page.get_attribute("#versions", "data-champion") == "1"
            # the key is kept in the tab's sessionStorage, never in a URL or the page
            assert page.page.evaluate("sessionStorage.getItem('mlctl.dashboard.key')") == API_KEY
            assert not any(API_KEY in url for url in page.requests)
            assert API_KEY not in page.page.content()
            assert page.external == []
            refused = [m for m in page.console if "status of 401" not in m]
            assert refused == [], page.console  # only the two refused fetches
    finally:
        srv.stop()
    assert API_KEY not in srv.output()  # nor in the server's log


def test_dashboard_false_is_404_like_an_unknown_route(project) -> None:
    srv = Server(
        project,
        "recipes/churn.yaml",
        "deploy.serve.dashboard=false",
        "deploy.serve.api_key_env=DASH_KEY",
        env={"DASH_KEY": API_KEY},
    )
    try:
        srv.wait_ready()
        unknown = srv.get("/no-such-page")
        assert unknown.status == 404
        auth = {"Authorization": f"Bearer {API_KEY}"}
        for path in ("/dashboard", "/dashboard/data", "/dashboard/dashboard.js"):
            for headers in ({}, auth):  # off comes before the key: 404, not 401
                reply = srv.get(path, headers=headers)
                assert (reply.status, reply.json) == (404, unknown.json), path
        assert srv.post("/predict", {"records": [ROW]}).status == 401  # the key is on
        assert srv.get("/metrics").status == 200
    finally:
        srv.stop()


# --------------------------------------------------------------------------- screenshot


def main() -> int:
    """Regenerate docs/images/dashboard.png: the page at 1280 px while traffic flows."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    executable = chromium_path()
    if executable is None:
        sys.stderr.write("no chromium on PATH (apt-get install -y chromium)\n")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        from conftest import build_churn_project

        root = build_churn_project(Path(tmp), 700)
        train_two_versions(root)
        write_monitoring_result(root)
        srv = Server(root, "recipes/churn.yaml", *SPLIT)
        try:
            wait_all_ready(srv, 2)
            with dashboard(executable, srv, height=1400) as page, Traffic(srv.url):
                page.wait_refreshes(45, timeout=180)
                shot = Path(tmp) / "dashboard.png"
                page.page.screenshot(path=str(shot), full_page=True)
                assert page.external == [] and page.console == [], (page.external, page.console)
        finally:
            srv.stop()
        out = REPO / "docs" / "images" / "dashboard.png"
        save_png(shot, out, 3000)
        sys.stdout.write(f"{out} ({out.stat().st_size:,} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
