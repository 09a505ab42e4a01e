"""compare() over a real SQLite prediction log written by the server's writer, with
simulated answers of a known effect: which versions, split or shadow, labels joined,
and the statuses with nothing to compare. No model and no MLflow are needed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from predlog_traffic import RECIPE, Traffic
from recipe_builders import write_recipe

from mlctl.compare import compare
from mlctl.errors import CompareCannotRun, ExitCode
from mlctl.recipe.loader import load_recipe

pytestmark = pytest.mark.unit


@pytest.fixture
def setup(tmp_path: Path):
    db = tmp_path / "log.db"
    loaded = load_recipe(write_recipe(tmp_path, RECIPE % db))
    traffic = Traffic(db)
    yield loaded, traffic
    traffic.close()


def run(loaded, **kw):
    return compare(loaded, "1h", log_run=False, n_resamples=200, **kw)


def test_split_traffic_with_a_much_better_challenger(setup) -> None:
    loaded, t = setup
    t.label(*t.requests(300, 1, "champion", 0.5))
    t.label(*t.requests(300, 2, "challenger", 2.5))
    t.requests(20, 3, "champion", 1.0)  # an older version answered a little: ignored
    result = run(loaded)
    doc = result.to_dict()
    assert (doc["status"], doc["mode"], result.verdict) == ("compared", "split", "better")
    assert (doc["champion"]["version"], doc["challenger"]["version"]) == (1, 2)
    assert doc["champion"]["evaluated"] == doc["challenger"]["evaluated"] == 300
    assert doc["metrics"][0]["method"] == "delong_unpaired"
    assert result.exit_code == ExitCode.OK


def test_shadow_rows_are_paired_with_the_champion_rows_of_the_same_request(setup) -> None:
    loaded, t = setup
    ids, y = t.requests(250, 1, "champion", 2.5)
    t.requests(250, 2, "shadow", 0.8, ids=ids, y=y)
    t.label(ids[:200], y[:200])  # 50 requests not labelled yet
    result = run(loaded)
    doc = result.to_dict()
    assert (doc["mode"], result.verdict, result.exit_code) == ("shadow", "worse", 3)
    assert doc["champion"]["evaluated"] == doc["challenger"]["evaluated"] == 200
    assert doc["metrics"][0]["method"] == "delong_paired"
    assert doc["message"].startswith("challenger worse: roc_auc -")


def test_a_window_object_selects_the_rows(setup) -> None:
    from mlctl.monitor.window import Window

    loaded, t = setup
    t.label(*t.requests(60, 1, "champion", 1.0))
    t.label(*t.requests(60, 2, "challenger", 1.0))
    now = time.time()
    assert compare(loaded, Window(now - 60, now + 1), log_run=False).status == "compared"
    assert compare(loaded, Window(now - 7200, now - 3600), log_run=False).status == (
        "no_challenger"
    )


def test_champion_traffic_only_is_no_challenger(setup) -> None:
    loaded, t = setup
    t.label(*t.requests(30, 1, "champion", 1.0))
    result = run(loaded)
    assert (result.status, result.verdict, result.exit_code) == ("no_challenger", "unknown", 7)
    assert "no challenger traffic of model 'demo'" in result.to_dict()["message"]
    assert "challenger_percent" in result.to_dict()["message"]


def test_no_labels_for_the_challenger(setup) -> None:
    loaded, t = setup
    t.label(*t.requests(30, 1, "champion", 1.0))
    t.requests(30, 2, "challenger", 1.0)
    result = run(loaded)
    assert (result.status, result.exit_code) == ("no_labels", 7)
    assert "no labels for the challenger's predictions" in result.to_dict()["message"]


def test_too_few_labels_is_not_yet_known(setup) -> None:
    loaded, t = setup
    t.label(*t.requests(30, 1, "champion", 0.2))
    t.label(*t.requests(30, 2, "challenger", 3.0))
    result = run(loaded)
    assert (result.status, result.verdict, result.exit_code) == ("compared", "unknown", 0)
    assert result.to_dict()["message"].startswith("not enough labels: 30 champion and 30")


def test_report_is_written(setup, tmp_path: Path) -> None:
    loaded, t = setup
    t.label(*t.requests(100, 1, "champion", 1.0))
    t.label(*t.requests(100, 2, "challenger", 1.0))
    result = run(loaded, report=tmp_path / "r" / "compare.html")
    page = result.report.read_text()
    assert page.startswith("<!DOCTYPE html>") and "roc_auc (selection)" in page


def test_a_missing_log_cannot_run(tmp_path: Path) -> None:
    loaded = load_recipe(write_recipe(tmp_path, RECIPE % (tmp_path / "none.db")))
    with pytest.raises(CompareCannotRun) as err:
        run(loaded)
    assert "none.db" in err.value.message and err.value.exit_code == 7
